"""The memory plan of a layer graph's firmware: which buffer each layer reads and writes.

The image (deskewed if the model says so) is the graph's input map, 1 x H x W, in `act_in`.
Map layers run in segments. A segment starts at a layer whose output channel needs every
input channel (conv3x3, conv1x1), or at the first map layer; the layers after it that work
channel by channel (dwconv3x3, maxpool2, avgpoolK) join it. A segment is evaluated one output
channel at a time: the head writes that channel's plane, each later layer takes the plane to
the next, and the last writes the channel into the segment's output map. So only one
channel's planes are ever held (`plane_a`, `plane_b`), never a whole intermediate map: a
conv3x3:16 on 28x28 followed by maxpool2 needs 26 x 26 + 16 x 13 x 13 bytes, not 16 x 26 x 26.

Segment outputs and dense layers' activations alternate between `act_a` and `act_b`; a
dense reads the map before it flattened, index (c * H + y) * W + x, as quantize/simulate.py
does. Convolutions sum one output row at a time into `row_acc` (int32, as ops.conv3x3), or,
when their window is wide (WINDOW_MIN), run by windows: each output position's window gathered
into `win`, the dense kernel over all output channels at once into `win_out`, the whole
output into `conv_map`, from which the rest of the segment runs channel by channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from digit51.trainer import arch

CROSS_CHANNEL = ("conv3x3", "conv1x1")  # an output channel reads every input channel
STREAM_POOLS = (2, 4)  # a leading avgpool the firmware's streamed pooling (ops/pool.inc.j2) runs as pixels arrive
ROW_CHUNK = 64  # conv1x1 sums at most this many positions at a time in row_acc
# A conv whose window holds at least this many inputs (3 * 3 * c_in, or c_in for conv1x1) runs by
# windows: each output position's window gathered, then the dense kernel over every output
# channel at once (its zero-skipping list and per-neuron loop amortised over the window); below,
# row by row per output channel (kernels/map/). Measured: docs/protocol.md, "Layer graphs".
WINDOW_MIN = 36


@dataclass(frozen=True)
class Step:
    """One layer as the firmware runs it, on (channels, height, width) maps or flat vectors."""

    kind: str  # avgpool, maxpool2, conv3x3, dwconv3x3, conv1x1, dense
    n: int  # avgpool's K; the outputs of conv3x3, conv1x1, dense
    layer: int | None  # index of its weights, for weighted layers
    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]

    def __str__(self) -> str:
        return str(arch.Layer(self.kind, self.n))  # as the spec writes it: conv3x3:16, maxpool2, avgpool2

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (pools: none)."""
        per_output = {"conv3x3": 9 * self.shape_in[0], "dwconv3x3": 9, "conv1x1": self.shape_in[0]}.get(self.kind, 0)
        if self.kind == "dense":
            return _size(self.shape_in) * self.n
        return _size(self.shape_out) * per_output

    @property
    def plane_out(self) -> int:
        """Bytes of one output channel (a map layer) or of the whole output (dense)."""
        s = self.shape_out
        return s[1] * s[2] if len(s) == 3 else s[0]


@dataclass(frozen=True)
class Segment:
    steps: tuple[Step, ...]  # head first
    src: str  # buffer of the segment's input map
    dst: str  # buffer of its output map
    windowed: bool = False  # the head runs by windows (conv_windows: all output channels at once), the rest by channel

    @property
    def channels(self) -> int:
        return self.steps[-1].shape_out[0]


@dataclass(frozen=True)
class Dense:
    step: Step
    src: str
    dst: str  # "logits" for the last layer


@dataclass(frozen=True)
class Plan:
    input_shape: tuple[int, int]  # the map in act_in: the image, pooled by `pool`
    pool: int  # a leading avgpoolK run on the image as it arrives (1: none), as the MLP firmware pools
    parts: tuple  # Segment and Dense, in order
    buffers: dict  # name -> bytes (row_acc: int32 words): act_in, act_a, act_b, plane_a, plane_b, row_acc, conv_map, win, win_out
    classes: int

    @property
    def xram(self) -> int:
        """Bytes of XRAM of the plan's buffers (row_acc and logits in 4-byte words)."""
        b = self.buffers
        return (b["act_in"] + b["act_a"] + b["act_b"] + b["plane_a"] + b["plane_b"] + 4 * b["row_acc"] + b["conv_map"]
                + b["win"] + b["win_out"] + 4 * self.classes)

    @property
    def dense_inputs(self) -> list[int]:
        """Inputs of each run of the dense kernel: the dense layers' and the windows of the convs
        that run by windows (the zero-skipping kernels size their lists by the widest)."""
        return [_size(p.step.shape_in) if isinstance(p, Dense) else window_inputs(p.steps[0])
                for p in self.parts if isinstance(p, Dense) or p.windowed]


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def steps(spec: str, input_shape: tuple[int, int]) -> list[Step]:
    layers = arch.parse(spec)
    shapes = arch.shapes(layers, *input_shape)
    out, w = [], 0
    for L, s_in, s_out in zip(layers, shapes, shapes[1:]):
        out.append(Step(L.kind, L.n, w if L.weighted else None, tuple(s_in), tuple(s_out)))
        w += L.weighted
    return out


