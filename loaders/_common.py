"""Helpers shared by every generated loader: standard library only.

`nusomi-hf loaders` copies the block between the `nusomi-hf:common` markers into each generated
module, so a module stays one self-contained file. The block imports nothing: each template
imports at its top what the block uses (the list above the block), so a generated module has one
import block. Above the block: only what makes this file importable and lintable on its own.
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

from _pins import (
    ACTION_TYPES,
    DATASET_NAME,
    FILES,
    MANIFEST_SHA256,
    ROOT_ENV,
    SOURCE,
    SPLITS,
)

# --- nusomi-hf:common ---
HF_ENDPOINT_DEFAULT = "https://huggingface.co"
# Id given to `prior_action_type_id` on a session's first step (no prior action): one past the
# last action type, so it can index an embedding table of len(ACTION_TYPES) + 1 rows.
NO_PRIOR_ACTION_ID = len(ACTION_TYPES)


class DatasetIdentityError(RuntimeError):
    """A data file is not the one these pins were made for (missing, other size or other sha256)."""


def dataset_root(root: str | os.PathLike[str] | None = None) -> str:
    """Where the dataset files are.

    `root` (a directory or an https:// base URL), else the environment variable ROOT_ENV, else -
    for a Hub-pinned module - the Hub at the pinned commit ($HF_ENDPOINT, default huggingface.co).
    """
    if root is None:
        root = os.environ.get(ROOT_ENV) or None
    if root is None:
        if SOURCE["kind"] == "hub":
            return hub_resolve_base()
        raise ValueError(
            f"{DATASET_NAME}: where is the dataset? Pass root=<dir or https:// base URL> "
            f"or set {ROOT_ENV} to the directory that holds dataset-manifest.json"
        )
    return os.fspath(root)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", HF_ENDPOINT_DEFAULT).rstrip("/")


def hub_resolve_base(revision: str | None = None) -> str:
    """`{endpoint}/datasets/{repo}/resolve/{revision}`: files of the pinned commit, over https."""
    rev = urllib.parse.quote(revision or SOURCE["revision"], safe="")
    return f"{hub_endpoint()}/datasets/{SOURCE['repo_id']}/resolve/{rev}"


def is_remote(location: str) -> bool:
    return location.startswith(("https://", "http://"))


def file_location(root: str, path: str) -> str:
    """The URL or local path of a manifest path (POSIX, relative to the dataset root)."""
    if is_remote(root):
        base, _, query = root.partition("?")
        return (
            base.rstrip("/")
            + "/"
            + urllib.parse.quote(path)
            + (f"?{query}" if query else "")
        )
    return os.path.join(root, *path.split("/"))


def split_files(fmt: str, split: str) -> tuple[tuple[str, int, int, str], ...]:
    """The pinned ((path, rows, bytes, sha256), ...) of one split in one format."""
    by_split = FILES.get(fmt, {})
    if split not in by_split:
        known = ", ".join(sorted(by_split)) or "none"
        raise ValueError(
            f"{DATASET_NAME}: no split {split!r} in the pinned {fmt} files (splits: {known})"
        )
    return by_split[split]


def split_rows(split: str) -> int:
    return SPLITS[split]["rows"]


def hub_token() -> str | None:
    """HF_TOKEN, else the huggingface_hub token file; None when there is none."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("HF_TOKEN_PATH") or os.path.join(
        os.environ.get("HF_HOME")
        or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
            "huggingface",
        ),
        "token",
    )
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


