"""Ray Data pipeline over the Parquet shards, pinned to one version of a nusomi-hf dataset.

    from <this module> import read_split
    ds = read_split("train", root="/shared/process_invoice")   # or $ROOT_ENV, or the Hub pin
    for batch in ds.iter_batches(batch_size=32): ...            # or ds.iter_torch_batches(...)

For multi-node ingestion every node must reach the files: give a shared directory or an object
store URI (s3://bucket/prefix, gs://...; read by pyarrow on each node), or leave a Hub-pinned
module on the Hub (read through huggingface_hub's HfFileSystem at the pinned commit). Local files
are checked against the pinned sha256 on the driver first.

Rows come out decoded like the PyTorch loaders (numpy instead of tensors):
image uint8 [H, W, 3] (stored image), image_size (H, W), action_type_id, action_xy (normalised to
the stored image), action_has_xy, prior_action_type_id (NO_PRIOR_ACTION_ID on step 0),
prior_action_xy, prior_action_has_xy, session_id, step.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

import numpy as np
import ray
from PIL import Image

# --- nusomi-hf:pins ---
from _pins import DATASET_NAME, SOURCE
# --- end nusomi-hf:pins ---

# --- nusomi-hf:common ---
from _common import (
    action_features,
    as_action,
    dataset_root,
    file_location,
    hub_endpoint,
    hub_fs_path,
    hub_resolve_base,
    is_remote,
    split_files,
    verify_local_file,
)
# --- end nusomi-hf:common ---

__all__ = ["decode_row", "read_split"]


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """One Parquet row -> model inputs as numpy values (the same decoding as the torch loaders)."""
    image = Image.open(io.BytesIO(row["image"]["bytes"]))
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    f = action_features(as_action(row["action"]), as_action(row["prior_action"]))
    return {
        "image": pixels,
        "image_size": np.array(pixels.shape[:2], dtype=np.int64),
        "action_type_id": np.int64(f["action_type_id"]),
        "action_xy": np.array(f["action_xy"], dtype=np.float32),
        "action_has_xy": bool(f["action_has_xy"]),
        "prior_action_type_id": np.int64(f["prior_action_type_id"]),
        "prior_action_xy": np.array(f["prior_action_xy"], dtype=np.float32),
        "prior_action_has_xy": bool(f["prior_action_has_xy"]),
        "session_id": row["session_id"],
        "step": np.int64(row["step"]),
    }


def read_split(
    split: str,
    root: str | os.PathLike[str] | None = None,
    decode: bool = True,
    verify: bool = True,
    **read_parquet_args: Any,
) -> ray.data.Dataset:
    """The split as a ray.data.Dataset; decode=False keeps the stored columns (image bytes)."""
    entries = split_files("parquet", split)
    base = dataset_root(root)
    filesystem = None
    if is_remote(base):
        if SOURCE["kind"] != "hub" or base != hub_resolve_base():
            raise ValueError(
                f"{DATASET_NAME}: Ray reads Parquet from a shared directory, an object store URI or the Hub pin; "
                f"not from {base.split('?')[0]}"
            )
        import pyarrow.fs
        from huggingface_hub import HfFileSystem

        filesystem = pyarrow.fs.PyFileSystem(
            pyarrow.fs.FSSpecHandler(HfFileSystem(endpoint=hub_endpoint()))
        )
        paths = [hub_fs_path(e[0]) for e in entries]
    else:
        paths = [file_location(base, e[0]) for e in entries]
        if verify and "://" not in base:
            for path, entry in zip(paths, entries):
                verify_local_file(path, entry)
    # Ship this module's functions by value: Ray workers (other nodes too) need not import this file.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ds = ray.data.read_parquet(paths, filesystem=filesystem, **read_parquet_args)
    return ds.map(decode_row) if decode else ds
