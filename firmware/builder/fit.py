"""The fit budget: the memory a firmware needs, estimated before compiling and checked
against the chip, the kernel chosen for a build, and the modes an architecture fits in.
One BuildSpec (codegen/spec.py) in, a Need or an error naming the budget, the need and the fix out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digit51.codegen.render import DEFAULT_KERNEL, FALLBACK_KERNEL, XRAM, fold_step, kernel_for, kernel_memory, stream_logits_space
from digit51.codegen import graph_plan
from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips.target import Target
from digit51.quantize import ops
from digit51.quantize.model_file import IntModel
from digit51.trainer import arch
from digit51.trainer.errors import Digit51Error

# Code bytes besides the weights and images (startup, printf, UART, CRC, the kernels),
# measured from the .mem files of builds of the default model, rounded up.
RUNTIME_CODE = 4600
RUNTIME_CODE_STREAM = 3800  # stream mode (printf_fast, C kernel): 3,710 B measured for 196-11-10, 196-16-10 and 196-20-10
IMAGE_EXTRA_CODE = 3  # a self-test image's label and uint16 index, besides its pixels
# Code of the map ops (codegen/templates/ops/maps.inc.j2) a graph links, by the function each layer
# kind runs, from SDCC 4.2's listing of a build with all of them (c kernels), rounded up; plus
# mac_row (kernels/map/) and the channel loop of each layer in classify().
MAP_CODE = {"conv3x3": ("conv3x3_channel", 510), "dwconv3x3": ("conv3x3_channel", 510), "conv1x1": ("conv1x1_channel", 400),
            "maxpool2": ("maxpool2_plane", 350), "avgpool": ("avgpool_plane", 500)}
MAC_ROW_CODE = 500  # the row kernels (kernels/map/): mac_rows, map_fill, map_requant in the asm builds
WINDOWS_CODE = 850  # conv_windows (ops/windows.inc.j2), for a graph with a conv run by windows
MAP_STEP_CODE = 40
DESKEW_CODE = 1950  # the deskew functions (codegen/templates/ops/deskew.inc.j2), SDCC 4.2: 1,875 B in self-test builds with asm kernels, 2,015 with c (serve builds, which carry no images: 2,036-2,197)
# Internal RAM bytes the deepest call chain needs, from ucsim's stack peak: 34 B in serve
# mode (default model, printf), 31 B in stream mode with printf (196-11-10 on at89s52, peak
# 0xFC over a stack from 0xDE), 30 B with printf_fast (196-20-10, peak 0xDE over a stack
# from 0xC1). A build with less free is refused: 196-12-10 in stream mode with printf had
# 29 B free and hung in s51.
STACK_MIN = 34
# XRAM of the deskew state besides the image buffer (codegen/templates/ops/deskew.inc.j2): image_at
# and image pointers 2 + 2, ink_s..ink_syx 5 x 4, row_r 2, row_c 4, slant_my 1, slant_alpha 2,
# shear_k 1, shear_f 1, ink_r, ink_q, ink_c 3 x 4 = 47 B (the linker's XSEG agrees on every kernel).
DESKEW_XRAM = 47
IRAM_BASE = 120  # internal RAM SDCC uses besides our buffers (registers, locals, printf): 111-116 measured
# Stream mode folds FOLD_STEP layer-0 neurons per received byte (codegen/render.py fold_step): with 5,
# 196-20-10 on at89s52 measured 540 cycles a step and at most 806 a byte with CRC and pooling,
# of the 960 a byte lasts at 9600 baud (README, "The smallest chip"); more would not keep up.
MAX_FOLD_STEP = 5
IRAM_BASE_STREAM = 74  # the same in stream mode, which links printf_fast (codegen/render.py PRINTF): 70 measured



@dataclass(frozen=True)
class Need:
    code: int
    xram: int
    iram: int  # internal RAM, buffers and SDCC's own use


def estimate_graph(spec: BuildSpec) -> Need:
    """`estimate` of a layer graph: the weights, the memory plan's buffers (codegen/graph_plan.py),
    the dense kernel's list, the image (and the deskew state)."""
    plan = graph_plan.plan(spec.graph, spec.input_shape)
    k_xram, k_iram = kernel_memory(spec.kernel or FALLBACK_KERNEL, [*plan.dense_inputs, plan.classes])
    params = arch.param_shapes(arch.parse(spec.graph), *spec.input_shape)
    n_weights = sum(int(np.prod(s)) for s in params[0::2])
    n_out = sum(s[0] for s in params[1::2])
    pixels = spec.image_bytes
    map_steps = [s for p in plan.parts if isinstance(p, graph_plan.Segment) for s in p.steps]
    maps = (sum(dict(MAP_CODE[s.kind] for s in map_steps).values()) + (MAC_ROW_CODE if plan.buffers["row_acc"] else 0)
            + (WINDOWS_CODE if plan.buffers["win"] else 0))
    code = (n_weights + 5 * n_out - plan.classes + RUNTIME_CODE + maps + MAP_STEP_CODE * len(map_steps)
            + spec.n_images * (pixels + IMAGE_EXTRA_CODE) + spec.deskew * DESKEW_CODE)
    image = pixels + DESKEW_XRAM if spec.deskew else 0
    pool_sums = 2 * plan.input_shape[1] if plan.pool > 1 else 0  # the streamed pooling's block sums (ops/pool.inc.j2)
    counter = 2  # classify()'s channel counter (program/infer_graph.c.j2)
    return Need(code, plan.xram + pool_sums + counter + k_xram + image, IRAM_BASE + k_iram)


