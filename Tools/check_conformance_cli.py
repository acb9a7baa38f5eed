#!/usr/bin/env python3
"""Checks conformance independently of onnx-run's own comparison code.

For every test case and data set: runs `onnx-run MODEL input_*.pb --save-outputs DIR` as a
separate process, then compares each output_<i>.pb with the expected one in numpy, the way the ONNX
backend runner does: same dtype and shape, floats with np.testing.assert_allclose(rtol, atol),
everything else exactly; sequences and optionals element by element. Cases whose model draws random
values (Random*, Bernoulli, training-mode Dropout) are checked by the properties of a draw instead.

    .venv/bin/python Tools/check_conformance_cli.py Generated/node [more suite dirs...] [--binary PATH]
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def load(path, kind):
    data = path.read_bytes()
    if kind == "sequence_type":
        proto = onnx.SequenceProto()
        proto.ParseFromString(data)
        return ("sequence", [numpy_helper.to_array(t) for t in proto.tensor_values])
    if kind == "optional_type":
        proto = onnx.OptionalProto()
        proto.ParseFromString(data)
        return ("optional", numpy_helper.to_optional(proto))
    proto = onnx.TensorProto()
    proto.ParseFromString(data)
    return ("tensor", numpy_helper.to_array(proto))


def compare(actual, expected, rtol, atol):
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), "sequence length differs"
        for a, e in zip(actual, expected):
            compare(a, e, rtol, atol)
        return
    if expected is None or actual is None:
        assert actual is None and expected is None, "optional presence differs"
        return
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind == "f" or str(expected.dtype) in ("bfloat16", "float16"):
        np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)
    elif expected.dtype == object:
        assert actual.tolist() == expected.tolist(), "strings differ"
    else:
        assert np.array_equal(actual.view(np.uint8) if actual.dtype.itemsize == 1 else actual,
                              expected.view(np.uint8) if expected.dtype.itemsize == 1 else expected), "values differ"


RANDOM_OPS = {"RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Bernoulli", "Multinomial"}


def draws_random_values(graph):
    """True when the graph (or a subgraph, or a local function) draws random values."""
    for node in graph.node:
        if node.op_type in RANDOM_OPS or (node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]):
            return True
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH and draws_random_values(attribute.g):
                return True
            if any(draws_random_values(g) for g in attribute.graphs):
                return True
    return False


def compare_random_draw(actual, expected, rtol, atol):
    """A random output can only match the reference draw in its properties: dtype and shape;
    values in {0, 1} when the reference's are (Bernoulli, masks); otherwise each element is 0 or,
    where the reference kept it, the reference's value (Dropout)."""
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    a, e = actual.astype(np.float64).ravel(), expected.astype(np.float64).ravel()
    if np.isin(e, (0, 1)).all():
        assert np.isin(a, (0, 1)).all(), "a draw of this output must be 0 or 1"
    else:
        bad = (e != 0) & (a != 0) & (np.abs(a - e) > atol + rtol * np.abs(e))
        assert not bad.any(), "a kept element differs from the reference's kept value"


def check_case(binary, case, rtol, atol):
    model = onnx.load(case / "model.onnx", load_external_data=False)
    outputs = list(model.graph.output)
    random = draws_random_values(model.graph) or any(draws_random_values(f) for f in model.functions)
    for data_set in sorted(case.glob("test_data_set_*")):
        inputs = sorted(data_set.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
        with tempfile.TemporaryDirectory() as out:
            run = subprocess.run([binary, str(case / "model.onnx"), *map(str, inputs), "--save-outputs", out, "--output", "/dev/null"],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                return f"exit {run.returncode}: {run.stderr.strip()[:200]}"
            for i, info in enumerate(outputs):
                expected_path = data_set / f"output_{i}.pb"
                if not expected_path.exists():
                    continue
                kind = info.type.WhichOneof("value")
                _, expected = load(expected_path, kind)
                _, actual = load(pathlib.Path(out) / f"output_{i}.pb", kind)
                try:
                    if random and kind == "tensor_type":
                        compare_random_draw(actual, expected, rtol, atol)
                    else:
                        compare(actual, expected, rtol, atol)
                except AssertionError as error:
                    return f"{data_set.name} output {i}: {str(error).strip().splitlines()[0][:200]}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--binary", default=str(pathlib.Path(__file__).resolve().parent.parent / ".build" / "release" / "onnx-run"))
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-7)
    args = parser.parse_args()
    passed, failed = 0, []
    cases = [c for s in args.suites for c in sorted(pathlib.Path(s).iterdir()) if (c / "model.onnx").exists()]
    for index, case in enumerate(cases):
        if index % 200 == 0:
            print(f"[{index}/{len(cases)}] {case.name}", file=sys.stderr)
        problem = check_case(args.binary, case, args.rtol, args.atol)
        if problem is None:
            passed += 1
        else:
            failed.append((case.name, problem))
    for name, problem in failed:
        print(f"FAIL {name}: {problem}")
    print(f"{passed} passed, {len(failed)} failed")


if __name__ == "__main__":
    main()
