#!/usr/bin/env bash
# Makes .venv with the Python consumers (datasets, pyarrow, torch, ...) that tests and the bench run,
# at the exact versions of scripts/python-requirements.lock. Re-creates it only when the lock
# changed. Fails fast when the index lacks a package (--retries 0 --timeout 3) instead of hanging.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=scripts/python-requirements.lock
stamp=.venv/.requirements.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
echo "python-env: creating .venv (this takes a minute the first time)" >&2
rm -rf .venv
python3 -m venv .venv
.venv/bin/pip install --retries 0 --timeout 3 -q -r "$lock" 2> >(grep -v "is ignored: it is neither" >&2)
echo "$want" > "$stamp"
