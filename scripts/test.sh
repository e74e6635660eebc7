#!/usr/bin/env bash
# The whole test suite: format and lint (Biome for TypeScript, ruff for the loader templates),
# type-check, the Python consumers' venv, the browser of the report tests (Debian chromium), then
# every vitest test (both tiers).
# `.ci/run` runs exactly this (via `npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."
npx biome check .
npx tsc -p tsconfig.json --noEmit
bash scripts/python-env.sh
bash scripts/browser-env.sh
.venv/bin/ruff format --check loaders engines
.venv/bin/ruff check loaders engines
npx vitest run "$@"
