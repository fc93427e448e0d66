"""The integer model artifact: int8 weights, int32 biases, uint8 shifts, and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digit51.quantize.ops import INT32_MAX
from digit51.trainer import artifact
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import Preprocess, architecture_problem

KIND = "int-model"
VERSION = 3  # 2: the container carries a checksum; 3: deskew (absent in 2: none)
OLDER = (2,)  # still read
HINT = "make a new one with `digit51 quantize`"


@dataclass
class IntModel:
    weights: list[np.ndarray]  # int8 (out, in) per layer
    biases: list[np.ndarray]  # int32 (out,) per layer, rounding term included
    shifts: list[np.ndarray]  # uint8 (out,) per hidden layer (the output layer has none)
    pool: int
    meta: dict = field(default_factory=dict)  # scheme, per-layer report, provenance
    deskew: bool = False  # deskew the image before pooling (trainer/preprocess.py)

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess(self.pool, self.deskew)

    @property
    def n_macs(self) -> int:
        return sum(w.size for w in self.weights)


def save(path, model: IntModel, inputs=()) -> None:
    arrays = {}
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"W{i}"], arrays[f"B{i}"] = w, b
    for i, s in enumerate(model.shifts):
        arrays[f"S{i}"] = s
    meta = dict(model.meta, sizes=model.sizes, pool=model.pool, deskew=model.deskew)
    artifact.save(path, KIND, VERSION, meta, arrays, inputs)


def load(path) -> IntModel:
    from digit51.quantize.quantizer import accumulator_bound  # here: the quantizer imports this module

    meta, arrays = artifact.load(path, KIND, VERSION, HINT, OLDER)
    sizes, pool = meta.get("sizes"), meta.get("pool")
    deskew = meta.get("deskew", False)  # files from before deskew existed do not say: they have none
    problem = architecture_problem(sizes, pool) or (None if isinstance(deskew, bool) else f"deskew {deskew!r} is not true or false")
    if problem:
        raise Digit51Error(f"{path}: {problem}; {HINT}")
    n = len(sizes) - 1
    try:
        weights = [arrays[f"W{i}"] for i in range(n)]
        biases = [arrays[f"B{i}"] for i in range(n)]
        shifts = [arrays[f"S{i}"] for i in range(n - 1)]
    except KeyError:
        raise Digit51Error(f"{path}: incomplete integer model; {HINT}") from None
    for i in range(n):
        w, b = weights[i], biases[i]
        ok = w.dtype == np.int8 and w.shape == (sizes[i + 1], sizes[i]) and b.dtype == np.int32 and b.shape == (sizes[i + 1],)
        ok = ok and int(w.min()) >= -127
        if i < n - 1:
            s = shifts[i]
            ok = ok and s.dtype == np.uint8 and s.shape == (sizes[i + 1],) and int(s.max()) <= 31
        if not ok:
            raise Digit51Error(f"{path}: layer {i} has the wrong types, shapes or ranges; {HINT}")
        bound = accumulator_bound(w, b)
        if int(bound.max()) > INT32_MAX:  # the overflow proof (docs/quantization.md) the C code relies on
            j = int(bound.argmax())
            raise Digit51Error(f"{path}: layer {i} neuron {j}: worst-case accumulator {int(bound[j]):,} exceeds int32, "
                               f"so the firmware could overflow; {HINT}")
    problem = meta_problem(meta)
    if problem:
        raise Digit51Error(f"{path}: corrupt metadata: {problem}; {HINT}")
    return IntModel(weights, biases, shifts, pool, meta, deskew)


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
