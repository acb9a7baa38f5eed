#!/usr/bin/env bash
# Second README command: runs the whole test suite.
#  1. installs missing system packages and the project-local Python env (.venv, onnx==1.23.2);
#  2. generates test data from the onnx package into Generated/ (ignored by git);
#  3. builds and runs the Swift tests (unit tests + end-to-end tests over Generated/);
#  4. runs the CLI (release build) over the light zoo models, their weighted variants and the
#     ONNX conformance suites, failing on any case not in Tests/Conformance/expected-failures.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh
Tools/bootstrap-python.sh
py=.venv/bin/python
mkdir -p Generated
echo "generating test data in Generated/ ..." >&2
$py Tools/make_light_suite.py Generated/light
$py Tools/make_zoo_weighted_suite.py Generated/zoo
$py Tools/make_transformer_suite.py Generated/models
$py Tools/make_loader_fixtures.py Generated/loader
$py Tools/make_node_suite.py Generated/node
$py Tools/make_model_suites.py Generated
echo "building and running Swift tests..." >&2
swift build --build-tests >&2
if ! swift test > Generated/swift-test.log 2>&1; then
    grep -E "✘|error:|Fatal|crashed" Generated/swift-test.log | head -200 >&2
    echo "Swift tests failed; full log in Generated/swift-test.log" >&2
    exit 1
fi
grep -E "^✔ Test run|^✘ Test run|Executed [0-9]+ tests" Generated/swift-test.log >&2 || true
echo "building Examples/ against the library (proves it is usable as a dependency)..." >&2
swift build --package-path Examples >&2
Examples/.build/debug/ClassifyDigit . >&2
echo "running the light model suite through the CLI (release build)..." >&2
swift build -c release --product onnx-run >&2
.build/release/onnx-run test Generated/light
.build/release/onnx-run test Generated/zoo --atol 1e-6
echo "running the exporter-shaped BERT, GPT-2, YOLO and MobileNet models against onnxruntime..." >&2
.build/release/onnx-run test Generated/models --rtol 1e-3 --atol 1e-4
echo "running the ONNX conformance suites (node, pytorch-converted, pytorch-operator, simple)..." >&2
# Fails on any failing case not in the expected-failure list; prints failures, not the passes.
.build/release/onnx-run test Generated/node Generated/pytorch-converted Generated/pytorch-operator Generated/simple \
    --expected-failures Tests/Conformance/expected-failures.txt > Generated/conformance.log \
    || { grep "^FAIL" Generated/conformance.log | grep -v "(expected)$" >&2; tail -n 1 Generated/conformance.log >&2; exit 1; }
tail -n 1 Generated/conformance.log
echo "validating every light, zoo, exporter-shaped and conformance model (onnx-run validate)..." >&2
# Each must be valid, except cases on the expected-failure list (operators onnx-run does not run).
.build/release/onnx-run validate --quiet Generated/{light,zoo,models,node,pytorch-converted,pytorch-operator,simple}/*/model.onnx \
    > Generated/validate.log || true
unexpected=$(grep '^INVALID' Generated/validate.log | sed -E 's|^INVALID .*/([^/]+)/model\.onnx .*|\1|' \
    | while read -r name; do grep -q "^$name:" Tests/Conformance/expected-failures.txt || echo "$name"; done)
if [ -n "$unexpected" ]; then
    echo "validate rejected models that must pass:" >&2
    echo "$unexpected" >&2
    grep -A5 '^INVALID' Generated/validate.log | head -60 >&2
    exit 1
fi
tail -n 1 Generated/validate.log
echo "checking optimize --portable output in onnxruntime (light, zoo and exporter-shaped models)..." >&2
$py Tools/check_portable.py Generated/light/* Generated/zoo/* | grep -v "^PASS"
$py Tools/check_portable.py Generated/models/bert_small Generated/models/gpt2_small Generated/models/yolo_small \
    Generated/models/mobilenet_v2 --atol 1e-4 | grep -v "^PASS"
