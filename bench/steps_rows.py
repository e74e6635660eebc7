"""Shared by the Python reference converters: read a jsonl export (rows + frame files) and turn each
row into the same `steps` row nusomi-hf writes (the column values of src/hf/steps-schema.ts: the
`action` structs with their ClassLabel id, int32 coordinates and x_norm/y_norm, JSON text for dom,
args and extra, image as struct bytes+path), so the reference tools write the same Parquet.
Streaming: one row at a time, frames read as they are needed. Frames pass through (no --max-side),
so no coordinate is rescaled."""
import glob
import hashlib
import io
import json
import math
import os
import re
import struct
from datetime import datetime

from PIL import Image

OUTCOMES = ["success", "error", "abandoned"]
# src/hf/labels.ts KNOWN_ACTION_TYPES: the ClassLabel ids of action.type.
ACTION_TYPES = ["click", "double_click", "right_click", "input_text", "key", "scroll", "drag", "hover", "navigate", "select", "wait"]
ACTION_ID = {name: i for i, name in enumerate(ACTION_TYPES)}
INT32 = (-2147483648, 2147483647)
TOP_KNOWN = {"session_id", "t_ms", "frame", "action", "context"}
FRAME_KNOWN = {"viewport", "dom", "accessibility_tree"}  # image_url stays in extra, as in convert
CONTEXT_KNOWN = {"workflow", "prior_action", "outcome", "actor", "tags", "path", "started_at"}



_session_names: dict = {}


def frame_session_name(sid):
    """convert's frame name for a session: its id (48 characters, [A-Za-z0-9_-]) and a sha256 prefix of the raw id."""
    name = _session_names.get(sid)
    if name is None:
        name = re.sub(r"[^A-Za-z0-9_-]", "-", sid[:48]) + "-" + hashlib.sha256(sid.encode("utf-8")).hexdigest()[:12]
        _session_names[sid] = name
    return name

def export_rows(root):
    """Yield one dict of steps columns per export row, in file then line order."""
    with open(os.path.join(root, "manifest.json")) as f:
        destination = json.load(f).get("destination", "")
    files = sorted(glob.glob(os.path.join(root, "**", "*.jsonl"), recursive=True))
    outcome_id = {name: i for i, name in enumerate(OUTCOMES)}
    session, step = None, 0
    for path in files:
        with open(path, "rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                r = json.loads(line)
                sid, t_ms = r["session_id"], r["t_ms"]
                if sid != session:
                    session, step = sid, 0
                else:
                    step += 1
                frame, ctx, action = r["frame"], r.get("context") or {}, r.get("action")
                url = frame["image_url"]
                rel = url[len(destination):] if destination and url.startswith(destination) else url
                with open(os.path.join(root, rel), "rb") as img:
                    image_bytes = img.read()
                width, height = image_size(image_bytes)
                ext = os.path.splitext(rel)[1].lstrip(".")
                extra = {k: v for k, v in r.items() if k not in TOP_KNOWN}
                frame_rest = {k: v for k, v in frame.items() if k not in FRAME_KNOWN}
                ctx_rest = {k: v for k, v in ctx.items() if k not in CONTEXT_KNOWN}
                if frame_rest:
                    extra["frame"] = frame_rest
                if ctx_rest:
                    extra["context"] = ctx_rest
                vp = frame.get("viewport") or {}
                actor = ctx.get("actor") or {}
                dom = frame.get("dom")
                prior = ctx.get("prior_action")
                yield {
                    "session_id": sid,
                    "step": step,
                    "t_ms": t_ms,
                    "image": {"bytes": image_bytes, "path": f"{frame_session_name(sid)}_{t_ms:09d}.{ext}"},
                    "viewport": {"w": vp.get("w"), "h": vp.get("h")},
                    "action": action_row(action, width, height),
                    "prior_action": None if prior is None else action_row(prior, width, height),
                    "workflow": ctx.get("workflow"),
                    "outcome": outcome_id.get(ctx.get("outcome")),
                    "actor_kind": actor.get("kind"),
                    "tags": ctx.get("tags"),
                    "path": ctx.get("path"),
                    "started_at": instant(ctx.get("started_at")),
                    "dom": None if dom is None else compact(dom),
                    "accessibility_tree": frame.get("accessibility_tree"),
                    "extra": compact(extra),
                }


def instant(text):
    """The started_at column: an ISO 8601 instant as an aware datetime (written as
    timestamp[ms, tz=UTC]); None for anything else. The bench exports use the canonical form
    (2026-04-10T08:49:12Z), which convert also keeps nowhere else."""
    if not isinstance(text, str):
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def compact(value):
    """JSON text as JavaScript's JSON.stringify writes it (no spaces, UTF-8 as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def image_size(b):
    """(width, height) from a WebP VP8/VP8L/VP8X header, as nusomi-hf reads it; Pillow for anything else."""
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        chunk = b[12:16]
        if chunk == b"VP8 ":
            w, h = struct.unpack_from("<HH", b, 26)
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(b[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8X":
            return 1 + int.from_bytes(b[24:27], "little"), 1 + int.from_bytes(b[27:30], "little")
    with Image.open(io.BytesIO(b)) as im:
        return im.size


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def take_int(rest, key):
    """steps-schema.ts takeInt: the value rounded to int32; it leaves `rest` only when exact."""
    v = rest.get(key)
    if not is_number(v):
        return None
    r = math.floor(v + 0.5)
    if not INT32[0] <= r <= INT32[1]:
        return None
    if r == v:
        del rest[key]
    return r


def take_str(rest, key):
    v = rest.get(key)
    if not isinstance(v, str):
        return None
    del rest[key]
    return v


def take_list(rest, key, item_ok):
    v = rest.get(key)
    if not isinstance(v, list) or not all(item_ok(x) for x in v):
        return None
    del rest[key]
    return v


def is_int32(x):
    return isinstance(x, int) and not isinstance(x, bool) and INT32[0] <= x <= INT32[1]



def action_row(a, width, height):
    """steps-schema.ts actionRow: typed columns for what they hold exactly, the rest as `args`."""
    rest = dict(a)
    name = rest.pop("type")
    if name not in ACTION_ID:
        raise ValueError(f"action type {name!r} is not in the reference's label list")
    raw_x, raw_y = rest.get("x"), rest.get("y")
    x, y = take_int(rest, "x"), take_int(rest, "y")
    target = None
    if isinstance(rest.get("target"), dict):
        t = dict(rest["target"])
        target = {"role": take_str(t, "role"), "name": take_str(t, "name"), "bbox": take_list(t, "bbox", is_int32)}
        if t:
            rest["target"] = t
        else:
            del rest["target"]
    to_x = to_y = None
    if isinstance(rest.get("to"), dict):
        t = dict(rest["to"])
        to_x, to_y = take_int(t, "x"), take_int(t, "y")
        if t or (to_x is None and to_y is None):
            rest["to"] = t
        else:
            del rest["to"]
    return {
        "type": ACTION_ID[name],
        "x": x,
        "y": y,
        "x_norm": raw_x / width if is_number(raw_x) else None,
        "y_norm": raw_y / height if is_number(raw_y) else None,
        "target": target,
        "text": take_str(rest, "text"),
        "key": take_str(rest, "key"),
        "modifiers": take_list(rest, "modifiers", lambda x: isinstance(x, str)),
        "url": take_str(rest, "url"),
        "to_x": to_x,
        "to_y": to_y,
        "dx": take_int(rest, "dx"),
        "dy": take_int(rest, "dy"),
        "args": compact(rest),
    }
