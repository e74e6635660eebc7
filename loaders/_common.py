"""Helpers shared by every generated loader: standard library only.

`nusomi-hf loaders` copies the block between the `nusomi-hf:common` markers into each generated
module, so a module stays one self-contained file. Above the block: only what makes this file
importable and lintable on its own.
"""

from _pins import ACTION_TYPES, DATASET_NAME, FILES, MANIFEST_SHA256, ROOT_ENV, SOURCE, SPLITS

# --- nusomi-hf:common ---
import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request

HF_ENDPOINT_DEFAULT = "https://huggingface.co"
# Id given to `prior_action_type_id` on a session's first step (no prior action): one past the
# last action type, so it can index an embedding table of len(ACTION_TYPES) + 1 rows.
NO_PRIOR_ACTION_ID = len(ACTION_TYPES)


class DatasetIdentityError(RuntimeError):
    """A data file is not the one these pins were made for (missing, other size or other sha256)."""


def dataset_root(root=None):
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


def hub_endpoint():
    return os.environ.get("HF_ENDPOINT", HF_ENDPOINT_DEFAULT).rstrip("/")


def hub_resolve_base(revision=None):
    """`{endpoint}/datasets/{repo}/resolve/{revision}`: files of the pinned commit, over https."""
    rev = urllib.parse.quote(revision or SOURCE["revision"], safe="")
    return f"{hub_endpoint()}/datasets/{SOURCE['repo_id']}/resolve/{rev}"


def is_remote(location):
    return location.startswith(("https://", "http://"))


def file_location(root, path):
    """The URL or local path of a manifest path (POSIX, relative to the dataset root)."""
    if is_remote(root):
        base, _, query = root.partition("?")
        return base.rstrip("/") + "/" + urllib.parse.quote(path) + (f"?{query}" if query else "")
    return os.path.join(root, *path.split("/"))


def split_files(fmt, split):
    """The pinned ((path, rows, bytes, sha256), ...) of one split in one format."""
    by_split = FILES.get(fmt, {})
    if split not in by_split:
        known = ", ".join(sorted(by_split)) or "none"
        raise ValueError(f"{DATASET_NAME}: no split {split!r} in the pinned {fmt} files (splits: {known})")
    return by_split[split]


def split_rows(split):
    return SPLITS[split]["rows"]


def hub_token():
    """HF_TOKEN, else the huggingface_hub token file; None when there is none."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("HF_TOKEN_PATH") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"),
        "token",
    )
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


class _DropAuthOnOtherHost(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the Hub token to another host (LFS/CDN redirects)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def open_url(url):
    """A streaming response for url; the Hub token is sent to the Hub endpoint only."""
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
        raise OSError(f"{DATASET_NAME}: GET {where} failed: HTTP {err.code} {err.reason}") from None


def sha256_of_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def identity_error(path, what, expected, found):
    return DatasetIdentityError(
        f"{DATASET_NAME}: {path}: {what} is {found}, the pinned dataset says {expected} "
        f"(manifest sha256 {MANIFEST_SHA256[:12]}): this is not the file these loaders were generated for; "
        "point the loader at the right dataset version or regenerate it with `nusomi-hf loaders`"
    )


_VERIFIED = set()


def verify_local_file(local_path, entry):
    """Refuse a local file whose size or sha256 differs from the pinned entry (once per process)."""
    path, _rows, size, sha256 = entry
    stamp = (local_path, sha256)
    if stamp in _VERIFIED:
        return
    try:
        found_size = os.path.getsize(local_path)
    except OSError:
        raise DatasetIdentityError(f"{DATASET_NAME}: {path}: missing under the dataset root ({local_path})") from None
    if found_size != size:
        raise identity_error(path, "size", f"{size} bytes", f"{found_size} bytes")
    found = sha256_of_file(local_path)
    if found != sha256:
        raise identity_error(path, "sha256", sha256, found)
    _VERIFIED.add(stamp)


def as_action(value):
    """An action as a dict (or None): accepts the struct (Parquet) or its JSON text (WebDataset)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return json.loads(value)
    return dict(value)


def action_type_id(action):
    """The ClassLabel id of an action dict: `type_id` when present, else `type` (id or name)."""
    if "type_id" in action and action["type_id"] is not None:
        return int(action["type_id"])
    t = action.get("type")
    if isinstance(t, str):
        return ACTION_TYPES.index(t)
    return int(t)


def action_point(action):
    """(x_norm, y_norm, has_point): coordinates normalised to the stored image, in [0, 1]."""
    if action is None or action.get("x_norm") is None or action.get("y_norm") is None:
        return 0.0, 0.0, False
    return float(action["x_norm"]), float(action["y_norm"]), True


def action_features(action, prior):
    """Label id and point of an action and of the prior action (NO_PRIOR_ACTION_ID when none)."""
    x, y, has = action_point(action)
    px, py, phas = action_point(prior)
    return {
        "action_type_id": action_type_id(action),
        "action_xy": (x, y),
        "action_has_xy": has,
        "prior_action_type_id": NO_PRIOR_ACTION_ID if prior is None else action_type_id(prior),
        "prior_action_xy": (px, py),
        "prior_action_has_xy": phas,
    }


# --- end nusomi-hf:common ---
