#!/usr/bin/env bash
# Makes sure the browser the report tests drive is installed: Debian's `chromium`, found on PATH
# (playwright-core launches it; nothing downloads a browser). Installs it with apt when it is
# missing and we are root; otherwise says why and leaves it to the tests, which fail without it
# under CI=true and skip with the reason printed otherwise.
set -euo pipefail
# Under CI a browser we cannot install fails the run here; elsewhere the tests skip and say why.
give_up() {
  echo "browser-env: $1" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  exit 0
}
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  give_up "chromium is not on PATH and we are not root: run 'sudo apt-get install -y chromium' (report browser tests need it)"
fi
if ! command -v apt-get >/dev/null 2>&1; then
  give_up "chromium is not on PATH and there is no apt-get here: install chromium with this system's package manager"
fi
echo "browser-env: installing chromium (apt-get)" >&2
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
