#!/usr/bin/env python3
"""Checks that `onnx-run optimize --portable` writes models other runtimes run correctly.

For every test case given: optimizes model.onnx with `onnx-run optimize --portable --opt-level 2`,
checks the result with onnx.checker, runs it in onnxruntime on test_data_set_0's inputs, and
compares with the stored outputs (rtol/atol). Prints one line per case; exits 1 on any failure.

    .venv/bin/python Tools/check_portable.py Generated/light/* Generated/models/bert_small [--atol 1e-5]
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "onnx-run"))
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-5)
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in map(pathlib.Path, args.cases):
            out = pathlib.Path(tmp) / f"{case.name}.onnx"
            try:
                subprocess.run([args.binary, "optimize", str(case / "model.onnx"), "-o", str(out), "--portable"],
                               check=True, capture_output=True, text=True)
                model = onnx.load(str(out))
                onnx.checker.check_model(model)
                ops = {n.domain for n in model.graph.node} - {"", "ai.onnx"}
                assert not ops, f"non-standard domains left: {ops}"
                session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
                data = case / "test_data_set_0"
                feeds = {}
                for info, path in zip(session.get_inputs(), sorted(data.glob("input_*.pb"))):
                    feeds[info.name] = numpy_helper.to_array(onnx.load_tensor(str(path)))
                results = session.run(None, feeds)
                for i, actual in enumerate(results):
                    path = data / f"output_{i}.pb"
                    if path.exists():
                        expected = numpy_helper.to_array(onnx.load_tensor(str(path)))
                        np.testing.assert_allclose(actual, expected, rtol=args.rtol, atol=args.atol)
                print(f"PASS {case.name} ({len(model.graph.node)} nodes)")
            except Exception as error:  # noqa: BLE001 - report every kind of failure per case
                failures += 1
                message = getattr(error, "stderr", None) or str(error)
                print(f"FAIL {case.name}: {' '.join(message.split())[:300]}")
    print(f"{len(args.cases) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