def estimate(spec: BuildSpec) -> Need:
    """Memory the firmware of `spec` needs (checked before compiling); with no kernel chosen,
    the dense kernel's, which needs the least. Deskew buffers the whole image in XRAM."""
    if spec.graph:
        return estimate_graph(spec)
    sizes, pool, mode = list(spec.sizes), spec.pool, spec.mode
    k_xram, k_iram = kernel_memory(spec.kernel or FALLBACK_KERNEL, sizes)
    hidden = sizes[1:-1]
    side = 28 // pool
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    runtime = RUNTIME_CODE_STREAM if mode == "stream" else RUNTIME_CODE
    code = n_weights + 4 * sum(sizes[1:]) + sum(hidden) + runtime + spec.n_images * (spec.image_bytes + IMAGE_EXTRA_CODE) + spec.deskew * DESKEW_CODE
    pool_sums = 2 * side if pool > 1 else 0
    ping, pong = max(hidden[0::2]), max(hidden[1::2] or [1])
    if mode == "stream":  # no input buffer: layer-0 accumulators (3 B each, shared with the logits), pending pooled values
        buffers = 4 * stream_logits_space(sizes) + ping + pong + pool_sums + side
        return Need(code, 0, IRAM_BASE_STREAM + buffers)
    image = spec.image_bytes + DESKEW_XRAM if spec.deskew else 0
    return Need(code, sizes[0] + ping + pong + 4 * 10 + pool_sums + k_xram + image, IRAM_BASE + k_iram)


