"""PyTorch map-style Dataset over the Parquet shards, pinned to one version of a nusomi-hf dataset.

    from <this module> import ParquetSteps, collate
    ds = ParquetSteps("train", root="/data/process_invoice")   # or $ROOT_ENV, or the Hub pin
    sampler = torch.utils.data.distributed.DistributedSampler(ds)   # multi-GPU: as usual
    loader = torch.utils.data.DataLoader(ds, batch_size=8, sampler=sampler, num_workers=2, collate_fn=collate)

ds[i] is row i of the split (the pinned files in order). Rows are read a row group at a time with
pyarrow and the last few row groups are kept (per process), so sequential and shuffled access
both work; shuffled access over huge splits costs one row-group read per miss. Files on the Hub
(or any https:// root) are downloaded once into a content-addressed cache ($NUSOMI_HF_CACHE, else
~/.cache/nusomi-hf) and checked against the pinned sha256; files of a Hub-pinned module go
through huggingface_hub's own cache (hf_hub_download) when huggingface_hub is installed.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import importlib.util
import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.utils.data
from PIL import Image

# --- nusomi-hf:pins ---
from _pins import DATASET_NAME, SOURCE
# --- end nusomi-hf:pins ---

# --- nusomi-hf:common ---
from _common import (
    dataset_root,
    file_location,
    hub_endpoint,
    huggingface_hub_installed,
    identity_error,
    is_remote,
    open_url,
    pinned_hub_path,
    split_files,
    verify_local_file,
)
# --- end nusomi-hf:common ---

# --- nusomi-hf:torch-common ---
from _torch_common import collate, model_inputs
# --- end nusomi-hf:torch-common ---

__all__ = ["ParquetSteps", "collate", "decode_row", "model_inputs"]


def cache_dir() -> str:
    return os.environ.get("NUSOMI_HF_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nusomi-hf"
    )


def fetch_to_cache(url: str, entry: tuple[str, int, int, str], directory: str) -> str:
    """Download a pinned file once (temp name, then rename), refusing a sha256 that differs.

    A file of the pinned Hub repo goes through hf_hub_download when huggingface_hub is installed
    (its cache, token and resumable downloads); it is checked against the pin on first use.
    """
    path, _rows, size, sha256 = entry
    hub_path = pinned_hub_path(url)
    if hub_path is not None and huggingface_hub_installed():
        from huggingface_hub import hf_hub_download

        return hf_hub_download(
            SOURCE["repo_id"],
            hub_path,
            repo_type="dataset",
            revision=SOURCE["revision"],
            endpoint=hub_endpoint(),
        )
    target = os.path.join(directory, sha256[:2], sha256 + os.path.splitext(path)[1])
    if os.path.exists(target) and os.path.getsize(target) == size:
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.{os.getpid()}.part"
    h = hashlib.sha256()
    try:
        with open_url(url) as res, open(tmp, "wb") as out:
            for chunk in iter(lambda: res.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != sha256:
            raise identity_error(path, "sha256", sha256, h.hexdigest())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """A Parquet row (python values) -> the decoded row: image as a PIL image, the rest as stored."""
    out = dict(row)
    image = Image.open(io.BytesIO(row["image"]["bytes"]))
    image.load()
    out["image"] = image
    return out


class ParquetSteps(torch.utils.data.Dataset):
    """The pinned Parquet files of one split as a map-style Dataset.

    root            a directory or an https:// base URL; default $ROOT_ENV, else the Hub pin
    transform       decoded row -> sample (default model_inputs); None returns the decoded row
    cached_row_groups  row groups kept in memory per process (LRU)
    verify          check each local file's sha256 against the pin on first use in a process
    """

    def __init__(
        self,
        split: str,
        root: str | os.PathLike[str] | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = model_inputs,
        cached_row_groups: int = 4,
        verify: bool = True,
    ) -> None:
        super().__init__()
        self.split = split
        self.entries = tuple(split_files("parquet", split))
        base = dataset_root(root)
        if is_remote(base):
            directory = cache_dir()
            self.paths = [
                fetch_to_cache(file_location(base, e[0]), e, directory)
                for e in self.entries
            ]
        else:
            self.paths = [file_location(base, e[0]) for e in self.entries]
        self.offsets = [0]
        for e in self.entries:
            self.offsets.append(self.offsets[-1] + e[1])
        self.transform = transform
        self.cached_row_groups = max(1, cached_row_groups)
        self.verify = verify
        self._open: dict[int, tuple[pq.ParquetFile, list[int]]] = {}
        self._cache: collections.OrderedDict[tuple[int, int], list[dict[str, Any]]] = (
            collections.OrderedDict()
        )

    def __getstate__(self) -> dict[str, Any]:
        # Open files and cached rows stay in the process that made them (DataLoader workers reopen).
        state = dict(self.__dict__)
        state["_open"] = {}
        state["_cache"] = collections.OrderedDict()
        return state

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(
                f"{DATASET_NAME}: index {index} out of range for split {self.split!r} ({len(self)} rows)"
            )
        f = bisect.bisect_right(self.offsets, index) - 1
        row = self._row(f, index - self.offsets[f])
        decoded = decode_row(row)
        return decoded if self.transform is None else self.transform(decoded)

    def _file(self, f: int) -> tuple[pq.ParquetFile, list[int]]:
        opened = self._open.get(f)
        if opened is None:
            entry = self.entries[f]
            if self.verify:
                verify_local_file(self.paths[f], entry)
            pf = pq.ParquetFile(self.paths[f], memory_map=True)
            if pf.metadata.num_rows != entry[1]:
                raise ValueError(
                    f"{DATASET_NAME}: {entry[0]}: has {pf.metadata.num_rows} rows, the pinned manifest says {entry[1]}"
                )
            starts = [0]
            for g in range(pf.metadata.num_row_groups):
                starts.append(starts[-1] + pf.metadata.row_group(g).num_rows)
            opened = self._open[f] = (pf, starts)
        return opened

    def _row(self, f: int, local: int) -> dict[str, Any]:
        pf, starts = self._file(f)
        g = bisect.bisect_right(starts, local) - 1
        rows = self._cache.get((f, g))
        if rows is None:
            rows = pf.read_row_group(g).to_pylist()
            self._cache[(f, g)] = rows
            while len(self._cache) > self.cached_row_groups:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end((f, g))
        return rows[local - starts[g]]
