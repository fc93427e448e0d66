"""Optimizers (SGD with momentum, Adam) with decoupled weight decay, and LR schedules."""

from __future__ import annotations

import math

import numpy as np

SCHEDULES = ("cosine", "step", "constant")


def learning_rate(base: float, schedule: str, step: int, total: int, warmup: int) -> float:
    """Learning rate at `step` of `total`: linear warmup, then the named decay."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "step":
        return base * (0.1 ** int(t * 3))  # /10 at one and two thirds of training
    return base


class Optimizer:
    """Updates params in place. Weight decay applies to weights (even indices), not biases."""

    def __init__(self, params, kind: str, momentum: float, weight_decay: float):
        if kind not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be adam or sgd, got {kind}")
        self.kind, self.momentum, self.wd = kind, momentum, weight_decay
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params] if kind == "adam" else None
        self.t = 0

    def step(self, params, grads, lr: float) -> None:
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.wd and i % 2 == 0:
                p *= 1.0 - lr * self.wd
            if self.kind == "sgd":
                self.m[i] *= self.momentum
                self.m[i] += g
                p -= lr * self.m[i]
            else:
                b1, b2, eps = self.momentum, 0.999, 1e-8
                self.m[i] *= b1
                self.m[i] += (1 - b1) * g
                self.v[i] *= b2
                self.v[i] += (1 - b2) * (g * g)
                mhat = self.m[i] / (1 - b1**self.t)
                vhat = self.v[i] / (1 - b2**self.t)
                p -= lr * mhat / (np.sqrt(vhat) + eps)
