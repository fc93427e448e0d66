"""Start-up observed in s51: every modern chip's `--hardware` build boots with its whole
start-up (hook, clock, watchdog, pins, UART, Timer 0), and the register state it leaves is
read back from the simulator and compared with values computed here from the vendors'
formulas and register addresses (typed from the headers named beside them, not taken from
firmware/chips/target_table.py).

s51 keeps every SFR write, even to addresses its generic 8052 lacks, so `dump sfr` shows
what the firmware wrote. Two things s51 cannot do are played by the test, each said where
it happens: reset values of SFRs the generic core lacks (preset before the run) and the
EFM8's DIVRDY flag (set once the firmware is seen waiting for it). s51 models no Timer 3,
so the N76E003's UART, clocked by it, never finishes a byte there: its check stops when
the first byte of the ready line is written to SBUF. The clock frequencies themselves need a board."""

from __future__ import annotations

import math
import re

import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips import targets
from digit51.firmware.measure import timing
from digit51.firmware.sim import ucsim
from digit51.firmware.builder.artifacts import code_symbols
from digit51.firmware.builder.sdcc import build

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

FILL = 0xA5  # RAM contents before the run: SDCC's start-up must clear every variable

# standard 8051 SFRs (Intel MCS-51 user's manual)
TCON, TMOD, TL1, TH1, PCON, SCON, SBUF = 0x88, 0x89, 0x8B, 0x8D, 0x87, 0x98, 0x99
TR1, SMOD = 0x40, 0x80


def uart_common(tmod: int) -> dict:
    return {SCON: (0xF0, 0x50), TMOD: (0xFF, tmod), TCON: (TR1, TR1)}


def stc8h(clock: int, baud: int) -> dict:
    # STC8H datasheet / IOsetting/FwLib_STC8 include/fw_reg_base.h: AUXR 0x8E, P3M1 0xB1, P3M0 0xB2.
    # AUXR: T0x12 bit 7, T1x12 bit 6, EXTRAM bit 1, S1ST2 bit 0. UART1 mode 1 from a 1T
    # Timer 1 in mode 0 (16-bit auto-reload): baud = Fsys / 4 / (65536 - [TH1:TL1]).
    reload = 65536 - round(clock / 4 / baud)
    return {**uart_common(0x01), 0x8E: (0xC3, 0xC0), 0xB1: (0x03, 0x00), 0xB2: (0x03, 0x00),
            TL1: (0xFF, reload & 0xFF), TH1: (0xFF, reload >> 8)}


# ch554_sdcc include/debug.h CfgFsys: CLOCK_CFG[2:0] for each Fsys
CH552_SEL = {32_000_000: 7, 24_000_000: 6, 16_000_000: 5, 12_000_000: 4, 6_000_000: 3}


def ch55x_uart(clock: int, baud: int) -> dict:
    # ch554.h / CH559.H: T2MOD 0xC9 with bTMR_CLK 0x80, bT1_CLK 0x20, bT0_CLK 0x10; SMOD = 1:
    # baud = Fsys / 16 / (256 - TH1) (debug.h mInitSTDIO)
    return {**uart_common(0x21), 0xC9: (0xB0, 0xB0), PCON: (SMOD, SMOD), TH1: (0xFF, 256 - round(clock / 16 / baud))}


def ch552(clock: int, baud: int) -> dict:
    # ch554.h: CLOCK_CFG 0xB9 (0x83 at reset: 6 MHz), SAFE_MOD 0xA1 (left with 0x00)
    return {**ch55x_uart(clock, baud), 0xB9: (0xFF, (0x83 & 0xF8) | CH552_SEL[clock]), 0xA1: (0xFF, 0x00)}


