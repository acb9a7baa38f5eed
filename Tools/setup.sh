#!/usr/bin/env bash
# First README command: installs missing system packages, builds onnx-run (release) and runs it
# on the embedded default model (a handwritten-digit classifier) with its sample input.
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh
echo "building onnx-run (release)..." >&2
swift build -c release --product onnx-run >&2
echo "running: onnx-run Fixtures/digits.onnx Fixtures/digit-input.json" >&2
.build/release/onnx-run Fixtures/digits.onnx Fixtures/digit-input.json
