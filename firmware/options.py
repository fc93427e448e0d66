"""The command-line options every digit51 command and script shares, defined once: the chip
(--target), the kernel (--kernel), the test images (--images, --start), the serial port
(--port) and its baud rate (--baud, by default the one the firmware was built for)."""

from __future__ import annotations

import argparse

from digit51.codegen.render import DEFAULT_KERNEL, KERNELS, MODES
from digit51.firmware.builder.artifacts import read_memory
from digit51.firmware.chips import targets
from digit51.trainer.cli import add_data_option  # noqa: F401  (--data: defined once, in the first stage; re-exported)
from digit51.trainer.errors import Digit51Error

MODE_NAMES = tuple(MODES)
MODE_HELP = ("selftest: embedded test images; serve: images sent over the UART; "
             "stream: serve for tiny RAM, classifying as the bytes arrive")
CLASSIC_BAUD = 9600  # what a board runs when nothing says otherwise (the classic targets' rate)


def add_target(p: argparse.ArgumentParser, *, default: str | None = targets.DEFAULT_TARGET, required: bool = False,
               repeat: bool = False, help: str = "chip profile", checked: bool = True) -> None:
    """--target; `checked=False` leaves the name to the command (targets.get: one line naming the choices)."""
    shown = "all" if (repeat or not required) and default is None else default
    p.add_argument("--target", choices=sorted(targets.TARGETS) if checked else None, required=required,
                   action="append" if repeat else "store", metavar=None if checked else "CHIP",
                   default=None if repeat else default,
                   help=help + ("" if required else f" (default {shown})") + (" (repeatable)" if repeat else ""))


def add_kernel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", choices=sorted(KERNELS),
                   help=f"dense-layer kernel: asm (hand-written 8051 loop), c (the reference), or their zero-skipping "
                        f"sparse-asm / sparse-c; default {DEFAULT_KERNEL} (asm where its list does not fit XRAM), c in stream mode")


def add_images(p: argparse.ArgumentParser, default: int | None, help: str | None = None, start: bool = True,
               type=int) -> None:
    """--images (and --start): test images from index --start; default None = the command decides (e.g. build: only in
    selftest mode). `type=str` leaves the check to the command (one line of its own instead of argparse's usage)."""
    p.add_argument("--images", type=type, default=default,
                   help=help or (f"how many MNIST test images (default {default})" if default is not None else "how many MNIST test images"))
    if start:
        p.add_argument("--start", type=int, default=0 if default is not None else None, help="first test-image index (default 0)")


def check_selection(a: argparse.Namespace, n_test: int | None = None) -> None:
    """--start/--images select test images; checked before any long work, then with the real count."""
    if a.images < 1 or a.start < 0 or (n_test is not None and a.start + a.images > n_test):
        n_test = 10_000 if n_test is None else n_test
        raise Digit51Error(f"--start {a.start} --images {a.images} must select test images within 0..{n_test - 1}")


def selected(a: argparse.Namespace, n_test: int) -> list[int]:
    check_selection(a, n_test)
    return list(range(a.start, a.start + a.images))


def add_port(p: argparse.ArgumentParser, *, positional: bool = False, help: str = "serial port or pyserial URL") -> None:
    if positional:
        p.add_argument("port", metavar="PORT", help=help)
    else:
        p.add_argument("--port", metavar="PORT", help=help)


def add_baud(p: argparse.ArgumentParser, help: str = "baud rate") -> None:
    p.add_argument("--baud", type=int, metavar="N",
                   help=f"{help} (default: the one --firmware was built for, else --target's, else {CLASSIC_BAUD})")


def add_firmware_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--firmware", metavar="DIR", help="the build folder of the firmware on the board (its memory.json gives the baud rate)")


def baud_of(a: argparse.Namespace) -> int:
    """--baud, else what the build in --firmware DIR asked for, else --target's default, else 9600."""
    if getattr(a, "baud", None) is not None:
        return a.baud
    if getattr(a, "firmware", None):
        return int(read_memory(a.firmware)["baud"]["asked"])
    if isinstance(getattr(a, "target", None), str):
        return targets.get(a.target).baud
    return CLASSIC_BAUD
