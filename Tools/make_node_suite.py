#!/usr/bin/env python3
"""Writes the official ONNX node test cases (onnx.backend.test.case.node.collect_testcases) as
test-case directories, the way onnx/backend/test/cmd_tools.py generate-data writes them:

    OUT_DIR/<case name>/model.onnx, test_data_set_<i>/input_<j>.pb, output_<j>.pb

Inputs and outputs use TensorProto, SequenceProto, OptionalProto or MapProto as the graph's
declared types say. Skips work when OUT_DIR/.complete matches the case count.

    .venv/bin/python Tools/make_node_suite.py Generated/node
"""
import pathlib
import shutil
import sys
import warnings

import onnx
from onnx import TensorProto, numpy_helper
from onnx.backend.test.case.node import collect_testcases


def serialize(value, value_info):
    kind = value_info.type.WhichOneof("value")
    if kind == "map_type":
        return numpy_helper.from_dict(value, value_info.name).SerializeToString()
    if kind == "sequence_type":
        return numpy_helper.from_list(value, value_info.name).SerializeToString()
    if kind == "optional_type":
        return numpy_helper.from_optional(value, value_info.name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, value_info.name).SerializeToString()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_node_suite.py OUT_DIR")
    out = pathlib.Path(sys.argv[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in collect_testcases(None) if c.kind == "node"]
    marker = out / ".complete"
    stamp = f"onnx {onnx.__version__}: {len(cases)} cases\n"
    if marker.exists() and marker.read_text() == stamp:
        return
    if out.exists():
        shutil.rmtree(out)
    for index, case in enumerate(cases):
        if index % 200 == 0:
            print(f"[{index}/{len(cases)}] writing node cases...", file=sys.stderr)
        directory = out / case.name
        directory.mkdir(parents=True)
        (directory / "model.onnx").write_bytes(case.model.SerializeToString())
        graph = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            data = directory / f"test_data_set_{i}"
            data.mkdir()
            for j, value in enumerate(inputs):
                (data / f"input_{j}.pb").write_bytes(serialize(value, graph.input[j]))
            for j, value in enumerate(outputs):
                (data / f"output_{j}.pb").write_bytes(serialize(value, graph.output[j]))
    marker.write_text(stamp)
    print(f"node suite: {len(cases)} cases in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
