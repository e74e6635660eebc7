"""PyTorch IterableDataset over the WebDataset shards, pinned to one version of a nusomi-hf dataset.

No dependency on the `webdataset` package: shards are streamed with the standard library's
tarfile from local paths, https:// URLs or the Hub (resolve URLs at the pinned commit).

    from <this module> import WdsSteps, collate
    ds = WdsSteps("train", root="/data/process_invoice")    # or $ROOT_ENV, or the Hub pin
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, collate_fn=collate)
    for epoch in range(epochs):
        ds.set_epoch(epoch)            # before each epoch: new shard order and sample shuffle
        for batch in loader: ...

Multi-GPU / multi-node: the rank comes from RANK/WORLD_SIZE (torchrun sets them), else from
torch.distributed when it is initialised. Each epoch the pinned shard list is shuffled with
(seed, epoch) - the same order on every rank - and laid end to end; every rank takes one contiguous
block of exactly len(ds) samples of it (cut at sample boundaries, so shards need not divide evenly
across ranks), and its DataLoader workers split that block again. Every rank therefore yields the
same number of samples each epoch and DDP never waits on a rank that ran dry.
  equalize="pad"  (default) len = ceil(rows / world_size): the last ranks' blocks wrap around to
                  the start of the epoch's order, repeating at most world_size - 1 samples, as
                  torch's DistributedSampler does (drop_last=False). Every sample is seen each epoch.
  equalize="drop" len = rows // world_size: the epoch's last rows % world_size samples are skipped
                  (a different few each epoch, since the order changes), like drop_last=True.
With a single process (world size 1) both give every sample exactly once per epoch.
set_epoch must be called on the dataset before the DataLoader starts an epoch; with
persistent_workers=True the workers keep the epoch they started with, so leave it off.
Shards of a Hub-pinned module stream through huggingface_hub when it is installed, else through
the standard library.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib.util
import io
import json
import math
import os
import random
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.utils.data
from PIL import Image

# --- nusomi-hf:pins ---
from _pins import DATASET_NAME
# --- end nusomi-hf:pins ---

# --- nusomi-hf:common ---
from _common import (
    DatasetIdentityError,
    as_action,
    dataset_root,
    file_location,
    identity_error,
    is_remote,
    open_url,
    split_files,
    split_rows,
    verify_local_file,
)
# --- end nusomi-hf:common ---

# --- nusomi-hf:torch-common ---
from _torch_common import collate, model_inputs
# --- end nusomi-hf:torch-common ---

__all__ = [
    "DatasetIdentityError",
    "WdsSteps",
    "collate",
    "model_inputs",
    "rank_and_world_size",
]

IMAGE_EXTENSIONS = ("webp", "png", "jpg", "jpeg")


def rank_and_world_size(
    rank: int | None = None, world_size: int | None = None
) -> tuple[int, int]:
    """(rank, world_size): the arguments, else RANK/WORLD_SIZE, else torch.distributed, else (0, 1)."""
    if rank is None or world_size is None:
        if (
            os.environ.get("RANK") is not None
            and os.environ.get("WORLD_SIZE") is not None
        ):
            env_rank, env_world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        elif torch.distributed.is_available() and torch.distributed.is_initialized():
            env_rank, env_world = (
                torch.distributed.get_rank(),
                torch.distributed.get_world_size(),
            )
        else:
            env_rank, env_world = 0, 1
        rank = env_rank if rank is None else rank
        world_size = env_world if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(
            f"{DATASET_NAME}: rank {rank} is not in [0, world_size={world_size})"
        )
    return rank, world_size


def samples_per_rank(rows: int, world_size: int, equalize: str) -> int:
    if equalize == "pad":
        return math.ceil(rows / world_size)
    if equalize == "drop":
        return rows // world_size
    raise ValueError(
        f"{DATASET_NAME}: equalize must be 'pad' or 'drop', not {equalize!r}"
    )


def shard_order(n_shards: int, seed: int, epoch: int, shuffle: bool) -> list[int]:
    """The epoch's shard order: the same on every rank and worker (seeded by seed and epoch only)."""
    order = list(range(n_shards))
    if shuffle:
        random.Random(f"nusomi-hf:{seed}:{epoch}").shuffle(order)
    return order


def block_pieces(
    lengths: list[int], order: list[int], first: int, stop: int
) -> list[tuple[int, int, int]]:
    """Positions [first, stop) of the epoch's sample sequence (shards in `order`, wrapping around)
    as (shard index, start, stop) pieces, start/stop counted in samples within the shard."""
    total = sum(lengths)
    starts = []
    acc = 0
    for i in order:
        starts.append(acc)
        acc += lengths[i]
    pieces = []
    pos = first
    while pos < stop:
        q = pos % total
        j = bisect.bisect_right(starts, q) - 1
        shard = order[j]
        begin = q - starts[j]
        take = min(lengths[shard] - begin, stop - pos)
        pieces.append((shard, begin, begin + take))
        pos += take
    return pieces


