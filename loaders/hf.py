"""Hugging Face `datasets` loader, pinned to one version of a nusomi-hf dataset.

    from <this module> import load, to_model_inputs, collate
    ds = load("train")                       # datasets.Dataset at the pinned version
    ds = ds.with_transform(to_model_inputs)  # image -> tensor, action -> label id + point
    loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate)

A Hub-pinned module loads the repo at the pinned commit ($HF_ENDPOINT / HF_TOKEN apply). Given
root=<dir> (or the ROOT_ENV variable) it loads the Parquet files there instead, after checking
each against the pinned size and sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

import datasets
import numpy as np
import torch
from PIL import Image

# --- nusomi-hf:pins ---
from _pins import FEATURES, REVISION, SOURCE
# --- end nusomi-hf:pins ---

# --- nusomi-hf:common ---
from _common import (
    DATASET_NAME,
    ROOT_ENV,
    dataset_root,
    file_location,
    is_remote,
    split_files,
    verify_local_file,
)
# --- end nusomi-hf:common ---

# --- nusomi-hf:torch-common ---
from _torch_common import collate, model_inputs
# --- end nusomi-hf:torch-common ---

__all__ = ["collate", "features", "load", "to_model_inputs"]


def features() -> datasets.Features:
    """The pinned features as a datasets.Features."""
    return datasets.Features.from_dict(FEATURES)


def load(
    split: str,
    streaming: bool = False,
    revision: str | None = REVISION,
    root: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> datasets.Dataset | datasets.IterableDataset:
    """The split as a datasets.Dataset (an IterableDataset when streaming).

    revision: a Hub-pinned module loads the pinned commit by default; pass another revision
    (branch, tag, sha) on purpose only. root: a local copy of the dataset (directory) to load from
    instead; verify: check the split's files against the pinned sha256 first (local copies).
    """
    local = root if root is not None else (os.environ.get(ROOT_ENV) or None)
    if local is None and SOURCE["kind"] == "hub":
        return datasets.load_dataset(
            SOURCE["repo_id"],
            split=split,
            revision=revision,
            streaming=streaming,
            features=features(),
        )
    if revision is not None and revision != REVISION:
        raise ValueError(
            f"{DATASET_NAME}: revision={revision!r} needs the Hub; this load reads a local copy"
        )
    base = dataset_root(local)
    if is_remote(base):
        raise ValueError(
            f"{DATASET_NAME}: hf.load reads a local directory or the Hub repo, not {base.split('?')[0]}"
        )
    paths = []
    for entry in split_files("parquet", split):
        path = file_location(base, entry[0])
        if verify:
            verify_local_file(path, entry)
        paths.append(path)
    return datasets.load_dataset(
        "parquet",
        data_files={split: paths},
        split=split,
        streaming=streaming,
        features=features(),
    )


def to_model_inputs(batch: dict[str, list[Any]]) -> dict[str, Any]:
    """A `.with_transform` / `.set_transform` function: a batch of rows -> model inputs.

    Per row: image uint8 [3, H, W]; action_type_id; action_xy (normalised to the stored image);
    action_has_xy; prior_action_type_id (NO_PRIOR_ACTION_ID on step 0); prior_action_xy; ...
    Images keep their own size (a list); `collate` pads them into one tensor.
    """
    names = list(batch)
    n = len(batch[names[0]])
    rows = [model_inputs({k: batch[k][i] for k in names}) for i in range(n)]
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        out[key] = (
            torch.stack(values)
            if key != "image" and isinstance(values[0], torch.Tensor)
            else values
        )
    return out
