#!/usr/bin/env python3
"""Writes the nine "light" zoo models shipped in the onnx package as ONNX test-case directories.

For each onnx/backend/test/data/light/light_<name>.onnx: OUT_DIR/light_<name>/model.onnx (a copy),
test_data_set_0/input_<k>.pb for each non-initializer input, filled as the ONNX backend runner does
(shape from the declared dims, a missing dim is 1; arange(n)/n as float32), and output_0.pb copied
from the package's stored reference output. Idempotent.

    .venv/bin/python Tools/make_light_suite.py Generated/light
"""
import pathlib
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def backend_runner_input(value_info):
    dims = value_info.type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_light_suite.py OUT_DIR")
    out = pathlib.Path(sys.argv[1])
    source = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    models = sorted(source.glob("light_*.onnx"))
    for model_path in models:
        case = out / model_path.stem
        data = case / "test_data_set_0"
        expected = model_path.with_name(model_path.stem + "_output_0.pb")
        if (data / "output_0.pb").exists() and (case / "model.onnx").stat().st_size == model_path.stat().st_size:
            continue
        print(f"writing {case}", file=sys.stderr)
        data.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_path, case / "model.onnx")
        model = onnx.load(model_path)
        initializers = {i.name for i in model.graph.initializer}
        feeds = [i for i in model.graph.input if i.name not in initializers]
        for k, value_info in enumerate(feeds):
            tensor = numpy_helper.from_array(backend_runner_input(value_info), value_info.name)
            (data / f"input_{k}.pb").write_bytes(tensor.SerializeToString())
        shutil.copyfile(expected, data / "output_0.pb")
    print(f"light suite: {len(models)} cases in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