def plan(spec: str, input_shape: tuple[int, int]) -> Plan:
    """The plan of `spec` on input_shape images; ValueError (from arch) for a spec that cannot work.
    A leading avgpool2 or avgpool4 on square images whose side it divides is run as the pixels
    arrive (the same sums as ops.avgpool), so act_in holds the pooled image."""
    all_steps = steps(spec, input_shape)
    pool, (h, w) = 1, input_shape
    first = all_steps[0]
    if first.kind == "avgpool" and first.n in STREAM_POOLS and h == w and h % first.n == 0:
        pool, h, w = first.n, h // first.n, w // first.n
        all_steps = all_steps[1:]
    parts, group, buf = [], [], "act_in"
    other = {"act_in": "act_a", "act_a": "act_b", "act_b": "act_a"}

    def close():
        nonlocal buf, group
        if group:
            parts.append(Segment(tuple(group), buf, other[buf], windowed(group[0])))
            buf, group = other[buf], []

    for s in all_steps:
        if s.kind == "dense":
            close()
            last = s is all_steps[-1]
            parts.append(Dense(s, buf, "logits" if last else other[buf]))
            buf = other[buf]
        else:
            if s.kind in CROSS_CHANNEL:
                close()
            group.append(s)
    sizes = {"act_in": h * w, "act_a": 1, "act_b": 1, "plane_a": 0, "plane_b": 0, "row_acc": 0,
             "conv_map": 0, "win": 0, "win_out": 0}
    for p in parts:
        if isinstance(p, Segment):
            sizes[p.dst] = max(sizes[p.dst], p.channels * p.steps[-1].plane_out)
            for (_, dst), s in zip(plane_names(p), p.steps):  # the planes between the layers of one channel
                if dst in ("plane_a", "plane_b", "conv_map"):
                    sizes[dst] = max(sizes[dst], s.plane_out * (s.shape_out[0] if dst == "conv_map" else 1))
            if p.windowed:
                sizes["win"] = max(sizes["win"], window_inputs(p.steps[0]))
                sizes["win_out"] = max(sizes["win_out"], p.steps[0].n)
            for s in p.steps[p.windowed:]:
                if s.kind in ("conv3x3", "dwconv3x3"):
                    sizes["row_acc"] = max(sizes["row_acc"], s.shape_out[2])
                elif s.kind == "conv1x1":
                    sizes["row_acc"] = max(sizes["row_acc"], min(ROW_CHUNK, s.plane_out))
        elif p.dst != "logits":
            sizes[p.dst] = max(sizes[p.dst], p.step.shape_out[0])
    return Plan((h, w), pool, tuple(parts), sizes, all_steps[-1].n)


def window_inputs(step: Step) -> int:
    """Inputs of one output position's window: 3 * 3 * c_in for conv3x3, c_in for conv1x1."""
    return step.shape_in[0] * (9 if step.kind == "conv3x3" else 1)


def windowed(head: Step) -> bool:
    return head.kind in CROSS_CHANNEL and window_inputs(head) >= WINDOW_MIN


def plane_names(segment: Segment) -> list[tuple[str, str]]:
    """(source, destination) of each step of one channel of `segment`: the head reads the
    segment's input map, the planes alternate, the last step writes the output map. A head run
    by windows writes all its channels at once, into conv_map (or the output map, alone)."""
    names, src, steps = [], segment.src, segment.steps
    if segment.windowed:
        src = segment.dst if len(steps) == 1 else "conv_map"
        names.append((segment.src, src))
        steps = steps[1:]
    for i, _ in enumerate(steps):
        last = i == len(steps) - 1
        dst = segment.dst if last else ("plane_a" if i % 2 == 0 else "plane_b")
        names.append((src, dst))
        src = dst
    return names


def deployed_graph(model) -> str:
    """The graph the firmware runs for an integer model: its own, the MLP written as a graph
    when its images are not 28x28 (avgpoolK then dense layers: the same ops), or "" for an
    MLP on 28x28 images, which the MLP firmware runs (program/infer.c.j2)."""
    if model.graph:
        return model.graph
    if tuple(model.input_shape) == (28, 28):
        return ""
    pools = [f"avgpool{model.pool}"] if model.pool > 1 else []
    return ",".join(pools + [f"dense:{w.shape[0]}" for w in model.weights])
