#!/usr/bin/env python3
"""Builds the broken-model fixtures of `onnx-run validate` into Fixtures/broken/.

Each model carries exactly one defect, built with onnx.helper (no checker) from a small valid
model. Fixtures/broken/manifest.json lists, per file, the defect, the check that must flag it,
a substring the finding's message must contain, and whether it needs --strict. The Swift test
ValidateTests reads the manifest; the files are small and committed (regenerate with
`.venv/bin/python Tools/make_broken_models.py`).
"""
import json
import pathlib

import onnx
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Fixtures/broken"
F = TensorProto.FLOAT


def vi(name, shape=(2, 3), dtype=F):
    return helper.make_tensor_value_info(name, dtype, list(shape) if shape is not None else None)


def model(nodes, inputs=None, outputs=None, initializers=(), opset=21, ir=10, extra_opsets=(), functions=()):
    graph = helper.make_graph(nodes, "g", inputs if inputs is not None else [vi("x")],
                              outputs if outputs is not None else [vi("y")], list(initializers))
    imports = [helper.make_opsetid("", opset)] + list(extra_opsets)
    return helper.make_model(graph, opset_imports=imports, ir_version=ir, functions=list(functions))


def relu():
    return helper.make_node("Relu", ["x"], ["y"], name="relu")


CASES = []


def case(name, check, expect, description, strict=False):
    def register(build):
        CASES.append((name, check, expect, description, strict, build))
        return build
    return register


@case("dangling_input", "graph", "'missing' is not produced", "a node reads a value nothing produces")
def _():
    return model([helper.make_node("Add", ["x", "missing"], ["y"], name="add")])


@case("wrong_attribute_type", "schema", "attribute 'perm' is FLOATS, but Transpose-21 expects INTS", "an attribute of the wrong kind")
def _():
    node = helper.make_node("Transpose", ["x"], ["y"], name="transpose")
    node.attribute.append(helper.make_attribute("perm", [1.0, 0.0]))
    return model([node], outputs=[vi("y", (3, 2))])


@case("unknown_attribute", "schema", "unknown attribute 'alpha'", "an attribute the operator does not define")
def _():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu", alpha=0.1)])


@case("missing_required_attribute", "schema", "required attribute 'to' (INT) is missing", "Cast without its required 'to'")
def _():
    return model([helper.make_node("Cast", ["x"], ["y"], name="cast")])


@case("not_topologically_sorted", "graph", "is used before", "a node reads a value a later node produces")
def _():
    return model([helper.make_node("Relu", ["t"], ["y"], name="second"), helper.make_node("Neg", ["x"], ["t"], name="first")])


