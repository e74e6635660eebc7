"""Helpers shared by the PyTorch loaders (hf, torch-wds, torch-parquet): model inputs and collate.

`nusomi-hf loaders` copies the block between the `nusomi-hf:torch-common` markers into each
generated PyTorch module. The block imports nothing: templates import numpy, torch, PIL.Image and
typing.Any at their top (the list above the block).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from _common import action_features, as_action

# --- nusomi-hf:torch-common ---


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> uint8 tensor [3, H, W] (RGB) of the stored image, no resizing."""
    return (
        torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8, copy=True))
        .permute(2, 0, 1)
        .contiguous()
    )


def model_inputs(row: dict[str, Any]) -> dict[str, Any]:
    """One decoded row -> tensors for a model.

    image                 uint8 [3, H, W], the stored image
    image_size            int64 [2] = (H, W) of the stored image
    action_type_id        int64, id in ACTION_TYPES
    action_xy             float32 [2] = (x, y) normalised to the stored image ([0, 1]); (0, 0) when none
    action_has_xy         bool
    prior_action_type_id  int64, NO_PRIOR_ACTION_ID on a session's first step
    prior_action_xy       float32 [2]; prior_action_has_xy bool
    session_id (str), step (int64)
    """
    image = image_to_tensor(row["image"])
    f = action_features(as_action(row["action"]), as_action(row["prior_action"]))
    return {
        "image": image,
        "image_size": torch.tensor(image.shape[1:], dtype=torch.int64),
        "action_type_id": torch.tensor(f["action_type_id"], dtype=torch.int64),
        "action_xy": torch.tensor(f["action_xy"], dtype=torch.float32),
        "action_has_xy": torch.tensor(f["action_has_xy"]),
        "prior_action_type_id": torch.tensor(
            f["prior_action_type_id"], dtype=torch.int64
        ),
        "prior_action_xy": torch.tensor(f["prior_action_xy"], dtype=torch.float32),
        "prior_action_has_xy": torch.tensor(f["prior_action_has_xy"]),
        "session_id": row["session_id"],
        "step": torch.tensor(int(row["step"]), dtype=torch.int64),
    }


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """A list of model_inputs dicts -> one batch.

    Frames of different sizes are zero-padded at the bottom/right to the largest in the batch;
    `image_size` keeps each stored size, and coordinates stay normalised to the stored (unpadded)
    image: pixel x = action_xy[0] * image_size[1]. Tensors are stacked, other values listed.
    """
    batch = {}
    for name in samples[0]:
        values = [s[name] for s in samples]
        if name == "image":
            h = max(v.shape[1] for v in values)
            w = max(v.shape[2] for v in values)
            out = torch.zeros(
                (len(values), values[0].shape[0], h, w), dtype=values[0].dtype
            )
            for i, v in enumerate(values):
                out[i, :, : v.shape[1], : v.shape[2]] = v
            batch[name] = out
        elif isinstance(values[0], torch.Tensor):
            batch[name] = torch.stack(values)
        else:
            batch[name] = values
    return batch


# --- end nusomi-hf:torch-common ---
