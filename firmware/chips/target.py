"""What a target chip is, as data: memory, clock, UART and clock schemes, XRAM addressing and
start-up register writes (the values: target_table.py; the formulas: targets.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reg:
    """One start-up statement and where its value comes from."""
    stmt: str
    note: str


@dataclass(frozen=True)
class Sfr:
    name: str
    addr: int
    source: str


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    code: int  # bytes of code memory (flash) the application may use
    iram: int  # bytes of internal RAM (data + idata)
    xram: int  # bytes of external / on-chip expanded RAM reached with MOVX
    s51_type: str  # ucsim CPU type that runs its instruction set (ucsim models no 1T core)

    clock_hz: int = 11_059_200  # default system clock
    clock_range: tuple[int, int] = (11_059_200, 11_059_200)  # --clock must fall inside
    baud: int = 9600  # default UART baud rate
    clocks_per_cycle: int = 12  # what one Timer 0 count is worth in clocks at the default set-up
    timing: str = "classic12"  # per-opcode clock table in firmware/measure/timing.py
    uart: str = "t1_mode2_12t"  # UART scheme (UART_SCHEMES below)
    clock_setup: str = "none"  # clock scheme (CLOCK_SCHEMES below)
    # How the asm kernels (dense and sparse) reach XRAM: "ri_page" (MOVX A,@R0 with the
    # page in xpage_sfr; classic 8051/8052: P2 drives A8-A15 during MOVX @Ri, Intel MCS-51
    # manual) or "dptr" (MOVX A,@DPTR, for chips without a confirmed page SFR).
    # Kernel templates read it as `xaddr` / `xpage_sfr` (codegen/render.py XRAM).
    xaddr: str = "ri_page"
    xpage_sfr: str = "P2"
    sfrs: tuple[Sfr, ...] = ()  # SFRs beyond <8052.h> the start-up writes
    early: tuple[Reg, ...] = ()  # __sdcc_external_startup(): watchdog, XRAM enable
    pins: tuple[Reg, ...] = ()  # TX/RX pin modes
    timer0: tuple[Reg, ...] = ()  # make Timer 0 count every clock
    flash: str = "none"  # flashing recipe (firmware/app/flash.py)
    sources: tuple[str, ...] = field(default=())  # where the table's facts come from
