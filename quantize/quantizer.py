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


def accumulator_bound(w: np.ndarray, bias: np.ndarray, x_max: int = 255) -> np.ndarray:
    """Worst-case |acc| per neuron over every input in 0..x_max, from the integer weights."""
    return np.abs(bias.astype(np.int64)) + x_max * np.abs(w.astype(np.int64)).sum(axis=1)


def quantize(model: FloatModel, calib_images: np.ndarray, cfg: QuantConfig = QuantConfig()) -> IntModel:
    x = model.preprocess(calib_images)  # uint8, what the firmware sees
    s_in = 1.0 / 255.0
    n_layers = len(model.params) // 2
    weights, biases, shifts, report = [], [], [], []
    for layer in range(n_layers):
        W = model.params[2 * layer].astype(np.float64)
        b = model.params[2 * layer + 1].astype(np.float64)
        z = (x.astype(np.float64) * s_in) @ W.T + b  # float layer on the quantized input
        hidden = layer < n_layers - 1
        if hidden:
            a = np.maximum(z, 0)
            top = float(np.percentile(a, cfg.percentile))
            s_out = (top if top > 0 else float(a.max()) or 1.0) / 255.0
            sh = _shifts(W, s_in, s_out, cfg.per_tensor)
            s_w = s_out * np.exp2(-sh.astype(np.float64)) / s_in
            rounding = (np.int64(1) << sh.astype(np.int64)) >> 1
        else:
            s_w = np.full(W.shape[0], np.abs(W).max() / 127.0 or 1.0)
            sh, rounding = None, 0
        q = _round(W / s_w[:, None])
        weight_clip = float(np.mean(np.abs(q) > 127))
        q = np.clip(q, -127, 127).astype(np.int8)
        bias64 = _round(b / (s_in * s_w)).astype(np.int64) + rounding
        bound = accumulator_bound(q, bias64)
        if bound.max() > ops.INT32_MAX:
            j = int(bound.argmax())
            raise Digit51Error(
                f"layer {layer} neuron {j}: worst-case accumulator {int(bound[j])} exceeds int32; "
                "retrain with weight decay (--weight-decay) or quantize with --per-tensor"
            )
        bias = bias64.astype(np.int32)
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
        if hidden:
            x = ops.relu_requant(acc, sh)
            err = np.abs(x.astype(np.float64) * s_out - np.maximum(z, 0))
            entry.update(
                shift_min=int(sh.min()), shift_max=int(sh.max()), output_scale=s_out,
                activation_clip_rate=float(np.mean(x == 255)), max_error_lsb=float(err.max() / s_out),
            )
            shifts.append(sh)
        else:
            err = np.abs(acc.astype(np.float64) * (s_in * s_w) - z)
            entry.update(logit_scale=float(s_in * s_w[0]), max_error=float(err.max()))
        weights.append(q)
        biases.append(bias)
        report.append(entry)
        s_in = s_out if hidden else s_in
    meta = {
        "scheme": {
            "input": "uint8 pixels deskewed (if deskew) and pooled (pool) as trainer/preprocess.py defines",
            "weights": "int8 symmetric in [-127,127]; per neuron (power-of-two ratio) in hidden layers"
            + (" [per tensor]" if cfg.per_tensor else "") + ", per tensor in the output layer",
            "accumulator": "int32, bias first, then sum of int8*uint8 products",
            "requantize": "hidden: a = 0 if acc <= 0 else min(acc >> shift, 255); rounding half up via bias",
            "output": "int32 logits, argmax with the first maximum winning",
        },
        "quant_config": asdict(cfg),
        "layers": report,
        "float_model": model.meta(),
    }
    return IntModel(weights, biases, shifts, model.pool, meta, model.config.deskew)
