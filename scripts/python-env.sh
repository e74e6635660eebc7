#!/usr/bin/env bash
# Makes .venv with the Python consumers (datasets, pyarrow, torch, ...) that tests, the bench and
# the main job's load hints run, at the exact versions of scripts/python-requirements.lock.
# Re-creates it only when the lock changed. Fails fast when the index lacks a package
# (--retries 0 --timeout 3) instead of hanging.
#
# NUSOMI_HF_VENV=/path/to/venv: use that venv (made by this script in another checkout, so its
# stamp matches) instead of building one: .venv becomes a link to it. For CI and test clones.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=scripts/python-requirements.lock
want=$(sha256sum "$lock" | cut -d' ' -f1)
current() { [ -f "$1/.requirements.sha256" ] && [ "$(cat "$1/.requirements.sha256")" = "$want" ] && [ -x "$1/bin/python" ]; }
if current .venv; then
  exit 0
fi
if [ -n "${NUSOMI_HF_VENV:-}" ]; then
  if ! current "$NUSOMI_HF_VENV"; then
    echo "python-env: NUSOMI_HF_VENV=$NUSOMI_HF_VENV is not a venv made from this $lock" >&2
    exit 1
  fi
  rm -rf .venv
  ln -s "$NUSOMI_HF_VENV" .venv
  exit 0
fi
echo "python-env: creating .venv (this takes a few minutes the first time)" >&2
rm -rf .venv
python3 -m venv .venv
.venv/bin/pip install --retries 0 --timeout 3 -q -r "$lock" 2> >(grep -v "is ignored: it is neither" >&2)
echo "$want" > .venv/.requirements.sha256