class _HashingReader:
    """A read-through wrapper that hashes every byte read (remote shards: verify while streaming)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.bytes += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _member_key(name: str) -> tuple[str, str] | tuple[None, None]:
    """WebDataset grouping: key = path up to the first dot of the basename; field = the rest."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot < 0:
        return None, None
    return name[:dot], name[dot + 1 :].lower()


def decode_sample(key: str, fields: dict[str, bytes], shard: str) -> dict[str, Any]:
    """Raw members of one sample -> the row: the .json members' fields, a PIL image, actions as dicts."""
    if "json" not in fields:
        raise ValueError(
            f"{DATASET_NAME}: {shard}: sample {key} has no .json member (has {sorted(fields)})"
        )
    image_ext = next((e for e in IMAGE_EXTENSIONS if e in fields), None)
    if image_ext is None:
        raise ValueError(
            f"{DATASET_NAME}: {shard}: sample {key} has no image member (has {sorted(fields)})"
        )
    row = json.loads(fields["json"])
    image = Image.open(io.BytesIO(fields[image_ext]))
    image.load()
    row["image"] = image
    row["action"] = as_action(row.get("action"))
    row["prior_action"] = as_action(row.get("prior_action"))
    row["__key__"] = key
    return row


class WdsSteps(torch.utils.data.IterableDataset):
    """The pinned WebDataset shards of one split as a PyTorch IterableDataset.

    split        split name (see SPLITS)
    root         dataset root: a directory or an https:// base URL; default $ROOT_ENV, else the
                 Hub at the pinned commit (Hub-pinned modules)
    seed         shuffle seed; shard order and sample shuffle are functions of (seed, epoch)
    shuffle      shuffle shards and samples (False: pinned order, e.g. for evaluation)
    shuffle_buffer  samples held (as raw bytes) for the sample shuffle, per worker
    equalize     "pad" or "drop", see the module doc; rank / world_size override the environment
    transform    row -> sample (default model_inputs); None yields the decoded row
    verify       check each shard's sha256 against the pin on first read in a process: local
                 shards before any sample is read, remote shards while they stream (the error is
                 then raised at the end of the shard)
    """

    def __init__(
        self,
        split: str,
        root: str | os.PathLike[str] | None = None,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_buffer: int = 1000,
        equalize: str = "pad",
        rank: int | None = None,
        world_size: int | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = model_inputs,
        verify: bool = True,
    ) -> None:
        super().__init__()
        self.split = split
        self.entries = tuple(split_files("webdataset", split))
        self.rows = split_rows(split)
        if sum(e[1] for e in self.entries) != self.rows:
            raise ValueError(
                f"{DATASET_NAME}: pinned shard rows of {split!r} do not add up to {self.rows}"
            )
        self.root = dataset_root(root)
        self.seed = seed
        self.shuffle = shuffle
        self.shuffle_buffer = shuffle_buffer if shuffle else 0
        self.equalize = equalize
        self.rank = rank
        self.world_size = world_size
        self.transform = transform
        self.verify = verify
        self.epoch = 0
        samples_per_rank(self.rows, 1, equalize)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        _rank, world = rank_and_world_size(self.rank, self.world_size)
        return samples_per_rank(self.rows, world, self.equalize)

    def pieces(
        self, rank: int, world_size: int, worker: int, num_workers: int
    ) -> list[tuple[int, int, int]]:
        """This worker's (shard index, start, stop) pieces for the current epoch."""
        per_rank = samples_per_rank(self.rows, world_size, self.equalize)
        order = shard_order(len(self.entries), self.seed, self.epoch, self.shuffle)
        lo = rank * per_rank + (worker * per_rank) // num_workers
        hi = rank * per_rank + ((worker + 1) * per_rank) // num_workers
        return block_pieces([e[1] for e in self.entries], order, lo, hi)

    def __iter__(self) -> Iterator[Any]:
        rank, world = rank_and_world_size(self.rank, self.world_size)
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        stream = self._raw_samples(self.pieces(rank, world, worker, workers))
        if self.shuffle_buffer > 0:
            rng = random.Random(f"nusomi-hf:{self.seed}:{self.epoch}:{rank}:{worker}")
            stream = _shuffled(stream, self.shuffle_buffer, rng)
        for shard, key, fields in stream:
            row = decode_sample(key, fields, shard)
            yield row if self.transform is None else self.transform(row)

    def _raw_samples(
        self, pieces: list[tuple[int, int, int]]
    ) -> Iterator[tuple[str, str, dict[str, bytes]]]:
        for shard, start, stop in pieces:
            yield from self._read_shard(shard, start, stop)

    def _read_shard(
        self, index: int, start: int, stop: int
    ) -> Iterator[tuple[str, str, dict[str, bytes]]]:
        entry = self.entries[index]
        location = file_location(self.root, entry[0])
        remote = is_remote(location)
        if not remote and self.verify:
            verify_local_file(location, entry)
        with open_url(location) if remote else open(location, "rb") as raw:
            yield from self._read_tar(raw, entry, start, stop, remote)

    def _read_tar(
        self,
        raw: BinaryIO,
        entry: tuple[str, int, int, str],
        start: int,
        stop: int,
        remote: bool,
    ) -> Iterator[tuple[str, str, dict[str, bytes]]]:
        """The samples [start, stop) of one opened shard, checked against the pinned count (and sha256 when streamed)."""
        path, rows, _size, sha256 = entry
        reader = _HashingReader(raw) if remote and self.verify else raw
        count = 0
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                key, fields, index_of_key = None, {}, -1
                for member in tar:
                    if not member.isfile():
                        continue
                    k, ext = _member_key(member.name)
                    if k is None:
                        continue
                    if k != key:
                        if key is not None and start <= index_of_key < stop:
                            yield path, key, fields
                        key, fields, index_of_key = k, {}, index_of_key + 1
                        if index_of_key >= stop:
                            break
                    if start <= index_of_key < stop:
                        fields[ext] = tar.extractfile(member).read()
                else:
                    if key is not None and start <= index_of_key < stop:
                        yield path, key, fields
                    if index_of_key + 1 != rows:
                        raise ValueError(
                            f"{DATASET_NAME}: {path}: has {index_of_key + 1} samples, the pinned manifest says {rows}"
                        )
                count = index_of_key + 1
            if count < stop:
                raise ValueError(
                    f"{DATASET_NAME}: {path}: has {count} samples, the pinned manifest says {rows}"
                )
            if reader is not raw:
                reader.drain()
                found = reader.sha256.hexdigest()
                if found != sha256:
                    raise identity_error(path, "sha256", sha256, found)
        except tarfile.TarError as err:
            raise ValueError(
                f"{DATASET_NAME}: {path}: not a readable tar shard ({err})"
            ) from None


