#!/usr/bin/env python3
"""Copies the model test suites shipped in the onnx package (pytorch-converted, pytorch-operator,
simple) into OUT_DIR/<suite>/<case>/ as test-case directories (model.onnx + test_data_set_N).

    .venv/bin/python Tools/make_model_suites.py Generated
"""
import pathlib
import shutil
import sys

import onnx

SUITES = ["pytorch-converted", "pytorch-operator", "simple"]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_model_suites.py OUT_DIR")
    out = pathlib.Path(sys.argv[1])
    data = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data"
    for suite in SUITES:
        target = out / suite
        cases = sorted(p for p in (data / suite).iterdir() if (p / "model.onnx").exists())
        if target.exists() and len(list(target.iterdir())) == len(cases):
            continue
        if target.exists():
            shutil.rmtree(target)
        for case in cases:
            shutil.copytree(case, target / case.name)
        print(f"{suite}: {len(cases)} cases in {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
