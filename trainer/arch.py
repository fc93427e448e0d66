"""Layer graphs: the `--arch` spec, read and shape-checked before any data or training.

A spec is a comma-separated list of layers applied in order to the (deskewed) image:

    avgpoolK     K x K block means (K = 2, 4 or 8), rounded half up; channels kept
    maxpool2     2 x 2 block maxima; channels kept
    conv3x3:N    N output channels, 3 x 3 kernel, stride 1, valid padding, ReLU
    dwconv3x3    depthwise 3 x 3 (one kernel per channel), channels kept, ReLU
    conv1x1:N    pointwise, N output channels, ReLU
    dense:N      fully connected, N outputs; ReLU except in the last layer (the logits)

Pools keep whole blocks only: an odd side loses its last row or column (13 -> 6).
A `dense` flattens its input channel by channel (index (c * H + y) * W + x). The image is
one channel; the last layer must be the `dense` whose N is the number of classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AVGPOOLS = (2, 4, 8)  # K * K a power of two: the integer mean is a shift
MAX_CHANNELS = 255
MAX_UNITS = 4096
MAX_SIDE = 64


@dataclass(frozen=True)
class Layer:
    kind: str  # avgpool, maxpool2, conv3x3, dwconv3x3, conv1x1, dense
    n: int = 0  # K of avgpool; N of conv3x3, conv1x1, dense

    @property
    def weighted(self) -> bool:
        return self.kind in WEIGHTED

    def __str__(self) -> str:
        if self.kind == "avgpool":
            return f"avgpool{self.n}"
        return f"{self.kind}:{self.n}" if self.kind in ("conv3x3", "conv1x1", "dense") else self.kind


WEIGHTED = ("conv3x3", "dwconv3x3", "conv1x1", "dense")
_TOKEN = re.compile(r"^(avgpool)(\d+)$|^(maxpool2|dwconv3x3)$|^(conv3x3|conv1x1|dense):(\d+)$")


def parse(spec: str) -> list[Layer]:
    """The layers of `spec`, or ValueError naming the first token that is not a layer."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("the architecture is empty: give layers such as avgpool2,conv3x3:8,maxpool2,dense:10")
    layers = []
    for i, token in enumerate(spec.split(",")):
        t = token.strip()
        m = _TOKEN.match(t)
        if not m:
            raise ValueError(f"layer {i + 1} '{t}' is not a layer: use avgpoolK, maxpool2, conv3x3:N, dwconv3x3, conv1x1:N or dense:N")
        if m[1]:
            layer = Layer("avgpool", int(m[2]))
            if layer.n not in AVGPOOLS:
                raise ValueError(f"layer {i + 1} '{t}': avgpool needs K in {AVGPOOLS} (K*K a power of two)")
        elif m[3]:
            layer = Layer(m[3])
        else:
            layer = Layer(m[4], int(m[5]))
            top = MAX_UNITS if layer.kind == "dense" else MAX_CHANNELS
            if not 1 <= layer.n <= top:
                raise ValueError(f"layer {i + 1} '{t}': {layer.kind} needs 1 to {top} outputs")
        layers.append(layer)
    if layers[-1].kind != "dense":
        raise ValueError(f"the last layer is {layers[-1]}, not dense:N: end with dense:N, N = the number of classes")
    return layers


def spec_string(layers: list[Layer]) -> str:
    return ",".join(map(str, layers))


def shapes(layers: list[Layer], height: int, width: int, classes: int | None = None, channels: int = 1) -> list[tuple[int, ...]]:
    """[input (1, H, W), output of each layer...]: (C, H, W) maps, (N,) after a dense.
    ValueError, naming the layer, for a spec that cannot work on this input."""
    shape: tuple[int, ...] = (channels, height, width)
    out = [shape]
    for i, L in enumerate(layers):
        where = f"layer {i + 1} {L}"
        if L.kind != "dense" and len(shape) == 1:
            raise ValueError(f"{where} follows a dense layer: maps end at the first dense")
        if L.kind == "dense":
            shape = (L.n,)
        else:
            c, h, w = shape
            need = {"avgpool": L.n, "maxpool2": 2, "conv3x3": 3, "dwconv3x3": 3, "conv1x1": 1}[L.kind]
            if h < need or w < need:
                raise ValueError(f"{where} needs a map of at least {need}x{need}, it gets {h}x{w}: use fewer pools or convolutions")
            if L.kind in ("avgpool", "maxpool2"):
                shape = (c, h // need, w // need)
            elif L.kind == "conv3x3":
                shape = (L.n, h - 2, w - 2)
            elif L.kind == "dwconv3x3":
                shape = (c, h - 2, w - 2)
            else:
                shape = (L.n, h, w)
        out.append(shape)
    if classes is not None and layers[-1].n != classes:
        raise ValueError(f"the last layer {layers[-1]} gives {layers[-1].n} outputs but the data has {classes} classes: end with dense:{classes}")
    return out


def param_shapes(layers: list[Layer], height: int, width: int, channels: int = 1) -> list[tuple[int, ...]]:
    """Shapes of [W, b] of each weighted layer in order, on HxW inputs (no array is made):
    conv3x3 (N, C, 3, 3), dwconv3x3 (C, 3, 3), conv1x1 (N, C), dense (N, inputs); bias (out,).
    Each W's fan-in is the product of its shape after the first axis."""
    out: list[tuple[int, ...]] = []
    for L, shape in zip(layers, shapes(layers, height, width, channels=channels)):
        c = shape[0]
        w = {"conv3x3": (L.n, c, 3, 3), "dwconv3x3": (c, 3, 3), "conv1x1": (L.n, c)}.get(L.kind)
        if L.kind == "dense":
            n_in = 1
            for d in shape:
                n_in *= d
            w = (L.n, n_in)
        if w:
            out += [w, (w[0],)]
    return out


def mlp_form(layers: list[Layer]) -> tuple[int, tuple[int, ...]] | None:
    """(pool, hidden) when the graph is an MLP the --pool/--hidden shorthand names
    (at most one leading avgpool of 2 or 4, then two or more dense layers), else None."""
    pool, rest = 1, layers
    if rest and rest[0].kind == "avgpool":
        pool, rest = rest[0].n, rest[1:]
    if pool not in (1, 2, 4) or len(rest) < 2 or any(L.kind != "dense" for L in rest):
        return None
    return pool, tuple(L.n for L in rest[:-1])


def input_prefix(layers: list[Layer]) -> tuple[list[Layer], list[Layer]]:
    """(leading avgpools, the rest): the leading pools run on the uint8 image, in integers,
    in training as in the simulator (as the MLP's pool does)."""
    i = 0
    while i < len(layers) and layers[i].kind == "avgpool":
        i += 1
    return layers[:i], layers[i:]
