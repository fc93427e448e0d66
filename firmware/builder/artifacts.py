"""Readers of what SDCC leaves in a build folder, each file format read here only: the
linker map (.map), the memory report (.mem), the Intel HEX image (.ihx), an assembler
listing (.lst), and digit51's own memory.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from digit51.trainer.errors import Digit51Error


def code_symbols(map_text: str) -> dict[str, int]:
    """Global code symbols of SDCC's linker map (`firmware.map`): name -> address."""
    return {name: int(addr, 16) for addr, name in re.findall(r"^C:\s+([0-9A-Fa-f]{8})\s+(_\w+)\s", map_text, re.M)}


def parse_mem(text: str) -> dict:
    """Code, external RAM and internal RAM use from SDCC's .mem report."""
    rom = re.search(r"ROM/EPROM/FLASH\s+\S+\s+\S+\s+(\d+)", text)
    xram = re.search(r"EXTERNAL RAM\s+(?:\S+\s+\S+\s+)?(\d+)\s+\d+", text)
    stack = re.search(r"Stack starts at: 0x([0-9a-fA-F]+) \(sp set to 0x[0-9a-fA-F]+\) with (\d+) bytes available", text)
    if not (rom and xram and stack):
        raise Digit51Error("could not read SDCC's memory report (.mem); is this SDCC 4.2?")
    return {"code": int(rom[1]), "xram": int(xram[1]), "iram": int(stack[1], 16), "stack_free": int(stack[2])}


def code_ranges(map_text: str, areas: set[str] | None = None) -> list[tuple[int, int]]:
    """(start, end) of the code areas in an SDCC .map, constant data (CONST) left out."""
    out = []
    for m in re.finditer(r"^(\w+)\s+([0-9A-F]{8})\s+([0-9A-F]{8}) =\s+\d+\. bytes \(([^)]*)\)", map_text, re.M):
        name, start, size, attrs = m[1], int(m[2], 16), int(m[3], 16), m[4]
        if "CODE" in attrs and name != "CONST" and size and (areas is None or name in areas):
            out.append((start, start + size))
    return sorted(set(out))


def read_ihx(path: Path) -> bytes:
    mem = bytearray(65536)
    for line in Path(path).read_text().splitlines():
        if line.startswith(":") and line[7:9] == "00":
            n, addr = int(line[1:3], 16), int(line[3:7], 16)
            mem[addr : addr + n] = bytes.fromhex(line[9 : 9 + 2 * n])
    return bytes(mem)


def area_base(map_text: str, area: str) -> int:
    """Start address of a code area (e.g. INFER) in the linker map."""
    m = re.search(rf"^{area}\s+([0-9A-F]{{8}})", map_text, re.M)
    if m is None:
        raise Digit51Error(f"no area {area} in the linker map; is it a digit51 build?")
    return int(m[1], 16)


def read_memory(folder) -> dict:
    """The build's memory.json (target, mode, kernel, clock, baud, budgets)."""
    path = Path(folder) / "memory.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise Digit51Error(f"{path}: not a digit51 build folder ({e.__class__.__name__}); build it with `digit51 build`") from None
