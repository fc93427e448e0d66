"""The training configuration: flat, typed, documented; saved inside the model file."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from digit51.trainer.optim import SCHEDULES
from digit51.trainer.preprocess import POOLS

# The default 8051 model: what firmware/frontier.py's rule picks from the measured frontier
# (README, "The default model and the frontier"); tests/test_frontier.py keeps the two in step.
DEFAULT_HIDDEN = (128, 32)
DEFAULT_POOL = 2


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple[int, ...] = DEFAULT_HIDDEN  # hidden layer widths, e.g. (128,) or (128, 64)
    pool: int = DEFAULT_POOL  # input downsampling: 1 (28x28), 2 (14x14) or 4 (7x7)
    epochs: int = 20  # passes over the 55,000 training images
    batch_size: int = 128  # images per gradient step
    optimizer: str = "adam"  # adam or sgd (with momentum)
    lr: float = 2e-3  # peak learning rate
    momentum: float = 0.9  # SGD momentum, or Adam's beta1
    weight_decay: float = 0.0  # decoupled weight decay on weights (not biases)
    schedule: str = "cosine"  # cosine, step or constant
    warmup_epochs: float = 0.0  # linear warmup length
    augment: int = 1  # random shifts of up to this many pixels (0 turns augmentation off)
    seed: int = 0  # the only source of randomness

    def __post_init__(self):
        problems = []
        if not self.hidden or any(h < 1 or h > 4096 for h in self.hidden):
            problems.append("hidden sizes must be 1..4096")
        if self.pool not in POOLS:
            problems.append(f"pool must be one of {POOLS}")
        if self.epochs < 1 or self.batch_size < 1:
            problems.append("epochs and batch size must be positive")
        if self.optimizer not in ("adam", "sgd"):
            problems.append("optimizer must be adam or sgd")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (self.lr, self.weight_decay, self.momentum, self.warmup_epochs)):
            problems.append("lr, weight decay, momentum and warmup epochs must be finite numbers")
        elif not (self.lr > 0) or self.weight_decay < 0 or not (0 <= self.momentum < 1) or self.warmup_epochs < 0:
            problems.append("lr must be > 0, weight decay >= 0, momentum in [0, 1), warmup epochs >= 0")
        if not 0 <= self.seed < 2**63:
            problems.append("seed must be 0 or more (below 2**63)")
        if not 0 <= self.augment <= 4:
            problems.append("augment must be 0..4 pixels")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        return cls(**d)
