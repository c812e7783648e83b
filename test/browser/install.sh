#!/usr/bin/env bash
# Headless Chromium for the browser tests: Debian's package, installed once (~155 MB
# download, ~20 s). Prints the browser's path.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  command -v chromium
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
echo "installing Chromium (Debian's package; first time only)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
command -v chromium
