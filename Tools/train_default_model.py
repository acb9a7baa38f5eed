#!/usr/bin/env python3
"""Trains the embedded default model: a small MLP classifying scikit-learn's 8x8 handwritten digits.

Writes Fixtures/digits.onnx (built with onnx.helper), Fixtures/digit-input.json (one held-out test
image the model classifies correctly) and Fixtures/digit-label.txt (that image's true label, from the
dataset, used by the end-to-end test). Deterministic: fixed split and random_state.

    .venv/bin/python Tools/train_default_model.py
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Fixtures"


def train():
    digits = load_digits()
    x_train, x_test, y_train, y_test, img_train, img_test = train_test_split(
        digits.data / 16.0, digits.target, digits.images, test_size=0.25, random_state=0, stratify=digits.target)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=600, random_state=0)
    mlp.fit(x_train, y_train)
    return mlp, mlp.score(x_test, y_test), img_test, y_test


def export(mlp):
    w1, w2 = (w.T.astype(np.float32) for w in mlp.coefs_)        # stored [out, in] for Gemm transB=1
    b1, b2 = (b.astype(np.float32) for b in mlp.intercepts_)
    inits = [
        numpy_helper.from_array(np.array(1.0 / 16.0, dtype=np.float32), "pixel_scale"),
        numpy_helper.from_array(w1, "hidden_weight"), numpy_helper.from_array(b1, "hidden_bias"),
        numpy_helper.from_array(w2, "output_weight"), numpy_helper.from_array(b2, "output_bias"),
    ]
    nodes = [
        helper.make_node("Flatten", ["image"], ["pixels"], name="flatten", axis=1),
        helper.make_node("Mul", ["pixels", "pixel_scale"], ["scaled"], name="scale_to_unit"),
        helper.make_node("Gemm", ["scaled", "hidden_weight", "hidden_bias"], ["hidden_pre"], name="hidden", transB=1),
        helper.make_node("Relu", ["hidden_pre"], ["hidden_act"], name="hidden_relu"),
        helper.make_node("Gemm", ["hidden_act", "output_weight", "output_bias"], ["logits"], name="output", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["digit"], name="argmax", axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 8, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10]),
         helper.make_tensor_value_info("digit", TensorProto.INT64, ["batch"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="onnx-run Tools/train_default_model.py")
    model.doc_string = "MLP (64-32-10) on scikit-learn's 8x8 digits; input: raw pixels 0..16, shape [batch, 8, 8]."
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    mlp, accuracy, images, labels = train()
    model = export(mlp)
    FIXTURES.mkdir(exist_ok=True)
    path = FIXTURES / "digits.onnx"
    onnx.save(model, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    predicted = session.run(["digit"], {"image": images.astype(np.float32)})[0]
    onnx_accuracy = float((predicted == labels).mean())
    index = next(i for i in range(len(labels)) if labels[i] == 7 and predicted[i] == 7)
    image = images[index].astype(int).tolist()
    (FIXTURES / "digit-input.json").write_text(json.dumps({"image": [image]}) + "\n")
    (FIXTURES / "digit-label.txt").write_text(f"{labels[index]}\n")
    print(f"test accuracy: scikit-learn {accuracy:.4f}, onnxruntime on the exported model {onnx_accuracy:.4f}; "
          f"sample input shows a {labels[index]}", file=sys.stderr)


if __name__ == "__main__":
    main()