def ch559(clock: int, baud: int) -> dict:
    # CH559.H: PLL_CFG 0xB2 (Fpll = 12 MHz x PLL_CFG[4:0]; USB 4x clock = Fpll / PLL_CFG[7:5]),
    # CLOCK_CFG 0xB3 (Fsys = Fpll / CLOCK_CFG[4:0]), P3_DIR 0xBE with bTXD 0x02
    fpll = 288_000_000
    return {**ch55x_uart(clock, baud), 0xB2: (0xFF, fpll // 12_000_000 | (fpll // 48_000_000) << 5),
            0xB3: (0x1F, fpll // clock), 0xBE: (0x02, 0x02)}


def n76e003(clock: int, baud: int) -> dict:
    # achilikin/N76E003-SDCC-BSP bsp/N76E003.h: CKCON 0x8E (T0M bit 3), P0M1 0xB1, P0M2 0xB2,
    # T3CON 0xC4 (BRCK bit 5, TR3 bit 3, prescale bits 2:0), RL3 0xC5, RH3 0xC6.
    # UART0 from Timer 3, SMOD = 1: baud = Fsys / 16 / (65536 - [RH3:RL3]) (datasheet, UART0 baud table).
    reload = 65536 - round(clock / 16 / baud)
    return {SCON: (0xF0, 0x50), TMOD: (0xFF, 0x01), PCON: (SMOD, SMOD), 0x8E: (0x08, 0x08), 0xB1: (0xC0, 0x00), 0xB2: (0xC0, 0x00),
            0xC4: (0x2F, 0x28), 0xC5: (0xFF, reload & 0xFF), 0xC6: (0xFF, reload >> 8)}


def efm8bb3(clock: int, baud: int) -> dict:
    # EFM8BB1.h (SDCC) / SI_EFM8UB3_Defs.h: CKCON0 0x8E (T0M 0x04, T1M 0x08), WDTCN 0x97
    # (0xDE then 0xAD stops the watchdog), P0MDOUT 0xA4 (B4 push-pull 0x10), CLKSEL 0xA9
    # (CLKDIV bits 6:4: SYSCLK = 24.5 MHz / 2^CLKDIV; DIVRDY bit 7), XBR0 0xE1 (URT0E 0x01),
    # XBR2 0xE3 (XBARE 0x40). Timer 1 from SYSCLK: baud = SYSCLK / 2 / (256 - TH1).
    div = round(math.log2(24_500_000 / clock))
    return {SCON: (0x10, 0x10), TMOD: (0xFF, 0x21), TCON: (TR1, TR1), TH1: (0xFF, 256 - round(clock / 2 / baud)),
            0x8E: (0x0C, 0x0C), 0x97: (0xFF, 0xAD), 0xA4: (0x10, 0x10), 0xA9: (0xFF, div << 4 | 0x80),
            0xE1: (0xFF, 0x01), 0xE3: (0xFF, 0x40)}


# SFR reset values the generic core lacks, where a start-up statement reads them back (|=, &=)
PRESET = {
    "ch552": {0xB9: 0x83},  # CLOCK_CFG: 6 MHz at reset (ch554.h)
    "n76e003": {0xB1: 0xFF, 0xB2: 0x00},  # every pin input-only after reset: P0M1 = FFh, P0M2 = 00h (N76E003 datasheet, I/O modes)
}

CASES = [  # (chip, clock, baud, expected register state, the chip's early hook exists)
    ("stc8h8k64u", 24_000_000, 115200, stc8h, True),
    ("stc8h8k64u", 11_059_200, 115200, stc8h, True),  # FwLib_STC8 src/fw_uart.c: TL1 = 0xE8, TH1 = 0xFF
    ("ch552", 16_000_000, 38400, ch552, False),
    ("ch552", 24_000_000, 115200, ch552, False),
    ("ch559", 48_000_000, 115200, ch559, False),
    ("n76e003", 16_000_000, 9600, n76e003, False),
    ("efm8bb3", 24_500_000, 115200, efm8bb3, True),
    ("efm8bb3", 12_250_000, 115200, efm8bb3, True),  # a divided clock: CLKDIV = 1
]


def module_of(map_text: str, name: str) -> str:
    """The module a global code symbol of SDCC's linker map was linked from (the map's third column)."""
    m = re.search(rf"^C:\s+[0-9A-Fa-f]{{8}}\s+{re.escape(name)}\s+(\S+)", map_text, re.M)
    assert m, f"{name} is not in the map"
    return m[1]


def area(map_text: str, name: str) -> tuple[int, int]:
    start = int(re.search(rf"^C:\s+([0-9A-Fa-f]{{8}})\s+s_{name}\s", map_text, re.M)[1], 16)
    return start, int(re.search(rf"^C:\s+([0-9A-Fa-f]{{8}})\s+l_{name}\s", map_text, re.M)[1], 16)


def dumped(console: str) -> tuple[dict, dict]:
    """The last value s51 showed for each SFR (2-digit addresses) and XRAM byte (4 digits)."""
    sfr, xram = {}, {}
    for line in console.splitlines():
        named = re.match(r"^0x([0-9a-f]{2}) \w+:\s+0b[01]{8} 0x([0-9a-f]{2}) ", line)
        if named:
            sfr[int(named[1], 16)] = int(named[2], 16)
            continue
        raw = re.match(r"^0x([0-9a-f]{2}|[0-9a-f]{4})\s+((?:[0-9a-f]{2} )+)", line)
        if raw:
            mem, base = (sfr if len(raw[1]) == 2 else xram), int(raw[1], 16)
            for i, b in enumerate(raw[2].split()):
                mem[base + i] = int(b, 16)
    return sfr, xram


@pytest.mark.parametrize("name, clock, baud, expected, hook", CASES, ids=[f"{c[0]}-{c[1] // 1000}kHz" for c in CASES])
def test_hardware_start_up_leaves_the_vendors_register_state(tmp_path, name, clock, baud, expected, hook):
    t = targets.get(name)
    fw = build(timing.model_of([49, 16, 10], 4), BuildSpec.of(timing.model_of([49, 16, 10], 4), t, "serve"), tmp_path / "fw", "m", sim_exit=False, startup=targets.startup(t, clock, baud))
    map_text = (fw.folder / "firmware.map").read_text()
    # the start-up hook crt0 calls (asm __sdcc_external_startup) is ours where the chip has one
    assert module_of(map_text, "__sdcc_external_startup") == ("runtime" if hook else "_startup")
    code = code_symbols(map_text)
    main = code["_main"]
    line_begin = code["_line_begin"]  # main's first call after uart_init(): start-up done
    uart_get = code["_uart_get"]  # the first wait for a byte, after the ready line
    xseg, xlen = area(map_text, "XSEG")
    cmds = [f"fill iram 0 0xff {FILL:#x}", f"fill xram 0 {t.xram - 1:#x} {FILL:#x}"]
    cmds += [f"set memory sfr {a:#x} {v:#x}" for a, v in PRESET.get(name, {}).items()]
    cmds += [f"break {main:#x}", "run", f"dump xram {xseg:#x} {xseg + xlen - 1:#x}"]
    if name == "efm8bb3":  # stop at the first read of CLKSEL (the firmware waits), then play the hardware: DIVRDY set
        wait = cmds + ["break sfr r 0xa9", f"break {line_begin:#x}", "run", "dump sfr 0xa9 0xa9", "kill", ""]
        console, _ = ucsim.batch(fw.ihx, t.s51_type, "\n".join(wait), 60, "booting the efm8bb3 firmware")
        assert "Event `read' at sfr[0xa9]" in console, "the clock set-up does not wait for DIVRDY"
        written = dumped(console)[0][0xA9]
        assert not written & 0x80  # s51 keeps what was written: DIVRDY reads 0 until the test sets it
        cmds += ["break sfr r 0xa9", "run", f"set memory sfr 0xa9 {written | 0x80:#x}", "delete 2"]
    regs = sorted(expected(clock, baud))
    if name == "stc8h8k64u":  # s51 runs Timer 1 mode 0 as the classic 13-bit counter: read the reload once written (TH1 last, before TR1 starts the timer)
        cmds += ["break sfr w 0x8d", "run", f"dump sfr {TL1:#x} {TL1:#x}", f"dump sfr {TH1:#x} {TH1:#x}"]
        regs = [a for a in regs if a not in (TL1, TH1)]
    cmds += [f"break {line_begin:#x}", "run"] + [f"dump sfr {a:#x} {a:#x}" for a in regs]
    cmds += [f"break sfr w {SBUF:#x}", "run"] if name == "n76e003" else [f"break {uart_get:#x}", "run"]
    console, uart = ucsim.batch(fw.ihx, t.s51_type, "\n".join(cmds + ["kill", ""]), 60, f"booting the {name} firmware")
    sfr, xram = dumped(console)

    assert all(xram[a] == 0 for a in range(xseg, xseg + xlen)), "variables were not cleared before main()"
    got = {a: sfr[a] & mask for a, (mask, _) in expected(clock, baud).items()}
    want = {a: v for a, (_, v) in expected(clock, baud).items()}
    assert {f"{a:#04x}": f"{v:#04x}" for a, v in got.items()} == {f"{a:#04x}": f"{v:#04x}" for a, v in want.items()}
    if name == "n76e003":
        assert "Event `write' at sfr[0x99]" in console  # putchar() started the ready line
    else:
        assert uart.startswith(b"ready mode=serve model=49-16-10 *")
