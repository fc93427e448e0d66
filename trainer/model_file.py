"""The float model artifact: weights plus everything needed to reproduce and use them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digit51.trainer import artifact
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import Preprocess, architecture_problem

KIND = "float-model"
VERSION = 3  # 2: the container carries a checksum; 3: deskew (absent in 2: none)
OLDER = (2,)  # still read
HINT = "train a new one with `digit51 train`"


@dataclass
class FloatModel:
    params: list[np.ndarray]  # [W0 (out, in), b0, W1, b1, ...], float32
    config: TrainConfig
    accuracy: dict  # {"validation": float, "test": float}
    best_epoch: int

    @property
    def sizes(self) -> list[int]:
        return [self.params[0].shape[1]] + [W.shape[0] for W in self.params[0::2]]

    @property
    def pool(self) -> int:
        return self.config.pool

    @property
    def preprocess(self) -> Preprocess:
        return self.config.preprocess

    def meta(self) -> dict:
        return {
            "sizes": self.sizes,
            "preprocess": {"deskew": self.config.deskew, "pool": self.pool, "input": "float = pooled_uint8 / 255"},
            "config": self.config.to_dict(),
            "seed": self.config.seed,
            "accuracy": self.accuracy,
            "best_epoch": self.best_epoch,
        }


def save(path, model: FloatModel, inputs=()) -> None:
    arrays = {}
    for i in range(len(model.params) // 2):
        arrays[f"W{i}"] = model.params[2 * i]
        arrays[f"b{i}"] = model.params[2 * i + 1]
    artifact.save(path, KIND, VERSION, model.meta(), arrays, inputs)


def load(path) -> FloatModel:
    meta, arrays = artifact.load(path, KIND, VERSION, HINT, OLDER)
    try:
        sizes = meta["sizes"]
        config = TrainConfig.from_dict(meta["config"])
        problem = architecture_problem(sizes, config.pool)
        if problem is None and list(config.hidden) != sizes[1:-1]:
            problem = f"sizes {sizes} do not match the hidden layers {list(config.hidden)} of its config"
        if problem:
            raise Digit51Error(f"{path}: {problem}; {HINT}")
        params = []
        for i in range(len(sizes) - 1):
            W, b = arrays[f"W{i}"], arrays[f"b{i}"]
            if W.shape != (sizes[i + 1], sizes[i]) or b.shape != (sizes[i + 1],):
                raise Digit51Error(f"{path}: layer {i} has shape {W.shape}, expected {(sizes[i + 1], sizes[i])}; {HINT}")
            params += [W.astype(np.float32), b.astype(np.float32)]
    except (KeyError, TypeError, ValueError) as e:
        raise Digit51Error(f"{path}: incomplete float model ({e}); {HINT}") from None
    for i, p in enumerate(params):
        if not np.all(np.isfinite(p)):
            raise Digit51Error(f"{path}: {'Wb'[i % 2]}{i // 2} holds NaN or Inf values; {HINT}")
    if sizes[0] != (28 // config.pool) ** 2:
        raise Digit51Error(f"{path}: input size {sizes[0]} does not match pool {config.pool}; {HINT}")
    return FloatModel(params, config, meta.get("accuracy", {}), meta.get("best_epoch", -1))
