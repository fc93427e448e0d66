"""Float model -> integer model. All float math of the scheme happens here, once.

Scheme (docs/quantization.md): uint8 activations with one scale per layer chosen on
calibration images; int8 weights; each hidden neuron j gets a shift sh_j and the
weight scale s_w[j] = s_out * 2**-sh_j / s_in, the largest that keeps its weights
within +-127 (power-of-two requantization); the output layer uses one weight scale
(argmax needs comparable logits). Biases are int32 with the rounding term folded in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from digit51.quantize import ops
from digit51.quantize.model_file import IntModel
from digit51.quantize.simulate import weighted_op
from digit51.trainer.errors import Digit51Error
from digit51.trainer.model_file import FloatModel

MAX_SHIFT = 31


@dataclass(frozen=True)
class QuantConfig:
    calibration_images: int = 5000  # first N training images
    percentile: float = 99.99  # activation range: this percentile of calibration activations
    per_tensor: bool = False  # one weight scale per hidden layer instead of per neuron

    def __post_init__(self):
        if not 0 < self.percentile <= 100 or self.calibration_images < 1:
            raise ValueError("percentile must be in (0, 100] and calibration_images >= 1")


def _round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (numpy's default rounds half to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _shifts(W: np.ndarray, s_in: float, s_out: float, per_tensor: bool) -> np.ndarray:
    """Largest shift per neuron such that |W / s_w| <= 127 with s_w = s_out 2^-sh / s_in."""
    m = np.abs(W).max(axis=1)
    if per_tensor:
        m = np.full_like(m, m.max())
    with np.errstate(divide="ignore"):
        sh = np.floor(np.log2(127.0 * s_out / (np.maximum(m, 1e-30) * s_in)))
    return np.clip(sh, 0, MAX_SHIFT).astype(np.uint8)


def _scale_layer(W: np.ndarray, b: np.ndarray, z: np.ndarray, s_in: float, hidden: bool, cfg: QuantConfig, where: str):
    """(q int8 shaped as W, bias int32, shifts or None, s_out, s_w, weight clip rate, bound)
    of one weighted layer: W (out, ...) float64 (a row per neuron or output channel), z its
    float output on the quantized input. Refuses a layer whose int32 sums could wrap."""
    rows = W.reshape(len(W), -1)
    if hidden:
        a = np.maximum(z, 0)
        top = float(np.percentile(a, cfg.percentile))
        s_out = (top if top > 0 else float(a.max()) or 1.0) / 255.0
        sh = _shifts(rows, s_in, s_out, cfg.per_tensor)
        s_w = s_out * np.exp2(-sh.astype(np.float64)) / s_in
        rounding = (np.int64(1) << sh.astype(np.int64)) >> 1
    else:
        s_w = np.full(len(W), np.abs(W).max() / 127.0 or 1.0)
        s_out, sh, rounding = None, None, 0
    q = _round(rows / s_w[:, None])
    weight_clip = float(np.mean(np.abs(q) > 127))
    q = np.clip(q, -127, 127).astype(np.int8)
    bias64 = _round(b / (s_in * s_w)).astype(np.int64) + rounding
    bound = ops.accumulator_bound(q, bias64)
    if bound.max() > ops.INT32_MAX:
        j = int(bound.argmax())
        raise Digit51Error(
            f"{where} {j}: worst-case accumulator {int(bound[j])} exceeds int32; "
            "retrain with weight decay (--weight-decay) or quantize with --per-tensor"
        )
    return q.reshape(W.shape), bias64.astype(np.int32), sh, s_out, s_w, weight_clip, bound


def _outputs(acc: np.ndarray, z: np.ndarray, sh, s_out, s_in: float, s_w: np.ndarray, entry: dict) -> np.ndarray:
    """The layer's integer output (uint8 activations, or the int32 logits when sh is None);
    adds its error figures to the report `entry`."""
    if sh is None:
        err = np.abs(acc.astype(np.float64) * (s_in * s_w) - z)
        entry.update(logit_scale=float(s_in * s_w[0]), max_error=float(err.max()))
        return acc
    x = ops.relu_requant(acc, sh)
    err = np.abs(x.astype(np.float64) * s_out - np.maximum(z, 0))
    entry.update(
        shift_min=int(sh.min()), shift_max=int(sh.max()), output_scale=s_out,
        activation_clip_rate=float(np.mean(x == 255)), max_error_lsb=float(err.max() / s_out),
    )
    return x


def quantize(model: FloatModel, calib_images: np.ndarray, cfg: QuantConfig = QuantConfig()) -> IntModel:
    if model.config.arch:
        return quantize_graph(model, calib_images, cfg)
    x = model.preprocess(calib_images)  # uint8, what the firmware sees
    s_in = 1.0 / 255.0
    n_layers = len(model.params) // 2
    weights, biases, shifts, report = [], [], [], []
    for layer in range(n_layers):
        W = model.params[2 * layer].astype(np.float64)
        b = model.params[2 * layer + 1].astype(np.float64)
        z = (x.astype(np.float64) * s_in) @ W.T + b  # float layer on the quantized input
        hidden = layer < n_layers - 1
        q, bias, sh, s_out, s_w, weight_clip, bound = _scale_layer(W, b, z, s_in, hidden, cfg, f"layer {layer} neuron")
        acc = ops.dense(x, q, bias)
        entry = {
            "layer": layer,
            "inputs": int(W.shape[1]),
            "outputs": int(W.shape[0]),
            "input_scale": s_in,
            "acc_bound": int(bound.max()),
            "acc_bits": int(bound.max()).bit_length() + 1,
            "weight_clip_rate": weight_clip,
        }
        x = _outputs(acc, z, sh, s_out, s_in, s_w, entry)
        if hidden:
            shifts.append(sh)
        weights.append(q)
        biases.append(bias)
        report.append(entry)
        s_in = s_out if hidden else s_in
    meta = _meta(model, cfg, report, "uint8 pixels deskewed (if deskew) and pooled (pool) as trainer/preprocess.py defines",
                 "neuron")
    return IntModel(weights, biases, shifts, model.pool, meta, model.config.deskew, input_shape=tuple(model.input_shape))


def _meta(model, cfg: QuantConfig, report: list, input_text: str, unit: str, **scheme) -> dict:
    """The .q51 metadata: the arithmetic in words (saved with the model), the options, the per-layer report."""
    return {
        "scheme": {
            "input": input_text,
            "weights": f"int8 symmetric in [-127,127]; per {unit} (power-of-two ratio) in hidden layers"
            + (" [per tensor]" if cfg.per_tensor else "") + ", per tensor in the output layer",
            "accumulator": "int32, bias first, then sum of int8*uint8 products",
            "requantize": "hidden: a = 0 if acc <= 0 else min(acc >> shift, 255); rounding half up via bias",
            "output": "int32 logits, argmax with the first maximum winning",
            **scheme,
        },
        "quant_config": asdict(cfg),
        "layers": report,
        "float_model": model.meta(),
    }


CHUNK = 500  # calibration images per pass through a layer (bounds the im2col memory)


def _chunked(fn, x: np.ndarray) -> np.ndarray:
    return np.concatenate([fn(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])


def quantize_graph(model: FloatModel, calib_images: np.ndarray, cfg: QuantConfig = QuantConfig()) -> IntModel:
    """A layer graph, layer by layer on the calibration images, with the scheme of the MLP:
    every weighted layer but the last gets per-output-channel shifts (a conv's output
    channel is a dense layer's neuron), uint8 activations and the same int32 bound; pools
    keep the scale of their input (max and mean commute with a positive scale)."""
    from digit51.trainer.layers import make

    net = model.config.net
    x = model.preprocess(calib_images)  # uint8 (N, 1, h, w): deskew and leading avgpools, in integers
    s_in = 1.0 / 255.0
    weighted = [L for L in net.body if L.weighted]
    weights, biases, shifts, report = [], [], [], []
    p = 0
    for L in net.body:
        if L.kind == "maxpool2":
            x = ops.maxpool2(x)
            continue
        if L.kind == "avgpool":
            x = ops.avgpool(x, L.n)
            continue
        index = len(weights)
        W = model.params[p].astype(np.float64)
        b = model.params[p + 1].astype(np.float64)
        p += 2
        hidden = index < len(weighted) - 1
        impl = make(L)

        def float_layer(xi, W=W, b=b, impl=impl):  # the float layer on the quantized input, NCHW out
            xf = xi.astype(np.float64) * s_in
            z, _ = impl.forward([W, b], xf.transpose(0, 2, 3, 1) if xf.ndim == 4 and L.kind != "dense" else xf.reshape(len(xf), -1), relu=False)
            z = z.transpose(0, 3, 1, 2) if z.ndim == 4 else z
            return z.astype(np.float32)  # float32 kept: 5,000 maps of 16 x 26 x 26 are 216 MB so

        z = _chunked(float_layer, x)
        q, bias, sh, s_out, s_w, weight_clip, bound = _scale_layer(W, b, z, s_in, hidden, cfg, f"layer {index} ({L}) output")
        acc = _chunked(lambda xi: weighted_op(L.kind, xi, q, bias), x)
        entry = {
            "layer": index, "op": str(L),
            "inputs": int(np.prod(x.shape[1:])), "outputs": int(np.prod(acc.shape[1:])),
            "input_scale": s_in, "acc_bound": int(bound.max()), "acc_bits": int(bound.max()).bit_length() + 1,
            "weight_clip_rate": weight_clip,
        }
        x = _outputs(acc, z, sh, s_out, s_in, s_w, entry)
        if hidden:
            shifts.append(sh)
            s_in = s_out
        weights.append(q)
        biases.append(bias)
        report.append(entry)
    meta = _meta(model, cfg, report,
                 "uint8 pixels deskewed (if deskew), then the graph's leading avgpools, as trainer/preprocess.py defines",
                 "output channel", layers="quantize/ops.py: conv3x3, dwconv3x3, conv1x1, maxpool2, avgpool, dense on (N, C, H, W) maps")
    return IntModel(weights, biases, shifts, 1, meta, model.config.deskew, model.config.arch, tuple(model.input_shape))
