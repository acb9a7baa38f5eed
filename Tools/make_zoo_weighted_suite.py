#!/usr/bin/env python3
"""Writes the nine light zoo architectures with real (random, deterministic) weights as test cases.

The light models shipped with onnx fill every weight with ConstantOfShape, so their stored outputs
are a uniform softmax that says little about the arithmetic. This script replaces each
ConstantOfShape weight by a seeded random initializer scaled for its use (He-scaled conv/gemm
weights, batch-norm statistics in a sane range), feeds a seeded random input, and records
onnxruntime's outputs as the reference:

    OUT_DIR/zoo_<name>/model.onnx, test_data_set_0/input_0.pb, output_0.pb

    .venv/bin/python Tools/make_zoo_weighted_suite.py Generated/zoo
"""
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper

SEED = 20261125


def consumer_role(graph, name):
    """(op_type, input index) of the first non-Unsqueeze consumer of `name`."""
    for _ in range(4):
        for node in graph.node:
            if name in node.input:
                if node.op_type == "Unsqueeze":
                    name = node.output[0]
                    break
                return node.op_type, list(node.input).index(name)
        else:
            return None, None
    return None, None


def random_weight(rng, shape, role):
    op, index = role
    shape = tuple(int(d) for d in shape)
    if op == "Conv" and index == 1:
        fan_in = int(np.prod(shape[1:]))
        return rng.normal(0, np.sqrt(2.0 / fan_in), shape)
    if op == "Gemm" and index == 1:
        fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape))
        return rng.normal(0, np.sqrt(1.0 / max(shape)), shape) if fan_in else rng.normal(0, 0.01, shape)
    if op == "BatchNormalization":
        return {1: rng.uniform(0.5, 1.0, shape), 2: rng.normal(0, 0.1, shape),
                3: rng.normal(0, 0.1, shape), 4: rng.uniform(1.0, 2.0, shape)}[index]
    if op == "Mul":
        return rng.uniform(0.5, 1.0, shape)
    return rng.normal(0, 0.05, shape)


def weighted(model, rng):
    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept = []
    new_inits = []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in constants:
            shape = constants[node.input[0]]
            value = random_weight(rng, shape, consumer_role(graph, node.output[0])).astype(np.float32)
            new_inits.append(numpy_helper.from_array(value, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    used = {n for node in kept for n in node.input}
    survivors = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(survivors + new_inits)
    names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name in used and i.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)   # initializers are no longer listed as inputs
    return model


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_zoo_weighted_suite.py OUT_DIR")
    out = pathlib.Path(sys.argv[1])
    source = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    for index, model_path in enumerate(sorted(source.glob("light_*.onnx"))):
        name = model_path.stem.replace("light_", "zoo_")
        case = out / name
        data = case / "test_data_set_0"
        if (data / "output_0.pb").exists():
            continue
        print(f"writing {case}", file=sys.stderr)
        rng = np.random.default_rng(SEED + index)
        model = weighted(onnx.load(model_path), rng)
        onnx.checker.check_model(model)
        data.mkdir(parents=True, exist_ok=True)
        onnx.save(model, case / "model.onnx")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = onnxruntime.InferenceSession(str(case / "model.onnx"), options, providers=["CPUExecutionProvider"])
        feeds = {}
        for k, info in enumerate(session.get_inputs()):
            shape = [d if isinstance(d, int) else 1 for d in info.shape]
            feeds[info.name] = rng.uniform(0, 1, shape).astype(np.float32)
            (data / f"input_{k}.pb").write_bytes(numpy_helper.from_array(feeds[info.name], info.name).SerializeToString())
        for k, (info, value) in enumerate(zip(session.get_outputs(), session.run(None, feeds))):
            if not np.isfinite(value).all() or value.std() == 0:
                sys.exit(f"{name}: degenerate reference output (std {value.std()}); adjust the weight scales")
            (data / f"output_{k}.pb").write_bytes(numpy_helper.from_array(value, info.name).SerializeToString())
            print(f"  {info.name}: shape {value.shape}, max {value.max():.4g}, std {value.std():.4g}", file=sys.stderr)


if __name__ == "__main__":
    main()
