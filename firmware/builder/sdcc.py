"""Drive SDCC: render the sources, compile, link, check memory against the target, write
a deterministic output folder (sources, .ihx, Intel .hex, memory report).

Every build happens in a fresh private folder next to the output folder and is swapped
in whole when it is done: an interrupted or failed build leaves the old output as it
was, and concurrent runs never share a work folder."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from digit51.codegen.render import (XRAM, DEFAULT_KERNEL, FALLBACK_KERNEL, STREAM_DESKEW, SelfTestSet, kernel_for,
                                    fold_step, kernel_memory, render, stream_logits_space)
from digit51.firmware.protocol import IMAGE_BYTES
from digit51.firmware.builder.artifacts import parse_mem
from digit51.firmware.chips.targets import Startup, Target, startup as make_startup
from digit51.quantize import ops
from digit51.quantize.model_file import IntModel
from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import check_output_dir, make_folder, replace_dir, temp_dir_beside

# What a build folder holds; an existing output folder with anything else is refused.
OUTPUTS = {"src", "firmware.ihx", "firmware.hex", "firmware.map", "memory.json", ".build"}
N_CLASSES = 10  # the firmware's N_CLASSES (codegen/templates/data/model.h.j2)

INSTALL_HINT = "install it with `apt-get install sdcc sdcc-ucsim` (or run `bash .ci/setup`)"
SDCC_FLAGS = ["-mmcs51", "--model-small", "--std-c11", "--Werror"]
# Code bytes besides the weights and images (startup, printf, UART, CRC, the kernels),
# measured from the .mem files of builds of the default model, rounded up.
RUNTIME_CODE = 4600
RUNTIME_CODE_STREAM = 3800  # stream mode (printf_fast, C kernel): 3,710 B measured for 196-11-10, 196-16-10 and 196-20-10
IMAGE_CODE = 28 * 28 + 3  # pixels, label, uint16 index
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
# of the 960 a byte lasts at 9600 baud (docs/frontier.md, "The smallest chip"); more would not keep up.
MAX_FOLD_STEP = 5
IRAM_BASE_STREAM = 74  # the same in stream mode, which links printf_fast (codegen/render.py PRINTF): 70 measured


def sdcc_path() -> str:
    for tool in ("sdcc", "packihx"):
        if shutil.which(tool) is None:
            raise Digit51Error(f"SDCC not found ('{tool}' is not on PATH): {INSTALL_HINT}")
    return shutil.which("sdcc")


@dataclass(frozen=True)
class Need:
    code: int
    xram: int
    iram: int  # internal RAM, buffers and SDCC's own use


def estimate(sizes: list[int], pool: int, n_images: int = 0, mode: str = "serve", kernel: str = FALLBACK_KERNEL,
             deskew: bool = False) -> Need:
    """Memory the firmware of an architecture needs (checked before compiling); by default
    with the dense kernel, which needs the least. Deskew buffers the whole image in XRAM."""
    k_xram, k_iram = kernel_memory(kernel, sizes)
    hidden = sizes[1:-1]
    side = 28 // pool
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    runtime = RUNTIME_CODE_STREAM if mode == "stream" else RUNTIME_CODE
    code = n_weights + 4 * sum(sizes[1:]) + sum(hidden) + runtime + n_images * IMAGE_CODE + deskew * DESKEW_CODE
    pool_sums = 2 * side if pool > 1 else 0
    ping, pong = max(hidden[0::2]), max(hidden[1::2] or [1])
    if mode == "stream":  # no input buffer: layer-0 accumulators (3 B each, shared with the logits), pending pooled values
        buffers = 4 * stream_logits_space(sizes) + ping + pong + pool_sums + side
        return Need(code, 0, IRAM_BASE_STREAM + buffers)
    image = IMAGE_BYTES + DESKEW_XRAM if deskew else 0
    return Need(code, sizes[0] + ping + pong + 4 * 10 + pool_sums + k_xram + image, IRAM_BASE + k_iram)


def max_selftest_images(model: IntModel, target: Target) -> int:
    return max(0, (target.code - estimate(model.sizes, model.pool, 0, "selftest", deskew=model.deskew).code) // IMAGE_CODE)


def check_fit(sizes: list[int], pool: int, target: Target, mode: str, n_images: int = 0,
              kernel: str = FALLBACK_KERNEL, deskew: bool = False) -> Need:
    """Need of the architecture in `mode`, or an error naming the budget, the need and the fix."""
    if deskew and mode == "stream":
        raise Digit51Error(STREAM_DESKEW)
    need = estimate(sizes, pool, n_images, mode, kernel, deskew)
    name = "-".join(map(str, sizes))
    if need.code > target.code:
        images = f" + {n_images} self-test images" if n_images else ""
        raise Digit51Error(
            f"model {name}{images} needs ~{need.code} B of code memory but {target.name} has {target.code} B: "
            "use fewer --images, a smaller --hidden or a larger --pool, or a target with more flash"
        )
    if need.xram > target.xram:
        tip = "build with --mode stream (activations in internal RAM)" if mode != "stream" else "use a smaller model"
        if kernel_memory(kernel, sizes)[0]:
            tip = f"use --kernel {FALLBACK_KERNEL} (the {kernel} kernel's list of non-zero inputs needs XRAM too)"
        if deskew:
            tip = f"use a model trained with --no-deskew (deskew buffers the {IMAGE_BYTES}-byte image in XRAM)"
        raise Digit51Error(
            f"model {name} needs {need.xram} B of XRAM for its buffers but {target.name} has {target.xram} B: "
            f"{tip}, use a smaller --hidden or a larger --pool, or a target with more RAM"
        )
    if need.iram + STACK_MIN > target.iram:
        raise Digit51Error(
            f"model {name} needs ~{need.iram + STACK_MIN} B of internal RAM in {mode} mode but {target.name} has "
            f"{target.iram} B: use a smaller first hidden layer (--hidden)"
        )
    if mode == "stream" and fold_step(sizes[1], pool) > MAX_FOLD_STEP:
        raise Digit51Error(
            f"model {name} in stream mode folds {fold_step(sizes[1], pool)} layer-0 neurons per received byte, more than "
            f"the {MAX_FOLD_STEP} that keep up with 9600 baud on a 12-clock 8051: use a larger --pool or a smaller first hidden layer"
        )
    return need


def first_mode(sizes: list[int], pool: int, target: Target, deskew: bool = False) -> str | None:
    """The first serving mode (serve, then stream) in which the architecture fits `target`, or None."""
    for mode in ("serve", "stream"):
        try:
            check_fit(sizes, pool, target, mode, deskew=deskew)
            return mode
        except Digit51Error:
            continue
    return None


def check_acc24(model: IntModel) -> None:
    """Stream mode keeps layer 0's sums in 24 bits: refuse a model whose worst case leaves them."""
    fits = ops.acc24_fits(model.weights[0], model.biases[0])
    if not fits.all():
        j = int(np.argmin(fits))
        bound = int(np.abs(model.biases[0][j].astype(np.int64)) + 255 * np.abs(model.weights[0][j].astype(np.int64)).sum())
        raise Digit51Error(f"layer 0 neuron {j} of model {'-'.join(map(str, model.sizes))}: worst-case sum {bound:,} does not fit "
                           f"the 24-bit accumulators of stream mode (at most {ops.ACC24_MAX:,}): use --mode serve on a chip "
                           "with XRAM, or retrain with weight decay (--weight-decay)")