@case("duplicate_output", "graph", "is also produced by", "two nodes assign the same value")
def _():
    return model([helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Neg", ["x"], ["y"], name="b")])


@case("self_cycle", "graph", "own output", "a node reads its own output")
def _():
    return model([helper.make_node("Add", ["x", "y"], ["y"], name="loop")])


@case("unknown_operator", "schema", "'Frobnicate' is not an operator of domain 'ai.onnx'", "an operator the standard does not define")
def _():
    return model([helper.make_node("Frobnicate", ["x"], ["y"], name="frob")])


@case("operator_newer_than_opset", "schema", "Gelu does not exist at ai.onnx opset 17; it was introduced in opset 20", "an operator used below the opset that introduced it")
def _():
    return model([helper.make_node("Gelu", ["x"], ["y"], name="gelu")], opset=17)


@case("too_many_inputs", "schema", "has 3 inputs; Add-14 takes exactly 2", "an operator given more inputs than its schema allows")
def _():
    return model([helper.make_node("Add", ["x", "x", "x"], ["y"], name="add")])


@case("too_many_outputs", "schema", "has 2 outputs; Relu-14 produces exactly 1", "an operator given more outputs than its schema allows")
def _():
    return model([helper.make_node("Relu", ["x"], ["y", "z"], name="relu")])


@case("domain_not_imported", "schema", "uses domain 'ai.onnx.ml', which the model does not import", "a node in a domain without an opset import")
def _():
    return model([helper.make_node("Normalizer", ["x"], ["y"], name="norm", domain="ai.onnx.ml", norm="MAX")])


@case("ir_version_too_new", "model", "ir_version 99 is newer", "an IR version from the future")
def _():
    return model([relu()], ir=99)


@case("opset_too_new", "model", "imports opset 99 of 'ai.onnx'", "an opset version from the future")
def _():
    m = model([relu()])
    m.opset_import[0].version = 99
    return m


@case("no_opset_import", "model", "imports no opset", "a model without opset imports")
def _():
    m = model([relu()])
    del m.opset_import[:]
    return m


@case("mixed_input_types", "types", "must have the same type T", "Add of a float and an int64 tensor")
def _():
    return model([helper.make_node("Add", ["x", "n"], ["y"], name="add")], inputs=[vi("x"), vi("n", dtype=TensorProto.INT64)])


@case("type_not_allowed", "types", "input 'x' is string, but Relu-14 accepts", "Relu of a string tensor")
def _():
    return model([relu()], inputs=[vi("x", dtype=TensorProto.STRING)])


@case("initializer_type_mismatch", "graph", "initializer is int64 but the input declares float", "an initializer whose type contradicts its declared input")
def _():
    w = helper.make_tensor("w", TensorProto.INT64, [2, 3], [1, 2, 3, 4, 5, 6])
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], inputs=[vi("x"), vi("w")], initializers=[w])


@case("initializer_shape_mismatch", "graph", "initializer has shape [3, 2] but the input declares [2,3]", "an initializer whose shape contradicts its declared input")
def _():
    w = helper.make_tensor("w", F, [3, 2], [1, 2, 3, 4, 5, 6])
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], inputs=[vi("x"), vi("w")], initializers=[w])


@case("input_without_type", "graph", "graph input 'x' has no type", "a main-graph input without a type")
def _():
    return model([relu()], inputs=[onnx.ValueInfoProto(name="x")])


@case("output_not_produced", "graph", "graph output 'z' is not produced", "a graph output nothing produces")
def _():
    return model([relu()], outputs=[vi("y"), vi("z")])


@case("external_data_missing", "load", "does not exist", "an initializer whose external data file is missing")
def _():
    w = helper.make_tensor("w", F, [2, 3], [0.0] * 6)
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="weights-not-there.bin")
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], initializers=[w])


@case("external_data_escapes", "load", "escapes the model's directory", "external data pointing outside the model's directory")
def _():
    w = helper.make_tensor("w", F, [2, 3], [0.0] * 6)
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="../../etc/passwd")
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], initializers=[w])


@case("truncated_file", "load", "not a valid ONNX protobuf", "a model file cut off in the middle")
def _():
    w = helper.make_tensor("w", F, [64], [1.0] * 64)
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], inputs=[vi("x", (64,))],
                 outputs=[vi("y", (64,))], initializers=[w]).SerializeToString()[:-120]


@case("subgraph_dangling_input", "graph", "'ghost' is not produced", "an If branch reading a value defined nowhere")
def _():
    then_branch = helper.make_graph([helper.make_node("Neg", ["ghost"], ["t"], name="then_neg")], "then", [], [vi("t")])
    else_branch = helper.make_graph([helper.make_node("Neg", ["x"], ["e"], name="else_neg")], "else", [], [vi("e")])
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    return model([helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch)],
                 inputs=[cond, vi("x")])


def _local_function(nodes, attributes=()):
    return helper.make_function("local", "Scale", ["a"], ["b"], nodes, [helper.make_opsetid("", 21)], list(attributes))


@case("function_undefined_value", "function", "reads 'nowhere'", "a model-local function whose body reads an undefined name")
def _():
    f = _local_function([helper.make_node("Mul", ["a", "nowhere"], ["b"], name="mul")])
    return model([helper.make_node("Scale", ["x"], ["y"], name="call", domain="local")],
                 extra_opsets=[helper.make_opsetid("local", 1)], functions=[f])


