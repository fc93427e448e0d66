"""The integer model artifact: int8 weights, int32 biases, uint8 shifts, and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digit51.quantize import ops
from digit51.quantize.ops import INT32_MAX
from digit51.trainer import artifact
from digit51.trainer.errors import Digit51Error
from digit51.trainer import arch
from digit51.trainer.graph import Graph
from digit51.trainer.model_file import graph_param_shapes, graph_sizes
from digit51.trainer.preprocess import Preprocess, arch_name, architecture_problem

KIND = "int-model"
VERSION = 4  # 2: the container carries a checksum; 3: deskew (absent in 2: none); 4: "graph" and "input" (absent: an MLP on 28x28)
OLDER = (3, 2)  # still read
MLP_VERSION = 3  # an MLP on 28x28 images is still written as version 3, byte for byte as before graphs
HINT = "make a new one with `digit51 quantize`"


@dataclass
class IntModel:
    weights: list[np.ndarray]  # int8 (out, in) per layer
    biases: list[np.ndarray]  # int32 (out,) per layer, rounding term included
    shifts: list[np.ndarray]  # uint8 (out,) per hidden layer (the output layer has none)
    pool: int
    meta: dict = field(default_factory=dict)  # scheme, per-layer report, provenance
    deskew: bool = False  # deskew the image before pooling (trainer/preprocess.py)
    graph: str = ""  # a layer graph (trainer/arch.py; its ops in quantize/ops.py), "" = the MLP of sizes and pool
    input_shape: tuple[int, int] = (28, 28)  # (H, W) of the images it takes

    @property
    def version(self) -> int:
        return VERSION if self.graph or tuple(self.input_shape) != (28, 28) else MLP_VERSION

    @property
    def sizes(self) -> list[int]:
        if self.graph:
            return graph_sizes(self.graph, self.input_shape)
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def name(self) -> str:
        return self.graph or arch_name(self.sizes)

    @property
    def preprocess(self) -> Preprocess:
        if self.graph:
            return Graph(self.graph).preprocess(self.deskew)
        return Preprocess(self.pool, self.deskew)

    @property
    def layer_macs(self) -> list[int]:
        """Multiply-accumulates per image of each weighted layer: its weight count times its
        output positions (a map's H x W; 1 for a dense)."""
        if not self.graph:
            return [w.size for w in self.weights]
        layers = arch.parse(self.graph)
        outs = arch.shapes(layers, *self.input_shape)[1:]
        positions = [int(np.prod(s[1:])) for L, s in zip(layers, outs) if L.weighted]
        return [w.size * p for w, p in zip(self.weights, positions)]

    @property
    def n_macs(self) -> int:
        return sum(self.layer_macs)


def save(path, model: IntModel, inputs=()) -> None:
    arrays = {}
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"W{i}"], arrays[f"B{i}"] = w, b
    for i, s in enumerate(model.shifts):
        arrays[f"S{i}"] = s
    meta = dict(model.meta, sizes=model.sizes, pool=model.pool, deskew=model.deskew)
    if model.version >= 4:
        meta.update(graph=model.graph, input=list(model.input_shape))
    artifact.save(path, KIND, model.version, meta, arrays, inputs)


def load(path) -> IntModel:
    meta, arrays = artifact.load(path, KIND, VERSION, HINT, OLDER)
    if "graph" in meta or "input" in meta:
        return _load_graph(path, meta, arrays)
    sizes, pool = meta.get("sizes"), meta.get("pool")
    deskew = meta.get("deskew", False)  # files from before deskew existed do not say: they have none
    problem = architecture_problem(sizes, pool) or (None if isinstance(deskew, bool) else f"deskew {deskew!r} is not true or false")
    if problem:
        raise Digit51Error(f"{path}: {problem}; {HINT}")
    n = len(sizes) - 1
    weights, biases, shifts = _layer_arrays(path, arrays, n)
    _check_layers(path, meta, weights, biases, shifts, [(sizes[i + 1], sizes[i]) for i in range(n)])
    return IntModel(weights, biases, shifts, pool, meta, deskew)


