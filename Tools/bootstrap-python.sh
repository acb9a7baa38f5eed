#!/usr/bin/env bash
# Creates or updates the project-local Python environment in .venv with the pinned packages the
# tests and tools use (the onnx package is the spec and the source of test data; onnxruntime gives
# reference outputs). Fast no-op when already up to date. Messages go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="onnx==1.23.2 onnxruntime==1.31.1 numpy==2.4.6 scikit-learn==1.9.1"
marker=.venv/.onnx-run-requirements
if [ -x .venv/bin/python ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$requirements" ]; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv ..." >&2
    python3 -m venv .venv >&2 || { echo "python3 -m venv failed: install the python3-venv package" >&2; exit 2; }
fi
echo "installing $requirements into .venv ..." >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check $requirements >&2
echo "$requirements" > "$marker"