@case("function_output_not_produced", "function", "output 'b' is not produced", "a model-local function that never assigns its output")
def _():
    f = _local_function([helper.make_node("Neg", ["a"], ["c"], name="neg")])
    return model([helper.make_node("Scale", ["x"], ["y"], name="call", domain="local")],
                 extra_opsets=[helper.make_opsetid("local", 1)], functions=[f])


@case("unsupported_operator", "support", "operator Adam (domain 'ai.onnx.preview.training', opset 1) is not supported", "a training-only operator the runtime does not run")
def _():
    node = helper.make_node("Adam", ["r", "t", "x", "g", "v", "h"], ["x2", "v2", "h2"], name="adam", domain="ai.onnx.preview.training")
    scalar = lambda n, t=F: helper.make_tensor_value_info(n, t, [])  # noqa: E731
    return model([node], inputs=[scalar("r"), scalar("t", TensorProto.INT64), vi("x"), vi("g"), vi("v"), vi("h")],
                 outputs=[vi("x2"), vi("v2"), vi("h2")], extra_opsets=[helper.make_opsetid("ai.onnx.preview.training", 1)])


@case("bad_attribute_value", "support", "auto_pad", "Conv with an auto_pad value the spec does not define")
def _():
    w = helper.make_tensor("w", F, [1, 1, 1, 1], [1.0])
    return model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", auto_pad="SIDEWAYS")],
                 inputs=[vi("x", (1, 1, 4, 4))], outputs=[vi("y", (1, 1, 4, 4))], initializers=[w])


@case("empty_required_input", "schema", "required input 1 ('B') is empty", "MatMul with its second operand left out")
def _():
    return model([helper.make_node("MatMul", ["x", ""], ["y"], name="matmul")])


@case("deprecated_operator", "schema", "Upsample is deprecated at opset 10", "an operator deprecated at the model's opset")
def _():
    scales = helper.make_tensor("s", F, [4], [1.0, 1.0, 2.0, 2.0])
    return model([helper.make_node("Upsample", ["x", "s"], ["y"], name="up")], inputs=[vi("x", (1, 1, 2, 2))],
                 outputs=[vi("y", (1, 1, 4, 4))], initializers=[scales], opset=10, ir=5)


@case("matmul_inner_mismatch", "shapes", "inner dimensions differ", "MatMul of [2,3] by [4,5]", strict=True)
def _():
    return model([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], inputs=[vi("x"), vi("w", (4, 5))],
                 outputs=[vi("y", (2, 5))])


@case("broadcast_mismatch", "shapes", "cannot be broadcast", "Add of [2,3] and [4,3]", strict=True)
def _():
    return model([helper.make_node("Add", ["x", "z"], ["y"], name="add")], inputs=[vi("x"), vi("z", (4, 3))])


@case("declared_shape_contradiction", "shapes", "declared shape [5,5], but the graph computes [2,3]", "a graph output declared with a shape the graph cannot produce", strict=True)
def _():
    return model([relu()], outputs=[vi("y", (5, 5))])


@case("declared_type_contradiction", "shapes", "declared element type int64, but the graph computes float", "a graph output declared int64 while the graph computes float", strict=True)
def _():
    return model([relu()], outputs=[vi("y", ("batch", 3), TensorProto.INT64)], inputs=[vi("x", ("batch", 3))])


@case("reshape_count_mismatch", "shapes", "cannot reshape [2,3]", "Reshape of 6 elements to [4,2]", strict=True)
def _():
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [4, 2])
    return model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")], outputs=[vi("y", (4, 2))],
                 initializers=[shape])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.onnx"):
        old.unlink()
    manifest = []
    for index, (name, check, expect, description, strict, build) in enumerate(CASES, start=1):
        result = build()
        data = result if isinstance(result, bytes) else result.SerializeToString()
        file = f"{index:02d}-{name}.onnx"
        (OUT / file).write_bytes(data)
        manifest.append({"file": file, "defect": description, "check": check, "message": expect, "strict": strict})
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(manifest)} broken models to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
