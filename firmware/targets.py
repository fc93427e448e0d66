"""Target chips: memory sizes the build checks against, and how to simulate them."""

from __future__ import annotations

from dataclasses import dataclass

from digit51.trainer.errors import Digit51Error


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    code: int  # bytes of code memory (flash)
    iram: int  # bytes of internal RAM (data + idata)
    xram: int  # bytes of external / on-chip expanded RAM reached with MOVX
    s51_type: str  # ucsim CPU type that models it

    clock_hz: int = 11_059_200
    clocks_per_cycle: int = 12
    # How asm kernels address XRAM beyond one page (codegen/render.ACT_FRAGMENTS): "r0-p2" is
    # MOVX @R0 with the page in P2 (classic 8051/8052, Intel MCS-51 manual: P2 drives A8-A15 during MOVX @Ri);
    # "dptr" is MOVX @DPTR only, for chips without that page register (N76E003).
    xram_pointer: str = "r0-p2"


TARGETS = {
    t.name: t
    for t in (
        Target("generic-8052", "8052 with 64 KB code and 64 KB external SRAM", 65536, 256, 65536, "52"),
        Target("at89c51ed2", "Microchip AT89C51ED2: 64 KB flash, 256 B RAM, 768 B XRAM at reset (1792 B via AUXR)", 65536, 256, 768, "52"),
        Target("stc89c52rc", "STC89C52RC: 8 KB flash, 256 B RAM, 256 B XRAM", 8192, 256, 256, "52"),
        Target("at89s52", "Microchip AT89S52: 8 KB flash, 256 B RAM, no XRAM", 8192, 256, 0, "52"),
    )
}
DEFAULT_TARGET = "generic-8052"


def get(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise Digit51Error(f"unknown target '{name}'; choose one of: {', '.join(TARGETS)}") from None
