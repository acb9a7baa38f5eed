#!/usr/bin/env python3
"""Writes exporter-shaped transformer and CNN models with seeded random weights as test cases.

Every model is assembled node by node with onnx.helper in the op patterns that torch.onnx.export
(TorchScript exporter, opset 14-17) emits for the Hugging Face / torchvision / YOLOv5 modules it
imitates: node and tensor names like "/bert/encoder/layer.0/attention/self/query/MatMul" and
"..._output_0", scalars and shape pieces as `Constant` nodes, dynamic shapes rebuilt through
Shape -> Gather -> Unsqueeze -> Concat chains. Weights are drawn from numpy's default_rng with a
fixed per-model seed, so the output is byte-for-byte reproducible. The reference outputs are
onnxruntime's (CPU execution provider, ORT_DISABLE_ALL graph optimizations, one thread); each is
checked to be finite and non-degenerate (std > 0).

    OUT_DIR/<case>/model.onnx, test_data_set_0/input_K.pb, output_K.pb

Cases (ir_version 8):

bert_small, bert_base (--large)      opset 14
    BERT encoder (Hugging Face BertModel). Inputs input_ids and attention_mask, int64
    [batch, sequence]. Embeddings: Gather of word embeddings; positions from
    Range(0, Shape(input_ids)[1], 1) -> Unsqueeze -> Gather; token types from the buffered zeros
    (Slice with a dynamic end, Expand to [batch, sequence]) -> Gather. LayerNorm decomposed as the
    exporter does below opset 17 (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul, Add).
    Extended mask (1 - Cast(Unsqueeze(Unsqueeze(mask)))) * -10000. Self-attention: MatMul+Add
    projections, heads split by Reshape to Concat(batch, seq, heads, head_size) and Transpose
    (key straight to [0,2,3,1]), MatMul, Div by sqrt(head_size), Add mask, Softmax, MatMul,
    Transpose, Reshape back. GELU in erf form (Div 1.4142135, Erf, Add 1, Mul, Mul 0.5).
    Pooler: Gather token 0, MatMul+Add, Tanh. Outputs last_hidden_state, pooler_output.
    small: 2 layers, hidden 64, 4 heads, intermediate 256, vocab 100, batch 2 x seq 16 (row 1 padded).
    base: 12 layers, hidden 768, 12 heads, intermediate 3072, vocab 30522, batch 1 x seq 128 (~440 MB).

gpt2_small, gpt2_base (--large)      opset 17
    GPT-2 decoder over a full sequence, no past key/values (Hugging Face GPT2LMHeadModel,
    use_cache=False). Input input_ids int64 [batch, sequence]; positions from Range; pre-LayerNorm as
    the opset-17 LayerNormalization op; Conv1D layers as MatMul+Add with [in, out] weights; QKV
    Split; causal mask as the exporter traces it: Slice of the lower-triangular bool buffer
    bias[:, :, k-q:k, :k] with lengths from Shape -> Gather, then Where(mask, scores, float32 min);
    GELU tanh form (Mul 0.5, Pow 3, Mul 0.044715, Add, Mul sqrt(2/pi), Tanh, Add 1, Mul); final
    LayerNormalization and the tied LM head MatMul. Output logits [batch, sequence, vocab].
    small: 2 layers, hidden 64, 4 heads, vocab 100, 64 positions, batch 2 x seq 16.
    base: GPT-2 small sizes (12 layers, hidden 768, 12 heads, vocab 50257, 1024 positions), 1 x 128.

yolo_small (1x3x128x128), yolo_640 (1x3x640x640)      opset 17
    YOLOv5-style detector (widths 16..128): Conv -> BatchNormalization -> SiLU (Sigmoid, Mul)
    blocks, a 6x6 stride-2 stem, four stride-2 stages with C3 blocks (Concat of two 1x1 branches,
    residual bottlenecks), SPPF (three chained 5x5 MaxPools, Concat), an FPN/PAN neck with
    Resize (nearest, floor, asymmetric, scales [1,1,2,2]) and Concat, and the Detect head: 1x1 Conv
    -> Reshape [1,3,85,ny,nx] -> Transpose -> Sigmoid -> Split(2,2,81) -> xy = (2*xy + grid)*stride,
    wh = (2*wh)^2 * anchor_grid -> Concat -> Reshape [1, 3*ny*nx, 85], levels Concat'ed to
    output0 [1, anchors, 85] (25200 anchors at 640).

mobilenet_v2 (1x3x224x224)      opset 17
    torchvision MobileNetV2 (width 1.0, 1000 classes) as exported in eval mode, batch norms folded
    into the convolutions: inverted residual blocks of 1x1 expand, 3x3 depthwise (group = channels)
    and 1x1 linear projection convs, ReLU6 as Clip(x, 0, 6) with min/max Constant inputs, residual
    Adds, GlobalAveragePool, Flatten, Gemm (transB=1).

Batch-norm statistics are not random guesses: each CNN is first built with InstanceNormalization
in place of its batch norms and run on the test image and three more random ones; each conv
output's per-channel mean and variance over those images, slightly perturbed, become the running
statistics (or, for MobileNet, are folded into the conv weights and biases as the exporter does
in eval mode). Activations thus keep a trained-network scale through every layer. Transformer
linear weights are normal(0, 1/sqrt(fan_in)) so that attention is not uniform, embeddings
normal(0, 0.02), LayerNorm scales near 1.

Existing cases (test_data_set_0/output_0.pb present) are skipped. Progress goes to stderr.

    .venv/bin/python Tools/make_transformer_suite.py Generated/models            # small cases
    .venv/bin/python Tools/make_transformer_suite.py Generated/models --large    # + bert_base, gpt2_base
    .venv/bin/python Tools/make_transformer_suite.py Generated/models --bench    # time onnxruntime (1 thread)
    .build/release/onnx-run test Generated/models --atol 1e-4
"""
import argparse
import math
import pathlib
import sys
import time
import zlib
from collections import Counter

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