def max_selftest_images(spec: BuildSpec) -> int:
    return max(0, (spec.target.code - estimate(spec.but(mode="selftest", n_images=0, kernel=None)).code)
               // (spec.image_bytes + IMAGE_EXTRA_CODE))


def per_build(spec: BuildSpec) -> int:
    """How many self-test images one build holds next to the model."""
    n = min(max_selftest_images(spec), 255)
    if n < 1:
        raise Digit51Error(f"no room for self-test images next to model {spec.name} in {spec.target.code} B of code "
                           f"on {spec.target.name}: use --mode serve or a bigger target")
    return n


def batches(spec: BuildSpec, indices: list[int]) -> list[list[int]]:
    n = per_build(spec)
    return [indices[i : i + n] for i in range(0, len(indices), n)]


def check_fit(spec: BuildSpec) -> Need:
    """Need of `spec`, or an error naming the budget, the need and the fix."""
    target, mode, kernel, name = spec.target, spec.mode, spec.kernel or FALLBACK_KERNEL, spec.name
    need = estimate(spec)
    smaller = "fewer channels, a smaller dense layer or one more pool" if spec.graph else "a smaller --hidden or a larger --pool"
    if need.code > target.code:
        images = f" + {spec.n_images} self-test images" if spec.n_images else ""
        raise Digit51Error(
            f"model {name}{images} needs ~{need.code} B of code memory but {target.name} has {target.code} B: "
            f"use fewer --images, {smaller}, or a target with more flash"
        )
    if need.xram > target.xram and spec.graph:
        b = graph_plan.plan(spec.graph, spec.input_shape).buffers
        raise Digit51Error(
            f"model {name} needs {need.xram} B of XRAM for its buffers but {target.name} has {target.xram} B "
            f"(its plan: input map {b['act_in']}, layer outputs {b['act_a']} + {b['act_b']}, one channel's planes "
            f"{b['plane_a']} + {b['plane_b']}, row sums {4 * b['row_acc']}): use {smaller}, or a target with more RAM"
        )
    if need.xram > target.xram:
        tip = "build with --mode stream (activations in internal RAM)" if mode != "stream" else "use a smaller model"
        if kernel_memory(kernel, list(spec.sizes))[0]:
            tip = f"use --kernel {FALLBACK_KERNEL} (the {kernel} kernel's list of non-zero inputs needs XRAM too)"
        if spec.deskew:
            tip = f"use a model trained with --no-deskew (deskew buffers the {spec.image_bytes}-byte image in XRAM)"
        raise Digit51Error(
            f"model {name} needs {need.xram} B of XRAM for its buffers but {target.name} has {target.xram} B: "
            f"{tip}, use a smaller --hidden or a larger --pool, or a target with more RAM"
        )
    if need.iram + STACK_MIN > target.iram:
        raise Digit51Error(
            f"model {name} needs ~{need.iram + STACK_MIN} B of internal RAM in {mode} mode but {target.name} has "
            f"{target.iram} B: use a smaller first hidden layer (--hidden)"
        )
    if mode == "stream" and fold_step(spec.sizes[1], spec.pool) > MAX_FOLD_STEP:
        raise Digit51Error(
            f"model {name} in stream mode folds {fold_step(spec.sizes[1], spec.pool)} layer-0 neurons per received byte, more than "
            f"the {MAX_FOLD_STEP} that keep up with 9600 baud on a 12-clock 8051: use a larger --pool or a smaller first hidden layer"
        )
    return need


def check_acc24(model: IntModel) -> None:
    """Stream mode keeps layer 0's sums in 24 bits: refuse a model whose worst case leaves them."""
    fits = ops.acc24_fits(model.weights[0], model.biases[0])
    if not fits.all():
        j = int(np.argmin(fits))
        bound = int(np.abs(model.biases[0][j].astype(np.int64)) + 255 * np.abs(model.weights[0][j].astype(np.int64)).sum())
        raise Digit51Error(f"layer 0 neuron {j} of model {model.name}: worst-case sum {bound:,} does not fit "
                           f"the 24-bit accumulators of stream mode (at most {ops.ACC24_MAX:,}): use --mode serve on a chip "
                           "with XRAM, or retrain with weight decay (--weight-decay)")


def resolve(spec: BuildSpec) -> tuple[BuildSpec, Need]:
    """`spec` with its kernel chosen, and its Need (checked once): the kernel asked for, else
    the default (the sparse asm kernel) where the chip addresses XRAM the way it needs and
    its list fits the chip's RAM, else the dense asm one."""
    if spec.kernel or spec.mode == "stream":
        kernel = kernel_for(spec.mode, spec.kernel)
        if kernel == "sparse-asm" and spec.target.xaddr not in XRAM:
            raise Digit51Error(f"the sparse-asm kernel has no XRAM addressing fragment for {spec.target.name} "
                               f"({spec.target.xaddr}): use --kernel {FALLBACK_KERNEL} or sparse-c")
        spec = spec.but(kernel=kernel)
        return spec, check_fit(spec)
    if spec.target.xaddr in XRAM:
        try:
            chosen = spec.but(kernel=DEFAULT_KERNEL)
            return chosen, check_fit(chosen)
        except Digit51Error:
            pass
    spec = spec.but(kernel=FALLBACK_KERNEL)
    return spec, check_fit(spec)


def first_mode(spec: BuildSpec, modes=("serve", "stream")) -> str | None:
    """The first firmware mode in which `spec`'s model fits its target, or None (a mode the
    spec itself refuses, such as stream mode for a graph or a deskew model, does not fit)."""
    for mode in modes:
        try:
            check_fit(spec.but(mode=mode))
            return mode
        except Digit51Error:
            continue
    return None


def serving_mode(model: IntModel, target: Target) -> str:
    mode = first_mode(BuildSpec.of(model, target))
    if mode is None:
        raise Digit51Error(f"model {model.name} fits {target.name} in no serving mode: use a smaller model or a bigger --target")
    return mode
