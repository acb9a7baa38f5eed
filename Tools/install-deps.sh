#!/usr/bin/env bash
# Installs the Debian packages onnx-run needs, only those that are missing.
# Runs `apt-get update` at most once, and only when something must be installed.
set -euo pipefail
packages=(libprotobuf-c-dev protobuf-c-compiler libopenblas-dev pkg-config)
# The test tooling needs a working `python3 -m venv`.
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then packages+=(python3-venv); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 2; }
    sudo="sudo"
fi
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