SEED = 20261125
IR_VERSION = 8
FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64


def case_rng(name, stream=0):
    """A generator seeded by the case name, so adding a case does not change the others."""
    return np.random.default_rng([SEED, zlib.crc32(name.encode()), stream])


class Graph:
    """Collects nodes and initializers with the exporter's naming: "<scope>/<Op>[_k]" for nodes,
    "<node name>_output_<i>" for their outputs, one Constant node per literal."""

    def __init__(self, name, opset):
        self.name = name
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.inputs = []
        self.outputs = []
        self.renames = {}
        self.names = Counter()

    def op(self, op_type, inputs, scope, outputs=1, **attributes):
        base = f"{scope}/{op_type}"
        k = self.names[base]
        self.names[base] += 1
        name = base if k == 0 else f"{base}_{k}"
        results = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), results, name=name, **attributes))
        return results[0] if outputs == 1 else results

    def const(self, value, scope, dtype=None):
        """A Constant node; Python floats are float32 and ints int64, as the exporter types them."""
        if dtype is None:
            flat = np.asarray(value)
            dtype = np.float32 if flat.dtype.kind == "f" else np.int64 if flat.dtype.kind in "iu" else flat.dtype
        array = np.asarray(value, dtype=dtype)
        return self.op("Constant", [], scope, value=numpy_helper.from_array(array))

    def weight(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def input(self, name, elem_type, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, value, name, elem_type, shape):
        """Names a graph output the way the exporter does: by renaming the producing tensor."""
        self.renames[value] = name
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, extra_outputs=()):
        nodes = []
        for original in self.nodes:
            node = onnx.NodeProto()
            node.CopyFrom(original)
            for field in (node.input, node.output):
                for i, tensor in enumerate(field):
                    field[i] = self.renames.get(tensor, tensor)
            nodes.append(node)
        outputs = list(self.outputs) + [helper.make_tensor_value_info(n, FLOAT, None) for n in extra_outputs]
        graph = helper.make_graph(nodes, self.name, self.inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="pytorch", producer_version="2.1.0")
        model.ir_version = IR_VERSION
        return model


# --- exporter idioms -------------------------------------------------------------------------

def dim(g, x, index, scope):
    """x.size(index): Shape -> Gather(scalar index), a 0-d int64."""
    return g.op("Gather", [g.op("Shape", [x], scope), g.const(index, scope)], scope, axis=0)


def unsqueeze(g, x, axes, scope):
    return g.op("Unsqueeze", [x, g.const(list(axes), scope)], scope)


def shape_of(g, scope, pieces):
    """Concat of 1-element pieces: 0-d tensors are Unsqueeze'd, ints become Constant [n]."""
    parts = [g.const([p], scope) if isinstance(p, int) else unsqueeze(g, p, [0], scope) for p in pieces]
    return g.op("Concat", parts, scope, axis=0)


def linear(g, rng, x, fan_in, fan_out, scope, param, std=None):
    """nn.Linear on a 3-d input: MatMul with the transposed weight (an onnx::MatMul_ initializer) and
    Add(bias, product), bias first as the exporter orders it."""
    std = 1.0 / math.sqrt(fan_in) if std is None else std
    w = g.weight(f"onnx::MatMul_{len(g.initializers) + 1000}", rng.normal(0, std, (fan_in, fan_out)).astype(np.float32))
    b = g.weight(f"{param}.bias", rng.normal(0, 0.02, fan_out).astype(np.float32))
    return g.op("Add", [b, g.op("MatMul", [x, w], scope)], scope)


def layer_norm_params(g, rng, param, width):
    gamma = g.weight(f"{param}.weight", rng.uniform(0.8, 1.2, width).astype(np.float32))
    beta = g.weight(f"{param}.bias", rng.normal(0, 0.05, width).astype(np.float32))
    return gamma, beta


