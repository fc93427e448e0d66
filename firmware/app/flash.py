"""`digit51 flash FIRMWARE_DIR --target CHIP --port PORT`: run the chip's usual flashing
tool if it is installed, else print the exact command to run. The tools are optional
(`pip install digit51[flash]` for the PyPI ones); recipes from chips-8051.md's table and
each tool's own source, named beside each command line below."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from digit51.firmware import options
from digit51.firmware.builder.artifacts import read_memory
from digit51.firmware.chips import targets
from digit51.trainer.errors import Digit51Error

# nuvoprog (erincandescent/nuvoprog) refuses an image without configuration bytes ("No
# configuration bytes specified in image or config parameter", cmd/target_data.go). These
# four are the erased state, decoded as target/n76/n76e003.go UnmarshalBinary does: CONFIG0
# 0xFF boot from APROM, OCD off, reset pin on, unlocked; CONFIG1 0xFF no LDROM (all flash is
# APROM); CONFIG2 0xFF brown-out detect on at 2.2 V with reset; the watchdog byte 0xFF off.
N76E003_CONFIG = "FFFFFFFF"
# nuvoprog's N76E003 definition (target/n76/n76e003.go ProgMemSize) covers 12 KB of program memory.
NUVOPROG_N76E003_BYTES = 12 * 1024


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
    if recipe == "stcgal":  # power-cycle the board to enter the bootloader; -t trims the RC clock (kHz)
        # protocol stc8d: "All STC8 and STC32 series" (stcgal doc/USAGE.md); stc8g is STC8G1/STC8H1 only
        return Plan("stcgal", ["stcgal", "-P", "stc8d", "-p", port or "/dev/ttyUSB0", "-t", str(clock // 1000), hexfile],
                    False, "pip install 'digit51[flash]' (stcgal)")
    if recipe == "ch55x":  # USB bootloader: no serial port; ch55xtool reads raw binaries only (its -f help)
        return Plan("ch55xtool", [sys.executable, "-m", "ch55xtool", "-f", binfile], True,
                    "pip install 'digit51[flash]' (ch55xtool)")
    if recipe == "nuvoprog":  # Nu-Link adapter, no factory UART bootloader; -c: configuration bytes (cmd/program.go)
        return Plan("nuvoprog", ["nuvoprog", "program", "-t", "n76e003", "-c", N76E003_CONFIG, "-a", str(folder / "firmware.ihx")],
                    False, "go install github.com/erincandescent/nuvoprog@latest (Go; not on PyPI)")
    if recipe == "efm8load":  # UART bootloader
        return Plan("efm8load.py", ["efm8load.py", "-p", port or "/dev/ttyUSB0", "-b", "115200", "-w", hexfile], False,
                    "get efm8load.py from github.com/fishpepper/efm8load (not on PyPI)")
    raise Digit51Error(f"{target.name} has no flashing recipe: program {hexfile} with your programmer")


def _where(tool: str) -> str | None:
    """The tool's path: on PATH, else beside this Python (a venv's bin, not activated)."""
    if tool == "ch55xtool":
        import importlib.util

        return sys.executable if importlib.util.find_spec("ch55xtool") is not None else None
    return shutil.which(tool) or shutil.which(tool, path=str(Path(sys.executable).parent))


def make_bin(folder: Path) -> Path:
    out = folder / "firmware.bin"
    if shutil.which("makebin") is None:
        raise Digit51Error("'makebin' not found (it comes with SDCC): apt-get install sdcc")
    p = subprocess.run(["makebin", "-p", str(folder / "firmware.ihx")], capture_output=True)
    if p.returncode != 0 or not p.stdout:
        why = p.stderr.decode(errors="replace").strip().splitlines()
        raise Digit51Error(f"makebin could not read {folder / 'firmware.ihx'} ({why[0] if why else 'no output'}): "
                           f"rebuild the folder with `digit51 build QMODEL -o {folder} --hardware`")
    tmp = out.with_suffix(".bin.tmp")
    tmp.write_bytes(p.stdout)
    tmp.replace(out)
    return out


def check_folder(folder: Path, target: targets.Target) -> dict:
    """The build's memory.json, if `folder` is a `--hardware` build for `target`, else an error."""
    rebuild = f"build it with `digit51 build QMODEL -o {folder} --target {target.name} --hardware`"
    if not (folder / "firmware.ihx").is_file():
        raise Digit51Error(f"{folder}: no firmware.ihx; {rebuild}")
    try:
        memory = read_memory(folder)
        built_for, hardware = memory["target"], memory["hardware"]
    except (Digit51Error, KeyError, TypeError):
        raise Digit51Error(f"{folder}: no readable memory.json saying which chip the firmware is for; {rebuild}") from None
    if built_for != target.name:
        raise Digit51Error(f"{folder} was built for {built_for}, not {target.name}: flash it with --target {built_for}, or {rebuild}")
    if hardware is not True:
        raise Digit51Error(f"{folder} is a simulator build (it stops ucsim when done and runs no chip start-up); {rebuild}")
    return memory


