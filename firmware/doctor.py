"""`digit51 doctor`: every tool and library digit51 can use, found or missing, its version,
and the command that installs it. Exit 1 when something the main job (`digit51 demo`:
train, quantize, build with SDCC, run in s51) needs is missing."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from digit51.firmware import flash, targets
from digit51.trainer.errors import Digit51Error


@dataclass(frozen=True)
class Item:
    name: str  # what the user knows it by
    used_for: str
    install: str  # the command that installs it
    needed: bool = False  # the main job cannot run without it
    command: tuple[str, ...] = ()  # a program: how to ask its version (argv[0] is looked up on PATH)
    module: str = ""  # a Python library: its import name (dist name = `name`)


APT = "apt-get install"
TOOLS = (
    Item("sdcc", "building the firmware (the main job)", f"{APT} sdcc", True, ("sdcc", "--version")),
    Item("s51", "running the firmware in the ucsim 8051 simulator (the main job)", f"{APT} sdcc-ucsim", True, ("s51", "-v")),
    Item("socat", "`--link pty`: the simulator's UART on a pseudo-terminal", f"{APT} socat", command=("socat", "-V")),
    Item("chromium", "the browser tests (tests/test_browser.py), screenshots", f"{APT} chromium", command=("chromium", "--version")),
    Item("chromedriver", "the browser tests: Selenium drives Chromium through it", f"{APT} chromium-driver",
         command=("chromedriver", "--version")),
)
LIBRARIES = (
    Item("numpy", "everything", "pip install digit51", True, module="numpy"),
    Item("jinja2", "code generation, the page", "pip install digit51", True, module="jinja2"),
    Item("pyserial", "reading the firmware's UART", "pip install digit51", True, module="serial"),
    Item("threadpoolctl", "deterministic training (one BLAS thread)", "pip install digit51", True, module="threadpoolctl"),
    Item("pillow", "`digit51 classify` on image files", "pip install 'digit51[images]'", module="PIL"),
    Item("matplotlib", "the plots of `digit51 report` and the sweep", "pip install 'digit51[plots]'", module="matplotlib"),
    Item("selenium", "the browser tests", "pip install 'digit51[browser]'", module="selenium"),
    Item("pytest", "the tests and digit51's pytest plugin", "pip install 'digit51[test]'", module="pytest"),
)


def _flash_tools() -> tuple[Item, ...]:
    """The chips' flashing tools, from `digit51 flash`'s own recipes (firmware/flash.py)."""
    seen, items = set(), []
    for t in targets.TARGETS.values():
        try:
            p = flash.plan(t, Path("fw"), None, t.clock_hz)
        except Digit51Error:  # no recipe: the classic parts go through the user's own programmer
            continue
        if p.tool not in seen:
            seen.add(p.tool)
            chips = ", ".join(sorted(x.name for x in targets.TARGETS.values() if x.flash == t.flash))
            items.append(Item(p.tool, f"`digit51 flash` on {chips}", p.install.split(" (")[0],
                              module=p.tool if p.tool == "ch55xtool" else "",
                              command=() if p.tool == "ch55xtool" else (p.tool,)))
    return tuple(items)


def _program_version(argv: tuple[str, ...]) -> str:
    if len(argv) < 2:
        return ""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(r"\d+\.\d+(?:\.\d+)*", out.stdout + "\n" + out.stderr)
    return found[0] if found else "?"


def check(item: Item) -> tuple[bool, str]:
    """(found, version) of one item."""
    if item.module:
        if importlib.util.find_spec(item.module) is None:
            return False, ""
        try:
            return True, importlib.metadata.version(item.name)
        except importlib.metadata.PackageNotFoundError:
            return True, "?"
    here = Path(sys.executable).parent  # the venv's own scripts (stcgal) when the venv is not activated
    if shutil.which(item.command[0]):
        where = ""
    elif shutil.which(item.command[0], path=str(here)):
        where = f" (in {here}, not on PATH)"
    else:
        return False, ""
    version = _program_version(item.command) if not where else _program_version((str(here / item.command[0]), *item.command[1:]))
    if not version:  # a tool from PyPI: its distribution's version
        try:
            version = importlib.metadata.version(item.name)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
    return True, version + where


def cmd_doctor(a: argparse.Namespace) -> int:
    missing_needed = []
    groups = (("programs", TOOLS), ("Python libraries", LIBRARIES), ("flashing tools (optional)", _flash_tools()))
    for title, items in groups:
        print(title)
        for item in items:
            found, version = check(item)
            state = f"found    {version:<15}" if found else "MISSING  " + " " * 15
            hint = "" if found else f"  install: {item.install}"
            print(f"  {item.name:<14} {state} {item.used_for}{hint}")
            if item.needed and not found:
                missing_needed.append(item)
    if missing_needed:
        names = ", ".join(i.name for i in missing_needed)
        print(f"digit51: error: the main job (`digit51 demo`) needs {names}: "
              + "; ".join(i.install for i in missing_needed), file=sys.stderr)
        return 1
    print("everything the main job needs is installed")
    return 0


def register(sub) -> None:
    p = sub.add_parser("doctor", help="which tools and libraries are installed, and how to install the missing ones",
                       description="List every tool and library digit51 can use, found or missing, its version and the "
                                   "command that installs it. Exit 1 when the main job (digit51 demo) cannot run.")
    p.set_defaults(func=cmd_doctor)