def layer_norm_decomposed(g, rng, x, width, scope, param, eps=1e-12):
    gamma, beta = layer_norm_params(g, rng, param, width)
    mean = g.op("ReduceMean", [x], scope, axes=[-1], keepdims=1)
    centered = g.op("Sub", [x, mean], scope)
    square = g.op("Pow", [centered, g.const(2.0, scope)], scope)
    variance = g.op("ReduceMean", [square], scope, axes=[-1], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [variance, g.const(eps, scope)], scope)], scope)
    normalized = g.op("Div", [centered, std], scope)
    return g.op("Add", [g.op("Mul", [normalized, gamma], scope), beta], scope)


def layer_norm_op(g, rng, x, width, scope, param, eps=1e-5):
    gamma, beta = layer_norm_params(g, rng, param, width)
    return g.op("LayerNormalization", [x, gamma, beta], scope, axis=-1, epsilon=eps)


def gelu_erf(g, x, scope):
    scaled = g.op("Div", [x, g.const(1.4142135381698608, scope)], scope)
    shifted = g.op("Add", [g.op("Erf", [scaled], scope), g.const(1.0, scope)], scope)
    return g.op("Mul", [g.op("Mul", [x, shifted], scope), g.const(0.5, scope)], scope)


def gelu_tanh(g, x, scope):
    half = g.op("Mul", [g.const(0.5, scope), x], scope)
    cube = g.op("Pow", [x, g.const(3.0, scope)], scope)
    inner = g.op("Add", [x, g.op("Mul", [g.const(0.044715, scope), cube], scope)], scope)
    tanh = g.op("Tanh", [g.op("Mul", [g.const(math.sqrt(2.0 / math.pi), scope), inner], scope)], scope)
    return g.op("Mul", [half, g.op("Add", [g.const(1.0, scope), tanh], scope)], scope)


def split_heads(g, x, heads, head_size, perm, scope):
    """x.view(x.size()[:-1] + (heads, head_size)).permute(perm)"""
    shape = shape_of(g, scope, [dim(g, x, 0, scope), dim(g, x, 1, scope), heads, head_size])
    return g.op("Transpose", [g.op("Reshape", [x, shape], scope)], scope, perm=perm)


def merge_heads(g, x, hidden, scope):
    """x.permute(0, 2, 1, 3).contiguous().view(batch, seq, hidden)"""
    x = g.op("Transpose", [x], scope, perm=[0, 2, 1, 3])
    shape = shape_of(g, scope, [dim(g, x, 0, scope), dim(g, x, 1, scope), hidden])
    return g.op("Reshape", [x, shape], scope)


# --- BERT --------------------------------------------------------------------------------------

BERT_SMALL = dict(layers=2, hidden=64, heads=4, intermediate=256, vocab=100, positions=64, batch=2, seq=16)
BERT_BASE = dict(layers=12, hidden=768, heads=12, intermediate=3072, vocab=30522, positions=512, batch=1, seq=128)