class _DropAuthOnOtherHost(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the Hub token to another host (LFS/CDN redirects)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc
            != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


def huggingface_hub_installed() -> bool:
    try:
        return importlib.util.find_spec("huggingface_hub") is not None
    except (ImportError, ValueError):
        return False


def pinned_hub_path(url: str) -> str | None:
    """The file's path in the pinned Hub repo when url is its resolve URL at the pinned commit."""
    if SOURCE["kind"] != "hub":
        return None
    base = hub_resolve_base() + "/"
    return urllib.parse.unquote(url[len(base) :]) if url.startswith(base) else None


def hub_fs_path(path: str) -> str:
    """`datasets/{repo}@{commit}/{path}`: the pinned file as huggingface_hub's HfFileSystem names it."""
    rev = urllib.parse.quote(SOURCE["revision"], safe="")
    return f"datasets/{SOURCE['repo_id']}@{rev}/{path}"


def open_url(url: str) -> BinaryIO:
    """A streaming reader of url.

    A file of the pinned Hub repo is read through huggingface_hub when it is installed (its token
    lookup, retries and transfer backends); otherwise, and for any other URL, with the standard
    library, sending the Hub token to the Hub endpoint only.
    """
    hub_path = pinned_hub_path(url)
    if hub_path is not None and huggingface_hub_installed():
        from huggingface_hub import HfFileSystem

        return HfFileSystem(endpoint=hub_endpoint()).open(hub_fs_path(hub_path), "rb")
    req = urllib.request.Request(url)
    if url.startswith(hub_endpoint() + "/"):
        token = hub_token()
        if token:
            req.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_DropAuthOnOtherHost())
    try:
        return opener.open(req, timeout=60)
    except urllib.error.HTTPError as err:
        where = url.split("?")[0]
        raise OSError(
            f"{DATASET_NAME}: GET {where} failed: HTTP {err.code} {err.reason}"
        ) from None


def sha256_of_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def identity_error(
    path: str, what: str, expected: str, found: str
) -> DatasetIdentityError:
    return DatasetIdentityError(
        f"{DATASET_NAME}: {path}: {what} is {found}, the pinned dataset says {expected} "
        f"(manifest sha256 {MANIFEST_SHA256[:12]}): this is not the file these loaders were generated for; "
        "point the loader at the right dataset version or regenerate it with `nusomi-hf loaders`"
    )


_VERIFIED: set[tuple[str, str]] = set()


def verify_local_file(local_path: str, entry: tuple[str, int, int, str]) -> None:
    """Refuse a local file whose size or sha256 differs from the pinned entry (once per process)."""
    path, _rows, size, sha256 = entry
    stamp = (local_path, sha256)
    if stamp in _VERIFIED:
        return
    try:
        found_size = os.path.getsize(local_path)
    except OSError:
        raise DatasetIdentityError(
            f"{DATASET_NAME}: {path}: missing under the dataset root ({local_path})"
        ) from None
    if found_size != size:
        raise identity_error(path, "size", f"{size} bytes", f"{found_size} bytes")
    found = sha256_of_file(local_path)
    if found != sha256:
        raise identity_error(path, "sha256", sha256, found)
    _VERIFIED.add(stamp)


def as_action(value: Any) -> dict[str, Any] | None:
    """An action as a dict (or None): accepts the struct (Parquet) or its JSON text (WebDataset)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return json.loads(value)
    return dict(value)


def action_type_id(action: dict[str, Any]) -> int:
    """The ClassLabel id of an action dict: `type_id` when present, else `type` (id or name)."""
    if "type_id" in action and action["type_id"] is not None:
        return int(action["type_id"])
    t = action.get("type")
    if isinstance(t, str):
        return ACTION_TYPES.index(t)
    return int(t)


def action_point(action: dict[str, Any] | None) -> tuple[float, float, bool]:
    """(x_norm, y_norm, has_point): coordinates normalised to the stored image, in [0, 1]."""
    if action is None or action.get("x_norm") is None or action.get("y_norm") is None:
        return 0.0, 0.0, False
    return float(action["x_norm"]), float(action["y_norm"]), True


def action_features(
    action: dict[str, Any], prior: dict[str, Any] | None
) -> dict[str, Any]:
    """Label id and point of an action and of the prior action (NO_PRIOR_ACTION_ID when none)."""
    x, y, has = action_point(action)
    px, py, phas = action_point(prior)
    return {
        "action_type_id": action_type_id(action),
        "action_xy": (x, y),
        "action_has_xy": has,
        "prior_action_type_id": NO_PRIOR_ACTION_ID
        if prior is None
        else action_type_id(prior),
        "prior_action_xy": (px, py),
        "prior_action_has_xy": phas,
    }


# --- end nusomi-hf:common ---
