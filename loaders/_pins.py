"""Example pins, so the templates in this folder can be read, linted and imported as they are.

`nusomi-hf loaders` replaces the `# --- nusomi-hf:pins ---` block of every template with the real
values of one dataset version (read from its dataset-manifest.json). Nothing here is used by a
generated module.
"""

DATASET_NAME = "example"
GENERATOR = "nusomi-hf 0.0.0"
# Where the pinned version lives: {"kind": "local"} or
# {"kind": "hub", "repo_id": "org/name", "revision": "<commit sha>", "tag": "v1" | None}.
SOURCE = {"kind": "local"}
# The revision load() uses by default: the pinned commit sha (None for a local dataset).
REVISION = None
# Environment variable that points at the dataset root (a directory or an https:// base URL).
ROOT_ENV = "NUSOMI_EXAMPLE_ROOT"
EXPORT_ID = None
# sha256 of the dataset-manifest.json these pins were made from.
MANIFEST_SHA256 = "0" * 64
# HF features (Features.to_dict() form): the schema of every row.
FEATURES = {}
# ClassLabel vocabularies: id = index in the tuple.
ACTION_TYPES = ("click",)
OUTCOMES = ("success",)
# Split name -> {"rows": n, "sessions": n}.
SPLITS = {}
# Format -> split -> ((path relative to the dataset root, rows, bytes, sha256), ...).
FILES = {}
# Capture viewports seen: ({"w": ..., "h": ..., "rows": ...}, ...).
VIEWPORTS = ()
# How coordinates relate to the stored image (not to the capture viewport).
COORDINATES = {
    "pixels": "stored_image",
    "normalized": "x / stored width, y / stored height",
}
IMAGE = {"mode": "passthrough", "format": None, "max_side": None, "quality": None}
# The sft config's options (sft target only): grammar, coordinates, history, template.
SFT = {
    "action_format": "pyautogui",
    "coords": "norm",
    "history": 0,
    "history_frames": 0,
    "prompt_template": None,
    "system_prompt": "",
}
