"""`digit51 flash FIRMWARE_DIR --target CHIP --port PORT`: run the chip's usual flashing
tool if it is installed, else print the exact command to run. The tools are optional
(`pip install digit51[flash]` for the PyPI ones); recipes from chips-8051.md's table."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from digit51.firmware import targets
from digit51.trainer.errors import Digit51Error


@dataclass(frozen=True)
class Plan:
    tool: str  # executable looked up on PATH
    argv: list[str]  # the command
    needs_bin: bool  # the tool reads a raw binary made with SDCC's makebin
    install: str  # how to get the tool


def plan(target: targets.Target, folder: Path, port: str | None, clock: int) -> Plan:
    """The command that flashes `folder`'s firmware onto `target`."""
    hexfile, binfile = str(folder / "firmware.hex"), str(folder / "firmware.bin")
    recipe = target.flash
    if recipe == "stcgal":  # power-cycle the board to enter the bootloader; -t trims the RC clock
        return Plan("stcgal", ["stcgal", "-P", "stc8h", "-p", port or "/dev/ttyUSB0", "-t", str(clock // 1000), hexfile],
                    False, "pip install 'digit51[flash]' (stcgal)")
    if recipe == "ch55x":  # USB bootloader: no serial port
        return Plan("ch55xtool", [sys.executable, "-m", "ch55xtool", "-f", binfile], True,
                    "pip install 'digit51[flash]' (ch55xtool)")
    if recipe == "nuvoprog":  # Nu-Link adapter, no factory UART bootloader
        return Plan("nuvoprog", ["nuvoprog", "program", "-t", "n76e003", "-a", str(folder / "firmware.ihx")], False,
                    "go install github.com/erincandescent/nuvoprog@latest (Go; not on PyPI)")
    if recipe == "efm8load":  # UART bootloader
        return Plan("efm8load.py", ["efm8load.py", "-p", port or "/dev/ttyUSB0", "-b", "115200", "-w", hexfile], False,
                    "get efm8load.py from github.com/fishpepper/efm8load (not on PyPI)")
    raise Digit51Error(f"{target.name} has no flashing recipe: program {hexfile} with your programmer")


def _have(tool: str) -> bool:
    if tool == "ch55xtool":
        import importlib.util

        return importlib.util.find_spec("ch55xtool") is not None
    return shutil.which(tool) is not None


def make_bin(folder: Path) -> Path:
    out = folder / "firmware.bin"
    if shutil.which("makebin") is None:
        raise Digit51Error("'makebin' not found (it comes with SDCC): apt-get install sdcc")
    data = subprocess.run(["makebin", "-p", str(folder / "firmware.ihx")], capture_output=True, check=True).stdout
    tmp = out.with_suffix(".bin.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def cmd_flash(a: argparse.Namespace) -> int:
    folder = Path(a.firmware)
    if not (folder / "firmware.ihx").is_file():
        raise Digit51Error(f"{folder}: no firmware.ihx; build it with `digit51 build QMODEL -o {folder} --target {a.target} --hardware`")
    target = targets.get(a.target)
    p = plan(target, folder, a.port, a.clock or target.clock_hz)
    shown = " ".join(p.argv)
    if p.needs_bin:
        shown = f"makebin -p {folder / 'firmware.ihx'} {folder / 'firmware.bin'} && {shown}"
    if not _have(p.tool):
        print(f"digit51: {p.tool} is not installed ({p.install}); then run: {shown}", file=sys.stderr)
        return 1
    if p.needs_bin:
        make_bin(folder)
    print(f"digit51: {shown}", file=sys.stderr)
    return subprocess.run(p.argv).returncode


def register(sub) -> None:
    p = sub.add_parser("flash", help="flash a built firmware onto a chip with its usual tool",
                       description="Run the chip's flashing tool (stcgal, ch55xtool, nuvoprog, efm8load.py) on a firmware "
                                   "folder, or print the exact command when the tool is not installed.")
    p.add_argument("firmware", metavar="FIRMWARE_DIR", help="folder from `digit51 build --hardware`")
    p.add_argument("--target", required=True, choices=sorted(targets.TARGETS), help="chip profile")
    p.add_argument("--port", help="serial port of the bootloader (STC, EFM8); default /dev/ttyUSB0")
    p.add_argument("--clock", type=int, metavar="HZ", help="STC: RC clock to trim to (default the target's)")
    p.set_defaults(func=cmd_flash)
