"""The `sft` config of a nusomi-hf dataset, pinned to one version, and `parse_action`.

    from <this module> import load, parse_action
    ds = load("train")   # images, prompt, completion: TRL's SFTTrainer takes it as it is
    parse_action('pyautogui.click(x=0.4250, y=0.4311)')
    # -> {"action": "click", "x": 0.425, "y": 0.4311}

`parse_action` is the inverse of the pinned grammar (SFT["action_format"]; the others on
request): it reads a model's output into the canonical action, with coordinates in the pinned
convention (SFT["coords"]). It never runs the text: Python syntax is parsed with `ast` and only
literals are read.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

import datasets

# --- nusomi-hf:pins ---
from _pins import FEATURES, REVISION, SFT, SOURCE
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

__all__ = ["ACTION_FORMATS", "ActionSyntaxError", "features", "load", "parse_action"]

ACTION_FORMATS = ("pyautogui", "json", "function")
# Longest action text parse_action reads (model outputs are untrusted text).
MAX_ACTION_CHARS = 4096
# The canonical keys, in order.
ACTION_KEYS = ("action", "x", "y", "to_x", "to_y", "dx", "dy", "text", "keys", "url")
# pyautogui's key names -> the capture's (DOM) key names; others are as captured.
CAPTURE_KEYS = {
    "ctrl": "Control",
    "shift": "Shift",
    "alt": "Alt",
    "win": "Meta",
    "enter": "Enter",
    "tab": "Tab",
    "esc": "Escape",
    "backspace": "Backspace",
    "delete": "Delete",
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "pageup": "PageUp",
    "pagedown": "PageDown",
    "home": "Home",
    "end": "End",
    "space": " ",
}
# pyautogui call -> canonical action of a one-call action with a position.
POINT_CALLS = {
    "pyautogui.click": "click",
    "pyautogui.doubleClick": "double_click",
    "pyautogui.rightClick": "right_click",
    "pyautogui.moveTo": "hover",
}


class ActionSyntaxError(ValueError):
    """The text is not an action of the grammar (a ValueError: says where, never echoes the text)."""


def features() -> datasets.Features:
    """The pinned features of the sft rows as a datasets.Features."""
    return datasets.Features.from_dict(FEATURES)


def load(
    split: str,
    revision: str | None = REVISION,
    root: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> datasets.Dataset:
    """The sft split as a datasets.Dataset (from the Hub at the pinned commit, or a local copy).

    root: a local copy of the dataset (directory); verify: check the split's files against the
    pinned sha256 first.
    """
    local = root if root is not None else (os.environ.get(ROOT_ENV) or None)
    if local is None and SOURCE["kind"] == "hub":
        return datasets.load_dataset(
            SOURCE["repo_id"],
            "sft",
            split=split,
            revision=revision,
            features=features(),
        )
    base = dataset_root(local)
    if is_remote(base):
        raise ValueError(
            f"{DATASET_NAME}: sft.load reads a local directory or the Hub repo, not {base.split('?')[0]}"
        )
    paths = []
    for entry in split_files("parquet", split):
        path = file_location(base, entry[0])
        if verify:
            verify_local_file(path, entry)
        paths.append(path)
    return datasets.load_dataset(
        "parquet", data_files={split: paths}, split=split, features=features()
    )


def _canonical(action: str, **fields: Any) -> dict[str, Any]:
    out = {"action": action}
    for key in ACTION_KEYS[1:]:
        if fields.get(key) is not None:
            out[key] = fields[key]
    return out


def _calls(text: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """`name(args, key=value)` statements as (dotted name, literal args, literal kwargs)."""
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as err:
        raise ValueError(
            f"not an action: a syntax error at column {err.offset}"
        ) from None
    calls = []
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            raise ActionSyntaxError("not an action: expected only function calls")
        call = stmt.value
        parts = []
        node = call.func
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            raise ActionSyntaxError(
                "not an action: a call of something other than a name"
            )
        parts.append(node.id)
        try:
            args = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
        except ValueError:
            raise ActionSyntaxError(
                "not an action: arguments must be literals"
            ) from None
        if len(kwargs) != len(call.keywords):
            raise ActionSyntaxError(
                "not an action: **kwargs are not an action argument"
            )
        calls.append((".".join(reversed(parts)), args, kwargs))
    if not calls:
        raise ActionSyntaxError("not an action: no call")
    return calls


def _xy(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    x = kwargs.get("x", args[0] if len(args) > 0 else None)
    y = kwargs.get("y", args[1] if len(args) > 1 else None)
    return {"x": x, "y": y}


def _key(name: Any) -> str:
    if not isinstance(name, str):
        raise ActionSyntaxError("not an action: a key name must be a string")
    return CAPTURE_KEYS.get(name, name)


def _parse_pyautogui(text: str) -> dict[str, Any]:
    calls = _calls(text)
    names = [c[0] for c in calls]
    first, args, kwargs = calls[0]
    if len(calls) == 1:
        if first in POINT_CALLS:
            return _canonical(POINT_CALLS[first], **_xy(args, kwargs))
        if first == "pyautogui.write":
            return _canonical(
                "input_text", text=kwargs.get("message", args[0] if args else "")
            )
        if first == "pyautogui.press":
            return _canonical(
                "key", keys=[_key(kwargs.get("keys", args[0] if args else None))]
            )
        if first == "pyautogui.hotkey":
            return _canonical("key", keys=[_key(k) for k in args])
        if first in ("pyautogui.scroll", "pyautogui.hscroll"):
            amount = kwargs.get("clicks", args[0] if args else 0)
            where = _xy(args[1:], kwargs)
            if first == "pyautogui.scroll":
                return _canonical("scroll", **where, dx=0, dy=-amount)
            return _canonical("scroll", **where, dx=amount, dy=0)
        if first == "computer.navigate":
            return _canonical(
                "navigate", url=kwargs.get("url", args[0] if args else None)
            )
        if first == "computer.select":
            return _canonical("select", **_xy(args, kwargs), text=kwargs.get("text"))
        if first == "computer.wait":
            return _canonical("wait")
    if len(calls) == 2:
        (_, args2, kwargs2) = calls[1]
        if names == ["pyautogui.click", "pyautogui.write"]:
            typed = kwargs2.get("message", args2[0] if args2 else "")
            return _canonical("input_text", **_xy(args, kwargs), text=typed)
        if names == ["pyautogui.moveTo", "pyautogui.dragTo"]:
            end = _xy(args2, kwargs2)
            return _canonical("drag", **_xy(args, kwargs), to_x=end["x"], to_y=end["y"])
        if names == ["pyautogui.scroll", "pyautogui.hscroll"]:
            dy = -kwargs.get("clicks", args[0] if args else 0)
            dx = kwargs2.get("clicks", args2[0] if args2 else 0)
            return _canonical("scroll", **_xy(args[1:], kwargs), dx=dx, dy=dy)
    raise ActionSyntaxError(f"not an action: unknown call sequence {', '.join(names)}")


def _parse_function(text: str) -> dict[str, Any]:
    calls = _calls(text)
    if len(calls) != 1 or calls[0][1]:
        raise ActionSyntaxError(
            "not an action: expected one call with keyword arguments"
        )
    name, _, kwargs = calls[0]
    unknown = sorted(set(kwargs) - set(ACTION_KEYS[1:]))
    if unknown:
        raise ActionSyntaxError(f"not an action: unknown argument {unknown[0]!r}")
    return _canonical(name, **kwargs)


def _parse_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ActionSyntaxError(
            f"not an action: invalid JSON at column {err.colno}"
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("action"), str):
        raise ActionSyntaxError(
            'not an action: expected a JSON object with a string "action"'
        )
    unknown = sorted(set(value) - set(ACTION_KEYS))
    if unknown:
        raise ActionSyntaxError(f"not an action: unknown key {unknown[0]!r}")
    return _canonical(value.pop("action"), **value)


def parse_action(text: str, action_format: str | None = None) -> dict[str, Any]:
    """The canonical action of `text` in a grammar (default: the pinned one).

    {"action": type, "x", "y", "to_x", "to_y", "dx", "dy", "text", "keys", "url"}: only the keys
    the action has; coordinates in the pinned convention ("[masked]" where the capture masked
    them). Raises ValueError when the text is not an action of the grammar.
    """
    fmt = action_format or SFT["action_format"]
    if fmt not in ACTION_FORMATS:
        raise ValueError(f"action_format must be one of {', '.join(ACTION_FORMATS)}")
    if not isinstance(text, str) or len(text) > MAX_ACTION_CHARS:
        raise ValueError(
            f"not an action: expected text of at most {MAX_ACTION_CHARS} characters"
        )
    text = text.strip()
    if fmt == "json":
        return _parse_json(text)
    if fmt == "function":
        return _parse_function(text)
    return _parse_pyautogui(text)