def cmd_flash(a: argparse.Namespace) -> int:
    folder = Path(a.firmware)
    target = targets.get(a.target)
    memory = check_folder(folder, target)
    built = int(memory.get("clock_hz") or target.clock_hz)
    if a.clock is not None and a.clock != built:
        raise Digit51Error(f"--clock {a.clock} differs from the {built} Hz this firmware was built for (its UART and timer "
                           f"reloads depend on it): leave --clock out, or rebuild with `digit51 build ... --clock {a.clock} --hardware`")
    code = int(memory.get("code", {}).get("used", 0))
    if target.flash == "nuvoprog" and code > NUVOPROG_N76E003_BYTES:
        raise Digit51Error(f"this firmware has {code} B of code but nuvoprog's N76E003 definition programs "
                           f"{NUVOPROG_N76E003_BYTES} B: use a smaller model, or Nuvoton's own NuLink tools")
    p = plan(target, folder, a.port, built)
    shown = shlex.join(p.argv)
    if p.needs_bin:
        shown = f"{shlex.join(['makebin', '-p', str(folder / 'firmware.ihx'), str(folder / 'firmware.bin')])} && {shown}"
    where = _where(p.tool)
    if where is None:
        print(f"digit51: {p.tool} is not installed ({p.install}); then run: {shown}", file=sys.stderr)
        return 1
    if p.needs_bin:
        make_bin(folder)
    print(f"digit51: {shown}", file=sys.stderr)
    return subprocess.run([where if a == p.tool else a for a in p.argv[:1]] + p.argv[1:]).returncode


def _clock(text: str) -> int:
    try:
        hz = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of Hz (e.g. 24000000)") from None
    if hz <= 0:
        raise argparse.ArgumentTypeError(f"{hz} Hz: the clock must be a positive number of Hz")
    return hz


def register(sub) -> None:
    p = sub.add_parser("flash", help="flash a built firmware onto a chip with its usual tool",
                       description="Run the chip's flashing tool (stcgal, ch55xtool, nuvoprog, efm8load.py) on a folder "
                                   "from `digit51 build --hardware` for that chip, or print the exact command when the "
                                   "tool is not installed.")
    p.add_argument("firmware", metavar="FIRMWARE_DIR", help="folder from `digit51 build --hardware`")
    options.add_target(p, default=None, required=True, help="chip profile (the one the folder was built for)")
    options.add_port(p, help="serial port of the bootloader (STC, EFM8); default /dev/ttyUSB0")
    p.add_argument("--clock", type=_clock, metavar="HZ",
                   help="STC: RC clock to trim to; must be the clock the firmware was built for (the default, read from memory.json)")
    p.set_defaults(func=cmd_flash)
