"""The float model artifact: weights plus everything needed to reproduce and use them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digit51.trainer import arch, artifact
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import SIDE, Preprocess, arch_name, architecture_problem

KIND = "float-model"
VERSION = 4  # 2: the container carries a checksum; 3: deskew (absent in 2: none); 4: "graph" and "input" (absent: an MLP on 28x28)
OLDER = (3, 2)  # still read
MLP_VERSION = 3  # an MLP on 28x28 images is still written as version 3, byte for byte as before graphs
HINT = "train a new one with `digit51 train`"


@dataclass
class FloatModel:
    params: list[np.ndarray]  # [W0 (out, in), b0, W1, b1, ...], float32
    config: TrainConfig
    accuracy: dict  # {"validation": float, "test": float}
    best_epoch: int
    input_shape: tuple[int, int] = (SIDE, SIDE)  # (H, W) of the images it takes

    @property
    def sizes(self) -> list[int]:
        """Layer widths [inputs, outputs of each weighted layer] (a map counts C * H * W)."""
        if self.config.arch:
            return graph_sizes(self.config.arch, self.input_shape)
        return [self.params[0].shape[1]] + [W.shape[0] for W in self.params[0::2]]

    @property
    def name(self) -> str:
        """The architecture in one word: 196-192-64-10, or the graph's spec."""
        return self.config.arch or arch_name(self.sizes)

    @property
    def version(self) -> int:
        return VERSION if self.config.arch or tuple(self.input_shape) != (SIDE, SIDE) else MLP_VERSION

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
        } | ({"graph": self.config.arch, "input": list(self.input_shape)} if self.version >= 4 else {})


def graph_sizes(spec: str, input_hw) -> list[int]:
    """[inputs of the first weighted layer, outputs of each weighted layer], maps as C * H * W."""
    layers = arch.parse(spec)
    shapes = arch.shapes(layers, *input_hw)
    first = len(arch.input_prefix(layers)[0])
    return [int(np.prod(shapes[first]))] + [int(np.prod(s)) for L, s in zip(layers, shapes[1:]) if L.weighted]


def graph_param_shapes(spec: str, input_hw) -> list[tuple[int, ...]]:
    """Shapes of [W0, b0, W1, b1, ...] of a layer graph on input_hw images."""
    return arch.param_shapes(arch.parse(spec), *input_hw)


def save(path, model: FloatModel, inputs=()) -> None:
    arrays = {}
    for i in range(len(model.params) // 2):
        arrays[f"W{i}"] = model.params[2 * i]
        arrays[f"b{i}"] = model.params[2 * i + 1]
    artifact.save(path, KIND, model.version, model.meta(), arrays, inputs)


def load(path) -> FloatModel:
    meta, arrays = artifact.load(path, KIND, VERSION, HINT, OLDER)
    if "graph" in meta or "input" in meta:
        return _load_graph(path, meta, arrays)
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


def _load_graph(path, meta: dict, arrays: dict) -> FloatModel:
    """A version-4 model: a layer graph, or an MLP on images other than 28x28."""
    try:
        config = TrainConfig.from_dict(meta["config"])
        hw = meta["input"]
        if not (isinstance(hw, list) and len(hw) == 2 and all(isinstance(v, int) and 2 <= v <= arch.MAX_SIDE for v in hw)):
            raise ValueError(f"input {hw!r} is not [H, W] with sides 2..{arch.MAX_SIDE}")
        if meta["graph"] != config.arch:
            raise ValueError(f"graph {meta['graph']!r} is not the one of its config ({config.arch!r})")
        if config.arch:
            arch.shapes(arch.parse(config.arch), *hw)
            shapes = graph_param_shapes(config.arch, hw)
        else:
            sizes = [(hw[0] // config.pool) * (hw[1] // config.pool), *config.hidden, meta["sizes"][-1]]
            shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((b, a), (b,))]
        params = [arrays[f"{'Wb'[i % 2]}{i // 2}"].astype(np.float32) for i in range(len(shapes))]
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise Digit51Error(f"{path}: incomplete float model ({e}); {HINT}") from None
    for i, (p, shape) in enumerate(zip(params, shapes)):
        if p.shape != shape:
            raise Digit51Error(f"{path}: {'Wb'[i % 2]}{i // 2} has shape {p.shape}, expected {shape}; {HINT}")
        if not np.all(np.isfinite(p)):
            raise Digit51Error(f"{path}: {'Wb'[i % 2]}{i // 2} holds NaN or Inf values; {HINT}")
    return FloatModel(params, config, meta.get("accuracy", {}), meta.get("best_epoch", -1), tuple(hw))