def resolve_kernel(sizes: list[int], pool: int, target: Target, mode: str, kernel: str | None = None,
                   deskew: bool = False) -> str:
    """The kernel to build: the one asked for, else the default (the sparse asm kernel) where
    the chip addresses XRAM the way it needs and its list fits the chip's RAM, else the dense asm one."""
    if kernel or mode == "stream":
        kernel = kernel_for(mode, kernel)
        if kernel == "sparse-asm" and target.xaddr not in XRAM:
            raise Digit51Error(f"the sparse-asm kernel has no XRAM addressing fragment for {target.name} "
                               f"({target.xaddr}): use --kernel {FALLBACK_KERNEL} or sparse-c")
        return kernel
    if target.xaddr not in XRAM:
        return FALLBACK_KERNEL
    try:
        check_fit(sizes, pool, target, mode, 0, DEFAULT_KERNEL, deskew)
        return DEFAULT_KERNEL
    except Digit51Error:
        return FALLBACK_KERNEL


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or "warning" in out.lower():
        first = next((line for line in out.splitlines() if "error" in line.lower() or "warning" in line.lower()), out[:300])
        if any(m in out for m in ("Insufficient ROM", "Insufficient space in data memory", "Insufficient EXTERNAL RAM")):
            raise Digit51Error(f"the firmware does not fit: {first.strip()} (use fewer --images, a smaller model or a bigger target)")
        raise Digit51Error(f"SDCC failed on {' '.join(cmd[-1:])}: {first.strip()}")


@dataclass(frozen=True)
class Firmware:
    folder: Path
    ihx: Path
    hex: Path
    memory: dict


@contextlib.contextmanager
def staging(out: Path):
    """A fresh private folder beside `out` (checked first), removed on any failure or signal."""
    make_folder(Path(out).parent)
    out = check_output_dir(out, OUTPUTS)
    tmp = temp_dir_beside(out)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(fw: Firmware, out: Path) -> Firmware:
    """Swap the finished build folder `fw.folder` in as `out`, whole."""
    replace_dir(fw.folder, out)
    return replace(fw, folder=out, ihx=out / fw.ihx.name, hex=out / fw.hex.name)