def build_bert(name, c):
    rng = case_rng(name)
    g = Graph("main_graph", 14)
    hidden, heads = c["hidden"], c["heads"]
    head_size = hidden // heads
    ids = g.input("input_ids", INT64, ["batch", "sequence"])
    mask = g.input("attention_mask", INT64, ["batch", "sequence"])

    s = "/bert"
    extended = unsqueeze(g, unsqueeze(g, mask, [1], s), [2], s)
    extended = g.op("Cast", [extended], s, to=FLOAT)
    extended = g.op("Sub", [g.const(1.0, s), extended], s)
    extended = g.op("Mul", [extended, g.const(-10000.0, s)], s)

    e = "/bert/embeddings"
    word = g.weight("bert.embeddings.word_embeddings.weight", rng.normal(0, 0.02, (c["vocab"], hidden)).astype(np.float32))
    position = g.weight("bert.embeddings.position_embeddings.weight",
                        rng.normal(0, 0.02, (c["positions"], hidden)).astype(np.float32))
    token_type = g.weight("bert.embeddings.token_type_embeddings.weight", rng.normal(0, 0.02, (2, hidden)).astype(np.float32))
    buffered = g.weight("bert.embeddings.token_type_ids", np.zeros((1, c["positions"]), np.int64))
    seq = dim(g, ids, 1, e)
    token_type_ids = g.op("Slice", [buffered, g.const([0], e), unsqueeze(g, seq, [0], e), g.const([1], e), g.const([1], e)], e)
    token_type_ids = g.op("Expand", [token_type_ids, shape_of(g, e, [dim(g, ids, 0, e), dim(g, ids, 1, e)])], e)
    position_ids = g.op("Range", [g.const(0, e), dim(g, ids, 1, e), g.const(1, e)], e)
    position_ids = unsqueeze(g, position_ids, [0], e)
    x = g.op("Gather", [word, ids], f"{e}/word_embeddings")
    x = g.op("Add", [x, g.op("Gather", [token_type, token_type_ids], f"{e}/token_type_embeddings")], e)
    x = g.op("Add", [x, g.op("Gather", [position, position_ids], f"{e}/position_embeddings")], e)
    x = layer_norm_decomposed(g, rng, x, hidden, f"{e}/LayerNorm", "bert.embeddings.LayerNorm")

    for i in range(c["layers"]):
        s = f"/bert/encoder/layer.{i}"
        p = f"bert.encoder.layer.{i}"
        a = f"{s}/attention/self"
        q = linear(g, rng, x, hidden, hidden, f"{a}/query", f"{p}.attention.self.query")
        k = linear(g, rng, x, hidden, hidden, f"{a}/key", f"{p}.attention.self.key")
        v = linear(g, rng, x, hidden, hidden, f"{a}/value", f"{p}.attention.self.value")
        k = split_heads(g, k, heads, head_size, [0, 2, 3, 1], a)
        v = split_heads(g, v, heads, head_size, [0, 2, 1, 3], a)
        q = split_heads(g, q, heads, head_size, [0, 2, 1, 3], a)
        scores = g.op("MatMul", [q, k], a)
        scores = g.op("Div", [scores, g.const(math.sqrt(head_size), a)], a)
        scores = g.op("Add", [scores, extended], a)
        probs = g.op("Softmax", [scores], a, axis=-1)
        context = merge_heads(g, g.op("MatMul", [probs, v], a), hidden, a)
        out = linear(g, rng, context, hidden, hidden, f"{s}/attention/output/dense", f"{p}.attention.output.dense")
        out = g.op("Add", [out, x], f"{s}/attention/output")
        x = layer_norm_decomposed(g, rng, out, hidden, f"{s}/attention/output/LayerNorm", f"{p}.attention.output.LayerNorm")
        h = linear(g, rng, x, hidden, c["intermediate"], f"{s}/intermediate/dense", f"{p}.intermediate.dense")
        h = gelu_erf(g, h, f"{s}/intermediate/intermediate_act_fn")
        h = linear(g, rng, h, c["intermediate"], hidden, f"{s}/output/dense", f"{p}.output.dense")
        h = g.op("Add", [h, x], f"{s}/output")
        x = layer_norm_decomposed(g, rng, h, hidden, f"{s}/output/LayerNorm", f"{p}.output.LayerNorm")

    s = "/bert/pooler"
    first = g.op("Gather", [x, g.const(0, s)], s, axis=1)
    pooled = g.op("Tanh", [linear(g, rng, first, hidden, hidden, f"{s}/dense", "bert.pooler.dense")], f"{s}/activation")
    g.output(x, "last_hidden_state", FLOAT, ["batch", "sequence", hidden])
    g.output(pooled, "pooler_output", FLOAT, ["batch", hidden])

    data = case_rng(name, 1)
    batch, length = c["batch"], c["seq"]
    feed_ids = data.integers(0, c["vocab"], (batch, length)).astype(np.int64)
    feed_mask = np.ones((batch, length), np.int64)
    feed_mask[-1, length - max(1, length // 4):] = 0     # the last row has padding at its end
    feed_ids[feed_mask == 0] = 0
    return g.model(), {"input_ids": feed_ids, "attention_mask": feed_mask}


# --- GPT-2 -------------------------------------------------------------------------------------

GPT2_SMALL = dict(layers=2, hidden=64, heads=4, vocab=100, positions=64, batch=2, seq=16)
GPT2_BASE = dict(layers=12, hidden=768, heads=12, vocab=50257, positions=1024, batch=1, seq=128)


def build_gpt2(name, c):
    rng = case_rng(name)
    g = Graph("main_graph", 17)
    hidden, heads = c["hidden"], c["heads"]
    head_size = hidden // heads
    ids = g.input("input_ids", INT64, ["batch", "sequence"])

    s = "/transformer"
    wte_array = rng.normal(0, 0.02, (c["vocab"], hidden)).astype(np.float32)
    wte = g.weight("transformer.wte.weight", wte_array)
    wpe = g.weight("transformer.wpe.weight", rng.normal(0, 0.02, (c["positions"], hidden)).astype(np.float32))
    causal = g.weight("transformer.h.0.attn.bias", np.tril(np.ones((c["positions"], c["positions"]), bool))[None, None])
    batch = dim(g, ids, 0, s)
    seq = dim(g, ids, 1, s)
    flat_ids = g.op("Reshape", [ids, shape_of(g, s, [-1, seq])], s)
    position_ids = g.op("Range", [g.const(0, s), seq, g.const(1, s)], s)
    position_ids = unsqueeze(g, position_ids, [0], s)
    x = g.op("Gather", [wte, flat_ids], f"{s}/wte")
    x = g.op("Add", [x, g.op("Gather", [wpe, position_ids], f"{s}/wpe")], s)

    def conv1d(x, fan_in, fan_out, scope, param):
        w = g.weight(f"{param}.weight", rng.normal(0, 1.0 / math.sqrt(fan_in), (fan_in, fan_out)).astype(np.float32))
        b = g.weight(f"{param}.bias", rng.normal(0, 0.02, fan_out).astype(np.float32))
        return g.op("Add", [g.op("MatMul", [x, w], scope), b], scope)

    for i in range(c["layers"]):
        s = f"/transformer/h.{i}"
        p = f"transformer.h.{i}"
        a = f"{s}/attn"
        h = layer_norm_op(g, rng, x, hidden, f"{s}/ln_1", f"{p}.ln_1")
        qkv = conv1d(h, hidden, 3 * hidden, f"{a}/c_attn", f"{p}.attn.c_attn")
        q, k, v = g.op("Split", [qkv, g.const([hidden] * 3, a)], a, outputs=3, axis=2)
        q = split_heads(g, q, heads, head_size, [0, 2, 1, 3], a)
        k = split_heads(g, k, heads, head_size, [0, 2, 1, 3], a)
        v = split_heads(g, v, heads, head_size, [0, 2, 1, 3], a)
        scores = g.op("MatMul", [q, g.op("Transpose", [k], a, perm=[0, 1, 3, 2])], a)
        scores = g.op("Div", [scores, g.const(math.sqrt(head_size), a)], a)
        query_length, key_length = dim(g, q, 2, a), dim(g, k, 2, a)
        start = g.op("Sub", [key_length, query_length], a)
        mask = g.op("Slice", [causal, unsqueeze(g, start, [0], a), unsqueeze(g, key_length, [0], a),
                              g.const([2], a), g.const([1], a)], a)
        mask = g.op("Slice", [mask, g.const([0], a), unsqueeze(g, key_length, [0], a), g.const([3], a), g.const([1], a)], a)
        scores = g.op("Where", [mask, scores, g.const(np.finfo(np.float32).min, a)], a)
        probs = g.op("Softmax", [scores], a, axis=-1)
        context = merge_heads(g, g.op("MatMul", [probs, v], a), hidden, a)
        out = conv1d(context, hidden, hidden, f"{a}/c_proj", f"{p}.attn.c_proj")
        x = g.op("Add", [out, x], s)
        h = layer_norm_op(g, rng, x, hidden, f"{s}/ln_2", f"{p}.ln_2")
        h = conv1d(h, hidden, 4 * hidden, f"{s}/mlp/c_fc", f"{p}.mlp.c_fc")
        h = gelu_tanh(g, h, f"{s}/mlp/act")
        h = conv1d(h, 4 * hidden, hidden, f"{s}/mlp/c_proj", f"{p}.mlp.c_proj")
        x = g.op("Add", [x, h], s)

    s = "/transformer"
    x = layer_norm_op(g, rng, x, hidden, f"{s}/ln_f", "transformer.ln_f")
    x = g.op("Reshape", [x, shape_of(g, s, [batch, seq, hidden])], s)
    lm_head = g.weight("onnx::MatMul_lm_head", np.ascontiguousarray(wte_array.T))
    logits = g.op("MatMul", [x, lm_head], "/lm_head")
    g.output(logits, "logits", FLOAT, ["batch", "sequence", c["vocab"]])

    data = case_rng(name, 1)
    return g.model(), {"input_ids": data.integers(0, c["vocab"], (c["batch"], c["seq"])).astype(np.int64)}


# --- CNNs: calibrated normalization ------------------------------------------------------------

class ConvNet(Graph):
    """Conv + batch norm in three modes. calibrate: the norm is InstanceNormalization (batch-1 batch
    statistics) and each conv output is recorded; with stats: BatchNormalization whose running
    statistics are the recorded ones, slightly perturbed, or (fold=True) the same folded into the
    conv weight and bias as the exporter does in eval mode."""

    def __init__(self, name, opset, stats, fold):
        super().__init__("main_graph", opset)
        self.rng = case_rng(name)
        self.noise = case_rng(name, 2)
        self.stats = stats
        self.fold = fold
        self.calibration = {}

    def conv_norm(self, x, cin, cout, kernel, stride, scope, param, group=1, pad=None, eps=1e-5):
        pad = kernel // 2 if pad is None else pad
        fan_in = cin // group * kernel * kernel
        w = self.rng.normal(0, math.sqrt(2.0 / fan_in), (cout, cin // group, kernel, kernel)).astype(np.float32)
        gamma = self.rng.uniform(0.6, 1.2, cout).astype(np.float32)
        beta = self.rng.normal(0.1, 0.2, cout).astype(np.float32)
        attributes = dict(dilations=[1, 1], group=group, kernel_shape=[kernel, kernel], pads=[pad] * 4, strides=[stride] * 2)
        if self.stats is None:
            y = self.op("Conv", [x, self.weight(f"{param}.conv.weight", w)], scope, **attributes)
            self.calibration[param] = y
            return self.op("InstanceNormalization", [y, self.weight(f"{param}.bn.weight", gamma),
                                                     self.weight(f"{param}.bn.bias", beta)], scope, epsilon=eps)
        mean, variance = self.stats[param]
        mean = (mean + self.noise.normal(0, 0.05, cout) * np.sqrt(variance)).astype(np.float32)
        variance = (variance * self.noise.uniform(0.9, 1.1, cout)).astype(np.float32)
        if self.fold:
            factor = gamma / np.sqrt(variance + eps)
            w_folded = (w * factor[:, None, None, None]).astype(np.float32)
            b_folded = (beta - mean * factor).astype(np.float32)
            return self.op("Conv", [x, self.weight(f"onnx::Conv_{len(self.initializers) + 500}", w_folded),
                                    self.weight(f"onnx::Conv_{len(self.initializers) + 500}", b_folded)], scope, **attributes)
        y = self.op("Conv", [x, self.weight(f"{param}.conv.weight", w)], scope, **attributes)
        return self.op("BatchNormalization", [y, self.weight(f"{param}.bn.weight", gamma), self.weight(f"{param}.bn.bias", beta),
                                              self.weight(f"{param}.bn.running_mean", mean),
                                              self.weight(f"{param}.bn.running_var", variance)],
                       scope, epsilon=eps, momentum=0.97)


def calibrated(build, name, image, sampler, images=4):
    """Builds once with instance norms and runs it on the test image and a few more drawn by
    `sampler`; the running statistics are each conv output's per-channel mean and variance over
    all images and positions, as training would accumulate them. (Statistics of the test image
    alone are too narrow for the 4x4 maps of yolo_small: channels that are nearly constant across
    positions get a tiny variance, and any perturbation upstream is then blown up.) The second
    build uses those statistics."""
    net = build(name, None)
    model = net.model(extra_outputs=list(net.calibration.values()))
    session = make_session(model.SerializeToString())
    names = list(net.calibration)
    rng = case_rng(name, 3)
    batches = [session.run([net.calibration[n] for n in names], {net.inputs[0].name: sample})
               for sample in [image] + [sampler(rng) for _ in range(images - 1)]]
    stats = {}
    for k, n in enumerate(names):
        values = np.concatenate([batch[k] for batch in batches]).astype(np.float64)
        stats[n] = (values.mean(axis=(0, 2, 3)), values.var(axis=(0, 2, 3)))
    return build(name, stats).model(), {net.inputs[0].name: image}


# --- YOLO --------------------------------------------------------------------------------------

ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
STRIDES = [8, 16, 32]
CLASSES = 80


def yolo_builder(size):
    def build(name, stats):
        g = ConvNet(name, 17, stats, fold=False)
        x = g.input("images", FLOAT, [1, 3, size, size])

        def conv(x, cin, cout, k, s, index, pad=None):
            scope = f"/model.{index}"
            param = f"model.{index}".replace("/", ".")
            y = g.conv_norm(x, cin, cout, k, s, f"{scope}/conv", param, pad=pad, eps=1e-3)
            return g.op("Mul", [y, g.op("Sigmoid", [y], f"{scope}/act")], f"{scope}/act")

        def c3(x, cin, cout, index, shortcut=True):
            hidden = cout // 2
            a = conv(x, cin, hidden, 1, 1, f"{index}/cv1")
            b = conv(x, cin, hidden, 1, 1, f"{index}/cv2")
            y = conv(conv(a, hidden, hidden, 1, 1, f"{index}/m/m.0/cv1"), hidden, hidden, 3, 1, f"{index}/m/m.0/cv2")
            if shortcut:
                y = g.op("Add", [a, y], f"/model.{index}/m/m.0")
            return conv(g.op("Concat", [y, b], f"/model.{index}", axis=1), 2 * hidden, cout, 1, 1, f"{index}/cv3")

        def sppf(x, channels, index):
            hidden = channels // 2
            y = [conv(x, channels, hidden, 1, 1, f"{index}/cv1")]
            for _ in range(3):
                y.append(g.op("MaxPool", [y[-1]], f"/model.{index}/m", ceil_mode=0, dilations=[1, 1],
                              kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[1, 1]))
            return conv(g.op("Concat", y, f"/model.{index}", axis=1), 4 * hidden, channels, 1, 1, f"{index}/cv2")

        def upsample(x, index):
            scope = f"/model.{index}"
            return g.op("Resize", [x, "", g.const([1.0, 1.0, 2.0, 2.0], scope)], scope,
                        coordinate_transformation_mode="asymmetric", cubic_coeff_a=-0.75, mode="nearest", nearest_mode="floor")

        x = conv(x, 3, 16, 6, 2, 0, pad=2)
        x = c3(conv(x, 16, 32, 3, 2, 1), 32, 32, 2)
        p3 = c3(conv(x, 32, 64, 3, 2, 3), 64, 64, 4)
        p4 = c3(conv(p3, 64, 96, 3, 2, 5), 96, 96, 6)
        p5 = sppf(c3(conv(p4, 96, 128, 3, 2, 7), 128, 128, 8), 128, 9)
        lateral5 = conv(p5, 128, 96, 1, 1, 10)
        x = g.op("Concat", [upsample(lateral5, 11), p4], "/model.12", axis=1)
        lateral4 = conv(c3(x, 192, 96, 13, shortcut=False), 96, 64, 1, 1, 14)
        x = g.op("Concat", [upsample(lateral4, 15), p3], "/model.16", axis=1)
        out3 = c3(x, 128, 64, 17, shortcut=False)
        x = g.op("Concat", [conv(out3, 64, 64, 3, 2, 18), lateral4], "/model.19", axis=1)
        out4 = c3(x, 128, 96, 20, shortcut=False)
        x = g.op("Concat", [conv(out4, 96, 96, 3, 2, 21), lateral5], "/model.22", axis=1)
        out5 = c3(x, 192, 128, 23, shortcut=False)

        outputs = 5 + CLASSES
        levels = []
        for i, (features, channels) in enumerate([(out3, 64), (out4, 96), (out5, 128)]):
            s = "/model.24"
            stride = STRIDES[i]
            cells = size // stride
            w = g.rng.normal(0, math.sqrt(1.0 / (3 * channels)), (3 * outputs, channels, 1, 1))
            w = g.weight(f"model.24.m.{i}.weight", w.astype(np.float32))
            b = g.weight(f"model.24.m.{i}.bias", g.rng.normal(-1.0, 0.5, 3 * outputs).astype(np.float32))
            y = g.op("Conv", [features, w, b], f"{s}/m.{i}", dilations=[1, 1], group=1, kernel_shape=[1, 1],
                     pads=[0] * 4, strides=[1, 1])
            y = g.op("Reshape", [y, g.const([1, 3, outputs, cells, cells], s)], s)
            y = g.op("Sigmoid", [g.op("Transpose", [y], s, perm=[0, 1, 3, 4, 2])], s)
            xy, wh, confidence = g.op("Split", [y, g.const([2, 2, outputs - 4], s)], s, outputs=3, axis=4)
            yv, xv = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
            grid = np.broadcast_to(np.stack([xv, yv], 2)[None, None], (1, 3, cells, cells, 2)).astype(np.float32) - 0.5
            anchor_grid = np.broadcast_to(np.array(ANCHORS[i], np.float32).reshape(1, 3, 1, 1, 2), (1, 3, cells, cells, 2))
            xy = g.op("Mul", [g.op("Add", [g.op("Mul", [xy, g.const(2.0, s)], s), g.weight(f"onnx::Add_grid{i}", grid)], s),
                              g.const(float(stride), s)], s)
            wh = g.op("Pow", [g.op("Mul", [wh, g.const(2.0, s)], s), g.const(2.0, s)], s)
            wh = g.op("Mul", [wh, g.weight(f"onnx::Mul_anchor_grid{i}", anchor_grid.copy())], s)
            y = g.op("Concat", [xy, wh, confidence], s, axis=4)
            levels.append(g.op("Reshape", [y, g.const([1, 3 * cells * cells, outputs], s)], s))
        anchors = sum(3 * (size // stride) ** 2 for stride in STRIDES)
        g.output(g.op("Concat", levels, "/model.24", axis=1), "output0", FLOAT, [1, anchors, outputs])
        return g
    return build


def build_yolo(name, size):
    def sample(rng):
        return rng.uniform(0, 1, (1, 3, size, size)).astype(np.float32)
    return calibrated(yolo_builder(size), name, sample(case_rng(name, 1)), sample)


# --- MobileNetV2 -------------------------------------------------------------------------------

MOBILENET_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_build(name, stats):
    g = ConvNet(name, 17, stats, fold=True)
    x = g.input("input", FLOAT, [1, 3, 224, 224])

    def relu6(x, scope):
        return g.op("Clip", [x, g.const(0.0, scope), g.const(6.0, scope)], scope)

    x = relu6(g.conv_norm(x, 3, 32, 3, 2, "/features/features.0/features.0.0", "features.0"), "/features/features.0/features.0.2")
    channels, index = 32, 1
    for expand, out, repeats, first_stride in MOBILENET_BLOCKS:
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            hidden = channels * expand
            s, p = f"/features/features.{index}/conv", f"features.{index}.conv"
            y, layer = x, 0
            if expand != 1:
                y = g.conv_norm(y, channels, hidden, 1, 1, f"{s}/conv.0/conv.0.0", f"{p}.0")
                y, layer = relu6(y, f"{s}/conv.0/conv.0.2"), 1
            y = g.conv_norm(y, hidden, hidden, 3, stride, f"{s}/conv.{layer}/conv.{layer}.0", f"{p}.{layer}", group=hidden)
            y = relu6(y, f"{s}/conv.{layer}/conv.{layer}.2")
            y = g.conv_norm(y, hidden, out, 1, 1, f"{s}/conv.{layer + 1}", f"{p}.{layer + 1}")
            x = g.op("Add", [x, y], f"/features/features.{index}") if stride == 1 and channels == out else y
            channels, index = out, index + 1
    s = f"/features/features.{index}"
    x = relu6(g.conv_norm(x, channels, 1280, 1, 1, f"{s}/features.{index}.0", f"features.{index}"), f"{s}/features.{index}.2")
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x], "")], "", axis=1)
    w = g.weight("classifier.1.weight", g.rng.normal(0, math.sqrt(1.0 / 1280), (1000, 1280)).astype(np.float32))
    b = g.weight("classifier.1.bias", g.rng.normal(0, 0.02, 1000).astype(np.float32))
    g.output(g.op("Gemm", [x, w, b], "/classifier/classifier.1", alpha=1.0, beta=1.0, transB=1), "output", FLOAT, [1, 1000])
    return g


def build_mobilenet(name):
    def sample(rng):
        return rng.normal(0, 1, (1, 3, 224, 224)).astype(np.float32)   # a normalized image
    return calibrated(mobilenet_build, name, sample(case_rng(name, 1)), sample)


# --- driver ------------------------------------------------------------------------------------

CASES = {
    "bert_small": lambda: build_bert("bert_small", BERT_SMALL),
    "gpt2_small": lambda: build_gpt2("gpt2_small", GPT2_SMALL),
    "yolo_small": lambda: build_yolo("yolo_small", 128),
    "yolo_640": lambda: build_yolo("yolo_640", 640),
    "mobilenet_v2": lambda: build_mobilenet("mobilenet_v2"),
}
LARGE_CASES = {
    "bert_base": lambda: build_bert("bert_base", BERT_BASE),
    "gpt2_base": lambda: build_gpt2("gpt2_base", GPT2_BASE),
}


def make_session(model, threads=1, optimized=False):
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = (onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL if optimized
                                        else onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def histogram(model):
    counts = Counter(node.op_type for node in model.graph.node)
    return ", ".join(f"{op} {n}" for op, n in counts.most_common())


def write_case(case, name, build):
    data = case / "test_data_set_0"
    started = time.perf_counter()
    model, feeds = build()
    onnx.checker.check_model(model)
    print(f"  {len(model.graph.node)} nodes: {histogram(model)}", file=sys.stderr)
    serialized = model.SerializeToString()
    session = make_session(serialized)
    names = [info.name for info in session.get_inputs()]
    outputs = session.run(None, {n: feeds[n] for n in names})
    for info, value in zip(session.get_outputs(), outputs):
        if not np.isfinite(value).all() or not value.std() > 0:
            sys.exit(f"{name}: degenerate reference output {info.name} (std {value.std()}); adjust the weight scales")
        print(f"  {info.name}: shape {value.shape}, mean {value.mean():.4g}, std {value.std():.4g}, "
              f"max |x| {np.abs(value).max():.4g}", file=sys.stderr)
    data.mkdir(parents=True, exist_ok=True)
    (case / "model.onnx").write_bytes(serialized)
    for k, n in enumerate(names):
        (data / f"input_{k}.pb").write_bytes(numpy_helper.from_array(feeds[n], n).SerializeToString())
    for k, (info, value) in enumerate(zip(session.get_outputs(), outputs)):
        (data / f"output_{k}.pb").write_bytes(numpy_helper.from_array(value, info.name).SerializeToString())
    print(f"  written in {time.perf_counter() - started:.1f} s ({len(serialized) / 1e6:.1f} MB)", file=sys.stderr)


def bench(case, runs):
    """Median latency of onnxruntime with one thread, unoptimized (as the reference) and with all
    graph optimizations."""
    model = case / "model.onnx"
    data = case / "test_data_set_0"
    results = []
    for optimized in (False, True):
        session = make_session(str(model), threads=1, optimized=optimized)
        feeds = {}
        for k, info in enumerate(session.get_inputs()):
            tensor = onnx.TensorProto()
            tensor.ParseFromString((data / f"input_{k}.pb").read_bytes())
            feeds[info.name] = numpy_helper.to_array(tensor)
        session.run(None, feeds)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - started)
        results.append(1000 * float(np.median(times)))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--large", action="store_true", help="also write bert_base and gpt2_base (for benchmarks)")
    parser.add_argument("--only", action="append", help="write only this case (repeatable)")
    parser.add_argument("--bench", action="store_true", help="time onnxruntime (1 thread) on the written cases")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case for --bench")
    args = parser.parse_args()

    cases = dict(CASES)
    if args.large:
        cases.update(LARGE_CASES)
    if args.only:
        unknown = set(args.only) - set(CASES) - set(LARGE_CASES)
        if unknown:
            sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}")
        cases = {n: b for n, b in {**CASES, **LARGE_CASES}.items() if n in args.only}
    for name, build in cases.items():
        case = args.out_dir / name
        if (case / "model.onnx").exists() and (case / "test_data_set_0" / "output_0.pb").exists():
            print(f"{name}: exists, skipped", file=sys.stderr)
            continue
        print(f"writing {case}", file=sys.stderr)
        write_case(case, name, build)
    if args.bench:
        for name in cases:
            case = args.out_dir / name
            if case.exists():
                plain, optimized = bench(case, args.runs)
                print(f"{name}: onnxruntime 1 thread {plain:.2f} ms (ORT_DISABLE_ALL), {optimized:.2f} ms (ORT_ENABLE_ALL)",
                      file=sys.stderr)


if __name__ == "__main__":
    main()
