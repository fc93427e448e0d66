"""digit51: handwritten-digit recognition from NumPy training down to an 8051.

The public Python API, each step one call: load_data -> train -> quantize -> simulate
(integer arithmetic, the specification) -> build_firmware (SDCC) -> run_in_ucsim, or
boot (s51) / connect (a chip on any pyserial URL) for a Board to talk to; and
assert_bit_exact, the firmware-against-simulator check. README.md, "Python API", has a
runnable example. Everything in `__all__` is supported; the stage packages
`digit51.trainer`, `.quantize`, `.codegen` and `.firmware` are internal.
Errors a user can fix raise `digit51.Digit51Error`, saying what to do.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from digit51.trainer.errors import Digit51Error
import digit51.quantize  # noqa: E402,F401  (the stage package first: the function quantize below must not be replaced by it when a submodule loads)
from digit51.trainer.train import MAX_MEMORY_MB as _MAX_MEMORY_MB  # numpy only: the trainer is the first stage

if TYPE_CHECKING:  # the names below load on first use (__getattr__): `import digit51.trainer.cli` stays light
    from digit51.firmware.builder.sdcc import Firmware
    from digit51.firmware.chips.targets import Target
    from digit51.firmware.host.board import Board, RunResult
    from digit51.quantize.model_file import IntModel
    from digit51.quantize.quantizer import QuantConfig
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.mnist import Mnist
    from digit51.trainer.model_file import FloatModel

__all__ = [
    "load_data", "train", "quantize", "simulate", "save_model", "load_model",
    "build_firmware", "run_in_ucsim", "boot", "connect", "assert_bit_exact", "image_frame",
    "Mnist", "TrainConfig", "FloatModel", "QuantConfig", "IntModel", "Target", "TARGETS",
    "Firmware", "Board", "RunResult", "Ready", "Prediction", "FrameError", "Done", "BadLine",
    "Digit51Error",
]



def __dir__() -> list[str]:
    return sorted(__all__)


_HOMES = {  # public name -> the module that defines it, imported on first use
    **dict.fromkeys(("Board", "RunResult", "boot", "connect"), "digit51.firmware.host.board"),
    "assert_bit_exact": "digit51.firmware.host.bitexact", "Firmware": "digit51.firmware.builder.sdcc",
    **dict.fromkeys(("Ready", "Prediction", "FrameError", "Done", "BadLine"), "digit51.firmware.protocol"),
    "Target": "digit51.firmware.chips.target", "IntModel": "digit51.quantize.model_file",
    "QuantConfig": "digit51.quantize.quantizer", "Mnist": "digit51.trainer.mnist",
    "TrainConfig": "digit51.trainer.config", "FloatModel": "digit51.trainer.model_file",
}


def __getattr__(name: str):
    if name == "TARGETS":  # chip profiles by name (code, internal RAM, XRAM sizes; the s51 CPU type)
        from digit51.firmware.chips.targets import TARGETS as table
        value = MappingProxyType(table)
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'digit51' has no attribute {name!r}")
    globals()[name] = value
    return value


def load_data(folder: str | os.PathLike | None = None) -> Mnist:
    """All of MNIST as uint8 arrays (images (N, 28, 28), labels (N,)), sha256-checked; or
    another set in MNIST's file names (images up to 64x64, 2 to 255 classes).

    `folder` holds the four IDX files (.gz or raw); without it: $DIGIT51_DATA, then
    the user cache, then a download into the cache (as the CLI's --data)."""
    from digit51.trainer import mnist

    return mnist.load(folder)


def train(data: Mnist, config: TrainConfig | None = None, max_memory_mb: float = _MAX_MEMORY_MB, **options) -> FloatModel:
    """Train a float MLP or layer graph; `options` are TrainConfig fields (hidden, pool, or
    arch="avgpool2,conv3x3:8,maxpool2,dense:10"; epochs, seed...).
    Refused before any work when its estimated memory exceeds `max_memory_mb`.

    Deterministic: the same data, options and seed give the same weights."""
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train as _train

    cfg = config or TrainConfig()
    if options:
        if "hidden" in options:
            options["hidden"] = tuple(options["hidden"])
        try:
            cfg = dataclasses.replace(cfg, **options)
        except (TypeError, ValueError) as e:
            raise Digit51Error(f"bad training option: {e}") from None
    return _train(data, cfg, max_memory_mb=max_memory_mb)


def quantize(model: FloatModel, data: Mnist, config: QuantConfig | None = None, qat_epochs: int = 0) -> IntModel:
    """The int8 model of `model`, calibrated on the first training images, optionally
    after `qat_epochs` of quantization-aware fine-tuning. Its `meta["accuracy"]` holds
    the float and integer test accuracies."""
    from digit51.quantize.measure import quantize_and_measure
    from digit51.quantize.quantizer import QuantConfig

    qmodel, _ = quantize_and_measure(model, data, config or QuantConfig(), qat_epochs)
    return qmodel


def simulate(model: IntModel, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 logits (N, classes), digits (N,)) for uint8 (N, H, W) images (28x28 for MNIST),
    computed in integer arithmetic exactly as the firmware does: the specification it must match."""
    from digit51.quantize import simulate as _simulate

    return _simulate.run(model, np.asarray(images, dtype=np.uint8))


def save_model(path: str | os.PathLike, model: FloatModel | IntModel) -> None:
    """Write a float or integer model file atomically (same model, same bytes)."""
    from digit51.quantize import model_file as int_model_file
    from digit51.trainer import model_file as float_model_file

    if isinstance(model, int_model_file.IntModel):
        int_model_file.save(path, model)
    elif isinstance(model, float_model_file.FloatModel):
        float_model_file.save(path, model)
    else:
        raise TypeError(f"expected a FloatModel or an IntModel, not {type(model).__name__}")


def load_model(path: str | os.PathLike) -> FloatModel | IntModel:
    """Read a model file written by save_model or the CLI (.d51 float, .q51 integer)."""
    from digit51.quantize import model_file as int_model_file
    from digit51.trainer import model_file as float_model_file

    try:
        return int_model_file.load(path)
    except Digit51Error as e:
        if f"'{float_model_file.KIND}' artifact" not in str(e):
            raise
    return float_model_file.load(path)


def build_firmware(model: IntModel, out: str | os.PathLike, target: Target | str = "generic-8052",  # chips/targets.py DEFAULT_TARGET
                   mode: str = "serve", kernel: str | None = None, hardware: bool = False,
                   images: np.ndarray | None = None, labels: np.ndarray | None = None,
                   indices: Sequence[int] | None = None, source: str | None = None,
                   clock: int | None = None, baud: int | None = None) -> Firmware:
    """Generate the C and build it with SDCC into the folder `out` (src/, firmware.ihx,
    Intel firmware.hex, memory.json). Checks the model fits `target` first.

    mode: "serve" (images over the UART), "stream" (serve for chips with tiny RAM) or
    "selftest" (the given `images` and `labels` built in; `indices` default 0..N-1).
    kernel: "asm" or "c" (default: the fastest the mode allows). hardware=True leaves
    out the simulator's stop hook, for flashing a chip. clock (Hz) and baud override the
    target's defaults; a baud rate more than 2 % off is refused. Same inputs, same bytes."""
    from digit51.codegen.render import SelfTestSet as _SelfTestSet
    from digit51.firmware.builder import sdcc as _build
    from digit51.firmware.chips import targets as _targets

    target = target if isinstance(target, _targets.Target) else _targets.get(target)
    selftest = None
    if mode == "selftest":
        if images is None or labels is None:
            raise Digit51Error("selftest mode builds images into the firmware: pass images= and labels=")
        idx = list(range(len(images))) if indices is None else [int(i) for i in indices]
        selftest = _SelfTestSet(idx, np.asarray(images, np.uint8), np.asarray(labels, np.uint8))
    name = source or "model " + model.name
    from digit51.codegen.spec import BuildSpec

    spec = BuildSpec.of(model, target, mode, kernel)
    return _build.build(model, spec, Path(out), name, selftest, sim_exit=not hardware,
                        startup=_targets.startup(target, clock, baud))


def run_in_ucsim(firmware: Firmware | str | os.PathLike, images: np.ndarray | None = None,
                 indices: Sequence[int] | None = None,
                 target: Target | str | None = None, link: str = "socket", timeout: float = 30.0) -> RunResult:
    """Boot the firmware in the s51 simulator and return its answers (digits, logits,
    cycles per inference). A serve or stream firmware classifies `images`; a self-test
    firmware runs the images built into it. link: "socket" or "pty" (a socat
    pseudo-terminal opened as a serial device). s51 is stopped before this returns."""
    from digit51.firmware.host.board import run_firmware

    return run_firmware(firmware, images, indices, target, link, timeout)


def image_frame(index: int, image: np.ndarray) -> bytes:
    """The checksummed serial frame that asks the firmware to classify one image."""
    from digit51.firmware.protocol import image_frame as frame

    return frame(int(index), np.asarray(image, np.uint8).tobytes())