def _shuffled(stream: Iterable[Any], size: int, rng: random.Random) -> Iterator[Any]:
    """Buffered shuffle: hold `size` items, emit a random one as each new item arrives."""
    buffer = []
    for item in stream:
        if len(buffer) < size:
            buffer.append(item)
            continue
        i = rng.randrange(size)
        buffer[i], item = item, buffer[i]
        yield item
    rng.shuffle(buffer)
    yield from buffer


def _webdataset_installed() -> bool:
    try:
        return importlib.util.find_spec("webdataset") is not None
    except (ImportError, ValueError):
        return False


if _webdataset_installed():
    __all__.append("webdataset_pipeline")

    def webdataset_pipeline(
        split: str,
        root: str | os.PathLike[str] | None = None,
        seed: int = 0,
        shuffle_buffer: int = 1000,
        num_workers: int = 1,
        world_size: int | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = model_inputs,
    ) -> Any:
        """The same samples through the `webdataset` package (offered because it is installed).

        webdataset splits by whole shards, so equal counts per rank come from its own idiom:
        resampled shards (with replacement, seeded) cut to ceil(rows / world_size / num_workers)
        samples per DataLoader worker with .with_epoch. Use WdsSteps for exactly-once epochs.
        """
        import webdataset as wds

        _rank, world = rank_and_world_size(None, world_size)
        base = dataset_root(root)
        urls = [file_location(base, e[0]) for e in split_files("webdataset", split)]
        per_worker = math.ceil(split_rows(split) / world / num_workers)

        def to_row(sample: dict[str, Any]) -> dict[str, Any]:
            fields = {k: v for k, v in sample.items() if not k.startswith("__")}
            return decode_sample(
                sample["__key__"], fields, sample.get("__url__", split)
            )

        pipeline = (
            wds.WebDataset(urls, resampled=True, nodesplitter=None, seed=seed)
            .shuffle(shuffle_buffer)
            .map(to_row)
        )
        if transform is not None:
            pipeline = pipeline.map(transform)
        return pipeline.with_epoch(per_worker)
