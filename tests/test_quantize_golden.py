"""The quantizer and QAT's fake quantization against docs/quantization.md, recomputed here
from the formulas in the doc with plain loops (no code shared with quantize/quantizer.py):
shifts, int8 weights and int32 biases with the rounding term, on a crafted float model
whose biases need far more than 16 bits."""

import math

import numpy as np

from digit51.quantize import ops
from digit51.quantize.quantizer import QuantConfig, _round, quantize
from digit51.trainer.config import TrainConfig
from digit51.trainer.model_file import FloatModel


def half_away(v: float) -> int:
    """Round half away from zero (docs: 'Rounding of weights and biases is half away from zero')."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def doc_quantize(params, x_u8, percentile):
    """(weights, biases, shifts) by the doc: s_in = 1/255 for the pixels; hidden layers map
    the `percentile` of their float activations to 255 and give neuron j the largest shift
    0..31 with max|W[j]| / s_w[j] <= 127, s_w[j] = s_out 2^-sh / s_in; the output layer uses
    s_w = max|W| / 127; bias = round(b / (s_in s_w)) + 2^(sh-1) (nothing when sh = 0)."""
    s_in, x = 1 / 255, x_u8
    n = len(params) // 2
    weights, biases, shifts = [], [], []
    for layer in range(n):
        W, b = params[2 * layer].astype(np.float64), params[2 * layer + 1].astype(np.float64)
        z = (x.astype(np.float64) * s_in) @ W.T + b
        q, bias, sh = np.zeros(W.shape, np.int8), np.zeros(len(b), np.int32), np.zeros(len(b), np.uint8)
        if layer < n - 1:
            s_out = float(np.percentile(np.maximum(z, 0), percentile)) / 255
        for j in range(W.shape[0]):
            if layer < n - 1:
                sh[j] = next((s for s in range(31, -1, -1) if np.abs(W[j]).max() / (s_out * 2.0**-s / s_in) <= 127), 0)
                s_w = s_out * 2.0 ** -int(sh[j]) / s_in
                rounding = 2 ** (int(sh[j]) - 1) if sh[j] else 0
            else:
                s_w, rounding = np.abs(W).max() / 127, 0
            q[j] = [max(-127, min(127, half_away(v / s_w))) for v in W[j]]
            bias[j] = half_away(b[j] / (s_in * s_w)) + rounding
        weights.append(q)
        biases.append(bias)
        if layer < n - 1:
            shifts.append(sh)
            x = ops.relu_requant(ops.dense(x, q, bias), sh)
            s_in = s_out
    return weights, biases, shifts


def crafted_float_model() -> FloatModel:
    """49-12-8-10 with weights of very different sizes per neuron and biases that quantize
    to hundreds of thousands (int16 would clip them). Neuron 11 of layer 0 has weights so
    large and negative (its activations stay 0) that even shift 0 cannot hold them: they
    saturate at -127."""
    rng = np.random.default_rng(21)
    sizes = [49, 12, 8, 10]
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        scale = np.exp(rng.uniform(-4, 0, (o, 1)))  # per-neuron weight magnitude
        params.append((rng.standard_normal((o, i)) * scale).astype(np.float32))
        params.append(rng.uniform(0.5, 3.0, o).astype(np.float32))
    params[0][11] = -rng.uniform(400, 800, 49)
    return FloatModel(params, TrainConfig(hidden=(12, 8), pool=4), {}, 0)


def test_quantizer_matches_the_formulas_of_the_doc(mnist_data):
    model = crafted_float_model()
    calib = mnist_data.train_images[:300]
    got = quantize(model, calib, QuantConfig())
    weights, biases, shifts = doc_quantize(model.params, model.preprocess(calib), QuantConfig().percentile)
    for layer in range(3):
        assert np.array_equal(got.weights[layer], weights[layer]), layer
        assert np.array_equal(got.biases[layer], biases[layer]), layer
    for layer in range(2):
        assert np.array_equal(got.shifts[layer], shifts[layer]), layer
    # what the comparison relies on: biases beyond int16, and rounding terms that are not 0
    assert max(int(np.abs(b).max()) for b in biases) > 2**17
    assert all(int(s.max()) >= 2 for s in shifts)
    assert shifts[0][11] == 0 and (weights[0][11] == -127).sum() > 10 and got.meta["layers"][0]["weight_clip_rate"] > 0


def test_rounding_is_half_away_from_zero():
    halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 0.49999])
    assert _round(halves).tolist() == [1, 2, 3, -1, -2, -3, 127, 0]


def test_qat_fake_quantization_is_the_quantizers_grid(mnist_data):
    """QAT's forward pass must see exactly the weights the quantizer will ship (the int8
    values times their scale) and activations on the uint8 grid of each layer's scale."""
    from digit51.quantize import qat

    model = crafted_float_model()
    calib = mnist_data.train_images[:300]
    q = quantize(model, calib, QuantConfig(calibration_images=300))
    scales = [layer["output_scale"] for layer in q.meta["layers"][:-1]]
    weight_hook, act_hook = qat.hooks(model, scales, per_tensor=False)
    in_scales = [1 / 255, *scales]
    for layer in range(3):
        W = model.params[2 * layer]
        if layer < 2:
            s_w = scales[layer] * np.exp2(-q.shifts[layer].astype(np.float64)) / in_scales[layer]
        else:
            s_w = np.full(W.shape[0], np.abs(W).max() / 127)
        grid = weight_hook(layer, W) / s_w[:, None]
        assert np.abs(grid - np.rint(grid)).max() < 1e-3  # on the int8 grid (float32 products)
        assert np.array_equal(np.rint(grid).astype(np.int8), q.weights[layer]), layer
    h = np.random.default_rng(2).uniform(0, 300 * scales[0], (50, 12)).astype(np.float32)
    levels = act_hook(0, h) / scales[0]
    assert np.abs(levels - np.rint(levels)).max() < 1e-3 and levels.max() == 255
    assert np.array_equal(np.rint(levels), np.minimum(np.floor(h / np.float32(scales[0]) + 0.5), 255))
