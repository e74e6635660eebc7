"""Shared by the Python reference converters: read a jsonl export (rows + frame files) and turn each
row into the same `steps` columns nusomi-hf writes (nested values as JSON text, image as struct
bytes+path). Streaming: one row at a time, frames read as they are needed."""
import glob
import json
import os

OUTCOMES = ["success", "error", "abandoned"]
TOP_KNOWN = {"session_id", "t_ms", "frame", "action", "context"}
FRAME_KNOWN = {"image_url", "viewport", "dom", "accessibility_tree"}
CONTEXT_KNOWN = {"workflow", "prior_action", "outcome", "actor", "tags", "path", "started_at"}


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
                    "image": {"bytes": image_bytes, "path": f"{sid}_{t_ms:09d}.{ext}"},
                    "viewport": {"w": vp.get("w"), "h": vp.get("h")},
                    "action": json.dumps(action),
                    "prior_action": None if prior is None else json.dumps(prior),
                    "workflow": ctx.get("workflow"),
                    "outcome": outcome_id.get(ctx.get("outcome")),
                    "actor_kind": actor.get("kind"),
                    "tags": ctx.get("tags"),
                    "path": ctx.get("path"),
                    "started_at": ctx.get("started_at"),
                    "dom": None if dom is None else json.dumps(dom),
                    "accessibility_tree": frame.get("accessibility_tree"),
                    "extra": json.dumps(extra),
                }
