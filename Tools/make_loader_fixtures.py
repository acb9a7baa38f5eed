#!/usr/bin/env python3
"""Builds small ONNX files with onnx.helper for the loader's unit tests (Tests/.../LoaderFixtureTests).

Every file is written by the onnx package, independently of onnx-run's own ModelWriter, and
OUT_DIR/manifest.json records what each must load as (values computed by numpy/onnx):

  {"dtypes": [{"file", "dtype", "shape", "values"}],      # initializer `value`, raw and typed storage
   "external": {"file", "values"}, "external_escape": file, "external_missing": file,
   "sparse": {"file", "shape", "values"},
   "subgraph": {"file", "then_nodes", "else_nodes", "outer_names"},
   "function": {"file", "domain", "name"}}

    .venv/bin/python Tools/make_loader_fixtures.py Generated/loader
"""
import json
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 21)]


def identity_model(tensor):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["value"], ["out"])], "g", [],
        [helper.make_tensor_value_info("out", tensor.data_type, None)], [tensor])
    return helper.make_model(graph, opset_imports=OPSET, ir_version=10)


def dtype_cases():
    values = [0.0, 1.5, -2.0, 3.25, 0.0, 7.0]
    for name, code in [("float", TensorProto.FLOAT), ("double", TensorProto.DOUBLE), ("float16", TensorProto.FLOAT16),
                       ("bfloat16", TensorProto.BFLOAT16), ("float8e4m3fn", TensorProto.FLOAT8E4M3FN),
                       ("float8e5m2", TensorProto.FLOAT8E5M2)]:
        yield name, code, [2, 3], values
    ints = [0, 1, -2, 3, -4, 5]
    for name, code in [("int8", TensorProto.INT8), ("int16", TensorProto.INT16), ("int32", TensorProto.INT32),
                       ("int64", TensorProto.INT64)]:
        yield name, code, [2, 3], ints
    for name, code in [("uint8", TensorProto.UINT8), ("uint16", TensorProto.UINT16), ("uint32", TensorProto.UINT32),
                       ("uint64", TensorProto.UINT64)]:
        yield name, code, [2, 3], [0, 1, 2, 3, 200, 5]
    yield "bool", TensorProto.BOOL, [2, 3], [True, False, True, True, False, False]
    yield "int4", TensorProto.INT4, [5], [-8, 7, 0, -1, 3]
    yield "uint4", TensorProto.UINT4, [5], [0, 15, 1, 8, 3]
    yield "complex64", TensorProto.COMPLEX64, [2], [1 + 2j, -3.5 + 0j]
    yield "complex128", TensorProto.COMPLEX128, [2], [1 + 2j, -3.5 + 0.25j]
    yield "string", TensorProto.STRING, [3], ["a", "héllo", ""]


def expected_values(tensor):
    """Flat JSON-able values of a TensorProto as the onnx package reads it."""
    array = numpy_helper.to_array(tensor).reshape(-1)
    if tensor.data_type == TensorProto.STRING:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in array]
    if np.iscomplexobj(array):
        return [float(x) for v in array for x in (v.real, v.imag)]
    if tensor.data_type in (TensorProto.BOOL,):
        return [int(v) for v in array]
    return [float(np.float32(v)) if tensor.data_type not in (TensorProto.INT64, TensorProto.UINT64) else int(v) for v in array]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_loader_fixtures.py OUT_DIR")
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"dtypes": []}

    for name, code, shape, values in dtype_cases():
        storages = ["typed"] if code == TensorProto.STRING else ["raw", "typed"]
        for storage in storages:
            tensor = helper.make_tensor("value", code, shape, values)
            if storage == "raw":
                tensor = numpy_helper.from_array(numpy_helper.to_array(tensor), "value")
                assert tensor.HasField("raw_data") and tensor.data_type == code, name
            file = f"dtype_{name}_{storage}.onnx"
            onnx.save(identity_model(tensor), out / file)
            manifest["dtypes"].append({"file": file, "dtype": name, "shape": shape, "values": expected_values(tensor)})

    # External data, inside and outside the model directory, and missing.
    weights = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    (out / "external_data.bin").write_bytes(b"\0" * 16 + weights.tobytes())
    for file, location in [("external_data.onnx", "external_data.bin"), ("external_escape.onnx", "../outside.bin"),
                           ("external_missing.onnx", "no_such_file.bin")]:
        tensor = TensorProto(name="value", data_type=TensorProto.FLOAT, dims=[2, 3], data_location=TensorProto.EXTERNAL)
        for key, val in [("location", location), ("offset", "16"), ("length", str(weights.nbytes))]:
            entry = tensor.external_data.add()
            entry.key, entry.value = key, val
        onnx.save(identity_model(tensor), out / file)
    manifest["external"] = {"file": "external_data.onnx", "values": weights.reshape(-1).tolist()}
    manifest["external_escape"] = "external_escape.onnx"
    manifest["external_missing"] = "external_missing.onnx"

    # Sparse initializer: dense [3, 4] with three non-zeros, linear indices.
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([5, 6, 7], dtype=np.float32), "value"),
        numpy_helper.from_array(np.array([1, 6, 11], dtype=np.int64), "value_indices"), [3, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["value"], ["out"])], "g", [],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3, 4])], sparse_initializer=[sparse])
    onnx.save(helper.make_model(graph, opset_imports=OPSET, ir_version=10), out / "sparse_initializer.onnx")
    dense = np.zeros(12, dtype=np.float32)
    dense[[1, 6, 11]] = [5, 6, 7]
    manifest["sparse"] = {"file": "sparse_initializer.onnx", "shape": [3, 4], "values": dense.tolist()}

    # If whose branches read outer-scope values (an input and an initializer).
    then_graph = helper.make_graph([helper.make_node("Add", ["x", "bias"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_graph = helper.make_graph([helper.make_node("Sub", ["x", "bias"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph)], "main",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
        [numpy_helper.from_array(np.array([1, 2], dtype=np.float32), "bias")])
    onnx.save(helper.make_model(graph, opset_imports=OPSET, ir_version=10), out / "subgraph_if.onnx")
    manifest["subgraph"] = {"file": "subgraph_if.onnx", "then_nodes": 1, "else_nodes": 1, "outer_names": ["bias", "x"]}

    # A model-local function with an attribute reference, called from the main graph.
    body = [helper.make_node("LeakyRelu", ["a"], ["b"])]
    body[0].attribute.append(helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT, ref_attr_name="slope"))
    function = helper.make_function("com.example", "ScaledLeak", ["a"], ["b"], body, OPSET, attributes=["slope"])
    graph = helper.make_graph([helper.make_node("ScaledLeak", ["x"], ["y"], domain="com.example", slope=0.5)], "main",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=OPSET + [helper.make_opsetid("com.example", 1)], functions=[function], ir_version=10)
    onnx.checker.check_model(model)
    onnx.save(model, out / "local_function.onnx")
    manifest["function"] = {"file": "local_function.onnx", "domain": "com.example", "name": "ScaledLeak"}

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"loader fixtures: {len(manifest['dtypes'])} dtype files and 6 others in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