def build(model: IntModel, target: Target, out: Path, mode: str, source: str,
          selftest: SelfTestSet | None = None, kernel: str | None = None, sim_exit: bool = True,
          startup: Startup | None = None) -> Firmware:
    """Build the firmware into the folder `out`, replacing it whole; same inputs, same bytes.
    `startup` is the start-up (target at a clock and baud rate), by default the target's own
    at its defaults."""
    with staging(out) as tmp:
        return publish(compile_firmware(model, target, tmp, mode, source, selftest, kernel, sim_exit, startup), out)


def check_deployable(model: IntModel) -> None:
    """One line for a model the firmware cannot run yet: a layer graph, or images other
    than 28x28 (issue 20: the Python side has them, the kernels do not yet)."""
    if model.graph:
        raise Digit51Error(f"convolution layers are not in the firmware yet: {model.graph} cannot be built; "
                           "train an MLP (--hidden/--pool) to deploy")
    if tuple(model.input_shape) != (28, 28):
        raise Digit51Error(f"{model.input_shape[0]}x{model.input_shape[1]} images are not in the firmware yet (28x28 only): "
                           "train on 28x28 images to deploy")


def compile_firmware(model: IntModel, target: Target, folder: Path, mode: str, source: str,
                     selftest: SelfTestSet | None = None, kernel: str | None = None, sim_exit: bool = True,
                     startup: Startup | None = None) -> Firmware:
    """Render and compile into the empty private folder `folder`."""
    check_deployable(model)
    kernel = resolve_kernel(model.sizes, model.pool, target, mode, kernel, model.deskew)
    startup = startup or make_startup(target)
    sdcc = sdcc_path()
    if model.sizes[-1] != N_CLASSES:
        raise Digit51Error(f"the firmware classifies {N_CLASSES} digits but this model has {model.sizes[-1]} classes: "
                           "train on a set with labels 0..9")
    check_fit(model.sizes, model.pool, target, mode, len(selftest.indices) if selftest else 0, kernel, model.deskew)
    if mode == "stream":
        check_acc24(model)
    # the model's file name, shown in a C comment: a name that is not UTF-8 or holds a newline must not break it
    source = "".join(c if c.isprintable() else "?" for c in source.encode("utf-8", "replace").decode())
    files = render(model, mode, source, selftest, kernel, startup)
    src, work = folder / "src", folder / ".build"
    src.mkdir()
    work.mkdir()
    for name, text in files.items():
        (src / name).write_bytes(text.encode())
        (work / name).write_bytes(text.encode())
    flags = SDCC_FLAGS + (["-DDIGIT51_SIM_EXIT"] if sim_exit else [])
    units = sorted(n for n in files if n.endswith(".c") and n != "main.c")
    for unit in units:  # infer.c in its own code area, so firmware/measure/timing.py can find the inference code
        _run([sdcc, *flags, *(["--codeseg", "INFER"] if unit == "infer.c" else []), "-c", unit], work)
    limits = ["--code-size", str(target.code), "--iram-size", str(target.iram), "--xram-size", str(target.xram)]
    _run([sdcc, *flags, *limits, "-o", "firmware.ihx", "main.c", *(u[:-2] + ".rel" for u in units)], work)
    memory = parse_mem((work / "firmware.mem").read_text())
    if memory["xram"] > target.xram:
        raise Digit51Error(f"the firmware uses {memory['xram']} B of XRAM but {target.name} has {target.xram} B: use a smaller model or a bigger target")
    if memory["stack_free"] < STACK_MIN:
        raise Digit51Error(f"only {memory['stack_free']} B of internal RAM are left for the stack on {target.name} (need {STACK_MIN}): use a smaller model")
    report = {
        "target": target.name,
        "hardware": not sim_exit,  # built without the simulator's stop hook, for flashing (digit51 flash checks it)
        "mode": mode,
        "kernel": kernel,
        "model": "-".join(map(str, model.sizes)),
        "code": {"used": memory["code"], "budget": target.code},
        "xram": {"used": memory["xram"], "budget": target.xram},
        "iram": {"used": memory["iram"], "budget": target.iram, "stack_free": memory["stack_free"]},
        "clock_hz": startup.clock,
        "baud": {"asked": startup.baud, "actual": round(startup.uart.actual, 1), "error": round(startup.uart.error, 5)},
        "xaddr": startup.target.xaddr,
    }
    hex_text = subprocess.run(["packihx", "firmware.ihx"], cwd=work, capture_output=True, check=True).stdout
    for name in ("firmware.ihx", "firmware.map"):
        shutil.copy(work / name, folder / name)
    (folder / "firmware.hex").write_bytes(hex_text)
    (folder / "memory.json").write_bytes((json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    shutil.rmtree(work)
    return Firmware(folder, folder / "firmware.ihx", folder / "firmware.hex", report)