def _layer_arrays(path, arrays: dict, n: int) -> tuple[list, list, list]:
    """(weights, biases, shifts) of n layers (no shift for the last), or one Digit51Error line."""
    try:
        return [arrays[f"W{i}"] for i in range(n)], [arrays[f"B{i}"] for i in range(n)], [arrays[f"S{i}"] for i in range(n - 1)]
    except KeyError:
        raise Digit51Error(f"{path}: incomplete integer model; {HINT}") from None


def _check_layers(path, meta: dict, weights, biases, shifts, w_shapes) -> None:
    """Types, shapes (weights as listed, a bias and a shift per output row), ranges, the
    int32 overflow bound of every output and the metadata; one Digit51Error line if wrong."""
    n = len(weights)
    for i in range(n):
        w, b, rows = weights[i], biases[i], (w_shapes[i][0],)
        ok = w.dtype == np.int8 and w.shape == w_shapes[i] and b.dtype == np.int32 and b.shape == rows
        ok = ok and int(w.min(initial=0)) >= -127
        if i < n - 1:
            s = shifts[i]
            ok = ok and s.dtype == np.uint8 and s.shape == rows and int(s.max(initial=0)) <= 31
        if not ok:
            raise Digit51Error(f"{path}: layer {i} has the wrong types, shapes or ranges; {HINT}")
        bound = ops.accumulator_bound(w.reshape(len(w), -1), b)  # a conv's output channel is a neuron
        if int(bound.max()) > INT32_MAX:  # the overflow proof (docs/quantization.md) the C code relies on
            j = int(bound.argmax())
            raise Digit51Error(f"{path}: layer {i} neuron {j}: worst-case accumulator {int(bound[j]):,} exceeds int32, "
                               f"so the firmware could overflow; {HINT}")
    problem = meta_problem(meta)
    if problem:
        raise Digit51Error(f"{path}: corrupt metadata: {problem}; {HINT}")


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _fraction(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1


def meta_problem(meta: dict) -> str | None:
    """What is wrong with the metadata commands read (accuracies, the float model's record,
    the per-layer report), or None. A checksum proves the file is as written, not that
    whoever wrote it wrote sense."""
    float_model = meta.get("float_model", {})
    if not isinstance(float_model, dict):
        return f"float_model {_short(float_model)} is not an object"
    for where, acc in (("float_model.accuracy", float_model.get("accuracy", {})), ("accuracy", meta.get("accuracy", {}))):
        if not isinstance(acc, dict):
            return f"{where} {_short(acc)} is not an object"
        for key, v in acc.items():
            if v is not None and not _fraction(v):
                return f"{where}.{key} {_short(v)} is not a fraction between 0 and 1"
    layers = meta.get("layers", [])
    if not (isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers)):
        return f"layers {_short(layers)} is not a list of objects"
    for key in ("scheme", "quant_config"):
        if not isinstance(meta.get(key, {}), dict):
            return f"{key} {_short(meta[key])} is not an object"
    return None


def _load_graph(path, meta: dict, arrays: dict) -> IntModel:
    """A version-4 model: a layer graph, or an MLP on images other than 28x28."""
    spec, hw, pool, deskew = meta.get("graph"), meta.get("input"), meta.get("pool"), meta.get("deskew", False)
    try:
        if not (isinstance(hw, list) and len(hw) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and 2 <= v <= arch.MAX_SIDE for v in hw)):
            raise ValueError(f"input {hw!r} is not [H, W] with sides 2..{arch.MAX_SIDE}")
        if not isinstance(spec, str) or not isinstance(deskew, bool):
            raise ValueError("graph or deskew of the wrong type")
        if spec:
            w_shapes = graph_param_shapes(spec, hw)[0::2]
        else:
            sizes = meta.get("sizes")
            problem = architecture_problem(sizes, pool, hw)
            if problem:
                raise ValueError(problem)
            w_shapes = [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
    except ValueError as e:
        raise Digit51Error(f"{path}: {e}; {HINT}") from None
    n = len(w_shapes)
    weights, biases, shifts = _layer_arrays(path, arrays, n)
    _check_layers(path, meta, weights, biases, shifts, w_shapes)
    return IntModel(weights, biases, shifts, pool if not spec else 1, meta, deskew, spec, tuple(hw))
