#!/usr/bin/env bash
# The whole test suite: type-check, the Python consumers' venv, then every vitest test.
# `.ci/run` runs exactly this (via `npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
bash scripts/python-env.sh
npx vitest run "$@"
