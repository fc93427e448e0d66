"""docs/quantization.md stands alone: its worked examples agree with the integer simulator."""

import re
from pathlib import Path

import numpy as np

from digit51.quantize import ops, simulate
from digit51.trainer import preprocess

DOC = Path(__file__).resolve().parent.parent / "docs" / "quantization.md"


def examples():
    block = re.search(r"```examples\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/quantization.md has no worked examples"
    for line in block[1].strip().splitlines():
        op, rest = line.split(None, 1)
        args, result = rest.split("->")
        kv = dict(a.split("=") for a in args.split())
        yield op, {k: [int(v) for v in val.split(",")] for k, val in kv.items()}, [int(v) for v in result.split(",")]


def compute(op, a):
    if op == "pool":
        k = a["k"][0]
        img = np.zeros((1, 28, 28), np.uint8)
        img[0, :k, :k] = np.array(a["block"], np.uint8).reshape(k, k)
        return [int(ops.pool(img, k)[0, 0])]
    if op == "order":
        k, (r, c) = a["k"][0], a["pixel"]
        img = np.zeros((1, 28, 28), np.uint8)
        img[0, r, c] = 255
        return [int(i) for i in np.flatnonzero(ops.pool(img, k)[0])]
    if op == "bias":
        return [a["b"][0] + ((1 << a["sh"][0]) >> 1)]  # what quantizer.quantize stores
    if op == "dense":
        x, w = np.array([a["x"]], np.uint8), np.array([a["w"]], np.int8)
        return [int(ops.dense(x, w, np.array(a["B"], np.int32))[0, 0])]
    if op == "requant":
        return [int(ops.relu_requant(np.array([a["acc"]], np.int32), np.array(a["sh"], np.uint8))[0, 0])]
    if op == "slant":
        return [int(v[0]) for v in preprocess.slant(*(np.array(a[k]) for k in ("S", "Sy", "Syy", "Sx", "Syx")))]
    if op == "shear":
        (col, value), y = a["px"], a["y"][0]
        img = np.zeros((1, 28, 28), np.uint8)
        img[0, y, col] = value
        out = preprocess.shear(img, np.array(a["my"]), np.array(a["alpha"]))[0]
        assert not np.delete(out, y, axis=0).any()
        return [int(v) for i in np.flatnonzero(out[y]) for v in (i, out[y, i])]
    if op == "conv3x3":
        x, w = np.array(a["x"], np.uint8).reshape(1, 1, 3, 3), np.array(a["w"], np.int8).reshape(1, 1, 3, 3)
        return [int(ops.conv3x3(x, w, np.array(a["B"], np.int32))[0, 0, 0, 0])]
    if op == "dwconv3x3":
        x, w = np.array(a["x"], np.uint8).reshape(1, -1, 3, 3), np.array(a["w"], np.int8).reshape(-1, 3, 3)
        return [int(v) for v in ops.dwconv3x3(x, w, np.array(a["B"], np.int32))[0, :, 0, 0]]
    if op == "conv1x1":
        x, w = np.array(a["x"], np.uint8).reshape(1, -1, 1, 1), np.array([a["w"]], np.int8)
        return [int(ops.conv1x1(x, w, np.array(a["B"], np.int32))[0, 0, 0, 0])]
    if op == "maxpool2":
        return [int(ops.maxpool2(np.array(a["block"], np.uint8).reshape(1, 1, 2, 2))[0, 0, 0, 0])]
    if op == "flatten":
        m = np.zeros((1, *a["shape"]), np.uint8)
        m[(0, *a["at"])] = 1
        acts = simulate.graph_flatten(m)
        return [int(i) for i in np.flatnonzero(acts[0])]
    if op == "argmax":
        return [int(ops.argmax(np.array([a["logits"]], np.int32))[0])]
    raise AssertionError(f"unknown example op {op}")


def test_worked_examples_match_the_simulator():
    seen = set()
    for op, args, result in examples():
        assert compute(op, args) == result, (op, args, result)
        seen.add(op)
    assert seen == {"pool", "order", "bias", "dense", "requant", "argmax", "slant", "shear",
                    "conv3x3", "dwconv3x3", "conv1x1", "maxpool2", "flatten"}


def test_bias_example_is_what_the_quantizer_stores():
    """The `bias` rule in the doc against quantize(): B = round(b / (s_in s_w)) + 2^(sh-1)."""
    from digit51.quantize.quantizer import quantize
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.model_file import FloatModel

    rng = np.random.default_rng(0)
    params = [rng.standard_normal((4, 49)).astype(np.float32) * 0.3, rng.standard_normal(4).astype(np.float32),
              rng.standard_normal((10, 4)).astype(np.float32), np.zeros(10, np.float32)]
    model = FloatModel(params, TrainConfig(hidden=(4,), pool=4), {}, 1)
    images = rng.integers(0, 256, (200, 28, 28)).astype(np.uint8)
    q = quantize(model, images)
    sh = q.shifts[0].astype(np.int64)
    s_in = 1 / 255
    s_out = q.meta["layers"][0]["output_scale"]
    s_w = s_out * np.exp2(-sh) / s_in
    real = params[1].astype(np.float64) / (s_in * s_w)
    expected = np.sign(real) * np.floor(np.abs(real) + 0.5) + ((1 << sh) >> 1)
    assert np.array_equal(q.biases[0].astype(np.int64), expected.astype(np.int64))
