"""Quantization-aware fine-tuning: fake quantization in the forward pass, straight-through
gradients in the backward pass, the same scheme and scales as the quantizer."""

from __future__ import annotations

import dataclasses

import numpy as np

from digit51.quantize.quantizer import QuantConfig, _round, _shifts, quantize
from digit51.trainer.mnist import Mnist
from digit51.trainer.model_file import FloatModel
from digit51.trainer.train import accuracy, fit


def hooks(model: FloatModel, scales: list[float], per_tensor: bool):
    """(weight_hook, act_hook) for mlp.forward; `scales` are the hidden activation scales."""
    last = len(model.params) // 2 - 1
    in_scales = [1.0 / 255.0, *scales]

    def weight_hook(layer, W):
        if layer == last:
            s_w = np.full(W.shape[0], np.abs(W).max() / 127.0)
        else:
            sh = _shifts(W, in_scales[layer], scales[layer], per_tensor)
            s_w = scales[layer] * np.exp2(-sh.astype(np.float64)) / in_scales[layer]
        s_w = s_w.astype(W.dtype)[:, None]
        return np.clip(_round(W / s_w), -127, 127) * s_w

    def act_hook(layer, h):
        s = h.dtype.type(scales[layer])
        return np.minimum(np.floor(h / s + 0.5), 255) * s

    return weight_hook, act_hook


def finetune(model: FloatModel, data: Mnist, epochs: int, qcfg: QuantConfig, lr_scale: float = 0.1) -> FloatModel:
    """Fine-tune `model` for `epochs` with fake quantization; returns a new FloatModel."""
    calib = data.train_images[: qcfg.calibration_images]
    scales = [layer["output_scale"] for layer in quantize(model, calib, qcfg).meta["layers"][:-1]]
    params = [p.copy() for p in model.params]
    h = hooks(model, scales, qcfg.per_tensor)
    best, val, epoch = fit(params, data, model.config, hooks=h, epochs=epochs, lr=model.config.lr * lr_scale)
    test = accuracy(best, data.test_images, data.test_labels, model.preprocess, h)
    acc = dict(model.accuracy, qat_validation=round(val, 6), qat_test=round(test, 6))
    return dataclasses.replace(model, params=best, accuracy=acc)
