"""Target chips: memory the build checks against, how the chip starts (clock, watchdog,
pins, UART, Timer 0), how the asm kernel reaches XRAM, and which ucsim core runs its code.

The chips themselves are data (firmware/chips/target_table.py, every register value with its
source). This module holds the formulas that turn a chip, a clock and a baud rate into
the register writes the start-up template places, and refuses a baud rate more than
2 % off. One function per UART scheme and per clock scheme; a chip names its schemes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from digit51.firmware.chips.target import Reg, Sfr, Target
from digit51.firmware.chips.target_table import TABLE
from digit51.trainer.errors import Digit51Error

MAX_BAUD_ERROR = 0.02


@dataclass(frozen=True)
class Uart:
    regs: tuple[Reg, ...]
    actual: float  # baud rate the registers give
    error: float  # relative to the one asked for


def _check(name: str, clock: int, baud: int, actual: float, fix: str) -> float:
    error = abs(actual - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise Digit51Error(
            f"{baud} baud at {clock / 1e6:g} MHz on {name} is {100 * error:.1f} % off ({actual:.0f} baud), "
            f"more than {100 * MAX_BAUD_ERROR:.0f} %: {fix}"
        )
    return error


def _divider(t: Target, clock: int, baud: int, per_bit: int, bits: int, fix: str) -> tuple[int, float, float]:
    """Timer counts per UART bit (clock / per_bit / baud, rounded), the baud rate they give
    and its error; refused outside the `bits`-bit timer's range or more than 2 % off."""
    n = round(clock / per_bit / baud)
    if not 1 <= n <= 2**bits:
        raise Digit51Error(f"{baud} baud cannot be made from a {clock / 1e6:g} MHz clock on {t.name}: choose another --baud or --clock")
    actual = clock / per_bit / n
    return n, actual, _check(t.name, clock, baud, actual, fix)


def _cited(src: str, *writes: tuple[str, str]) -> tuple[Reg, ...]:
    """Register writes (statement, meaning), each citing `src`."""
    return tuple(Reg(stmt, f"{note} ({src})") for stmt, note in writes)


def _uart(src: str, actual: float, error: float, *writes: tuple[str, str]) -> Uart:
    return Uart(_cited(src, *writes), actual, error)


def uart_t1_mode2_12t(t: Target, clock: int, baud: int) -> Uart:
    """Classic 8051: Timer 1 mode 2 at Fosc/12, SMOD = 0: baud = Fosc / 384 / (256 - TH1)."""
    n, actual, err = _divider(t, clock, baud, 384, 8, "use an 11.0592 MHz crystal or a lower --baud")
    th1 = f"0x{256 - n:02X}"
    return _uart("Intel MCS-51 user's manual: SCON, TMOD, Timer 1 baud rates", actual, err,
                 ("SCON = 0x50;", "mode 1, 8 data bits, receiver on"),
                 ("TMOD = 0x21;", "Timer 1 mode 2 (baud rate), Timer 0 mode 1 (16-bit cycle counter)"),
                 (f"TH1 = {th1};", f"256 - Fosc / 384 / baud: {actual:.0f} baud"),
                 (f"TL1 = {th1};", "first period as the reload"),
                 ("TR1 = 1;", "start Timer 1"))


def uart_stc8_t1_1t(t: Target, clock: int, baud: int) -> Uart:
    """STC8H: Timer 1 mode 0 (16-bit auto-reload), 1T: baud = Fsys / 4 / (65536 - [TH1:TL1])."""
    n, actual, err = _divider(t, clock, baud, 4, 16, "pick a --clock the baud rate divides (e.g. 11059200 or 22118400)")
    t1 = 65536 - n
    return _uart("IOsetting/FwLib_STC8 src/fw_uart.c, include/fw_reg_base.h", actual, err,
                 ("SCON = 0x50;", "UART1 mode 1, receiver on"),
                 ("AUXR |= 0x40;", "AUXR.6 T1x12: Timer 1 counts Fsys (1T); FwLib_STC8 src/fw_uart.c, include/fw_reg_base.h"),
                 ("AUXR &= 0xFE;", "AUXR.0 S1ST2 = 0: UART1 takes its baud from Timer 1 (reset value unconfirmed, so cleared); BSP: FwLib_STC8 src/fw_uart.c"),
                 ("TMOD = 0x01;", "Timer 1 mode 0 = 16-bit auto-reload on STC8; Timer 0 mode 1"),
                 (f"TL1 = 0x{t1 & 0xFF:02X};", f"65536 - Fsys / 4 / baud = 0x{t1:04X}: {actual:.0f} baud"),
                 (f"TH1 = 0x{t1 >> 8:02X};", "reload high byte"),
                 ("TR1 = 1;", "start Timer 1"))


def uart_ch55x_t1(t: Target, clock: int, baud: int) -> Uart:
    """CH55x: Timer 1 mode 2 at Fsys (bTMR_CLK | bT1_CLK), SMOD = 1: baud = Fsys / 16 / (256 - TH1)."""
    n, actual, err = _divider(t, clock, baud, 16, 8, "choose another --baud or --clock")
    return _uart("Blinkinlabs/ch554_sdcc include/debug.h mInitSTDIO, include/ch554.h", actual, err,
                 ("SCON = 0x50;", "UART0 mode 1, receiver on"),
                 ("PCON |= 0x80;", "SMOD: Timer 1 overflow / 16"),
                 ("TMOD = 0x21;", "Timer 1 mode 2 (8-bit auto-reload), Timer 0 mode 1"),
                 ("T2MOD |= 0xA0;", "bTMR_CLK 0x80 | bT1_CLK 0x20: Timer 1 counts Fsys; ch554_sdcc include/ch554.h, debug.h mInitSTDIO"),
                 (f"TH1 = 0x{256 - n:02X};", f"256 - Fsys / 16 / baud: {actual:.0f} baud"),
                 ("TR1 = 1;", "start Timer 1"))


def uart_n76_t3(t: Target, clock: int, baud: int) -> Uart:
    """N76E003: UART0 from Timer 3 (BRCK), SMOD = 1: baud = Fsys / 16 / (65536 - [RH3:RL3]) (BSP bsp/uart.c)."""
    n, actual, err = _divider(t, clock, baud, 16, 16, "at 16 MHz use 9600 to 38400 baud (115200 needs the oscillator trimmed to 16.6 MHz)")
    t3 = 65536 - n
    return _uart("achilikin/N76E003-SDCC-BSP bsp/uart.c, bsp/N76E003.h", actual, err,
                 ("SCON = 0x50;", "UART0 mode 1, receiver on"),
                 ("PCON |= 0x80;", "SMOD: Timer 3 overflow / 16"),
                 ("TMOD = 0x01;", "Timer 0 mode 1 (Timer 1 unused)"),
                 ("T3CON &= 0xF8;", "Timer 3 prescale 1/1 (BSP: N76E003.h T3CON T3PS[2:0])"),
                 ("T3CON |= 0x20;", "BRCK (bit 5): UART0 baud from Timer 3 (BSP: N76E003.h T3CON, bsp/uart.c)"),
                 (f"RL3 = 0x{t3 & 0xFF:02X};", f"65536 - Fsys / 16 / baud = 0x{t3:04X}: {actual:.0f} baud (BSP: bsp/uart.c)"),
                 (f"RH3 = 0x{t3 >> 8:02X};", "reload high byte (BSP: bsp/uart.c)"),
                 ("T3CON |= 0x08;", "TR3 (bit 3): start Timer 3 (BSP: N76E003.h T3CON)"))


def uart_efm8_t1(t: Target, clock: int, baud: int) -> Uart:
    """EFM8: Timer 1 mode 2 at SYSCLK (CKCON0.T1M): baud = SYSCLK / 2 / (256 - TH1) (BSP: ahtn/efm8_sdcc, via chips-8051.md)."""
    n, actual, err = _divider(t, clock, baud, 2, 8, "at 24.5 MHz use 57600 baud or more, or lower the clock with --clock")
    return _uart("SDCC include/mcs51/EFM8BB1.h SCON0 / CKCON0 enums; addresses as ahtn/keyplus SI_EFM8UB3_Defs.h", actual, err,
                 ("SCON = 0x10;", "SCON0: 8-bit mode, REN 0x10"),
                 ("TMOD = 0x21;", "Timer 1 mode 2 (8-bit auto-reload), Timer 0 mode 1"),
                 ("CKCON0 |= 0x08;", "T1M 0x08: Timer 1 counts SYSCLK (SDCC EFM8BB1.h CKCON0 enums: T1M__SYSCLK 0x08)"),
                 (f"TH1 = 0x{256 - n:02X};", f"256 - SYSCLK / 2 / baud: {actual:.0f} baud (ahtn/efm8_sdcc, via chips-8051.md: 0x96 at 24.5 MHz = 115566)"),
                 ("TR1 = 1;", "start Timer 1"))


UART_SCHEMES = {
    "t1_mode2_12t": uart_t1_mode2_12t,
    "stc8_t1_1t": uart_stc8_t1_1t,
    "ch55x_t1": uart_ch55x_t1,
    "n76_t3": uart_n76_t3,
    "efm8_t1": uart_efm8_t1,
}

CH552_CLOCKS = {32_000_000: 7, 24_000_000: 6, 16_000_000: 5, 12_000_000: 4, 6_000_000: 3, 3_000_000: 2, 750_000: 1, 187_500: 0}


def clock_none(t: Target, clock: int) -> tuple[Reg, ...]:
    return ()


def clock_ch552(t: Target, clock: int) -> tuple[Reg, ...]:
    """CH552: CLOCK_CFG[2:0] picks Fsys (6 MHz at reset); written in safe mode (BSP: ch554_sdcc debug.c CfgFsys)."""
    if clock not in CH552_CLOCKS:
        raise Digit51Error(f"{t.name} runs at {', '.join(f'{c:,}' for c in sorted(CH552_CLOCKS))} Hz only: choose one with --clock")
    return _cited("Blinkinlabs/ch554_sdcc include/debug.c CfgFsys",
                  ("SAFE_MOD = 0x55;", "enter safe mode (BSP: ch554_sdcc debug.c CfgFsys)"),
                  ("SAFE_MOD = 0xAA;", "second key (BSP: ch554_sdcc debug.c CfgFsys)"),
                  (f"CLOCK_CFG = (CLOCK_CFG & 0xF8) | 0x{CH552_CLOCKS[clock]:02X};",  # BSP: ch554_sdcc debug.c CfgFsys
                   f"MASK_SYS_CK_SEL = {CH552_CLOCKS[clock]}: Fsys {clock / 1e6:g} MHz (above 16 MHz needs a 5 V supply: ch55xduino ch55x/boards.txt)"),
                  ("SAFE_MOD = 0x00;", "leave safe mode (BSP: ch554_sdcc debug.c CfgFsys)"))


CH559_PLL = 288_000_000  # 12 MHz x 24 (PLL_CFG low bits), HIDman System.c / CH559.H comment


def clock_ch559(t: Target, clock: int) -> tuple[Reg, ...]:
    """CH559: Fsys = Fpll / Ksys with Fpll = 288 MHz; Ksys in CLOCK_CFG[4:0] (BSP: crowdwave/ch559_sdcc CH559.H)."""
    k = CH559_PLL // clock
    if CH559_PLL % clock or not 6 <= k <= 31:
        raise Digit51Error(f"{t.name} runs at 288 MHz / k for k = 6..31 (48 MHz, 36 MHz, 24 MHz, 12 MHz, ...): choose such a --clock")
    return _cited("crowdwave/ch559_sdcc CH559.H; rasteri/HIDman System.c CfgFsys",
                  ("SAFE_MOD = 0x55;", "enter safe mode (BSP: ch554_sdcc debug.c CfgFsys)"),
                  ("SAFE_MOD = 0xAA;", "second key (BSP: ch554_sdcc debug.c CfgFsys)"),
                  ("PLL_CFG = 0xD8;", "24 | 6 << 5: Fpll = 12 MHz x 24 = 288 MHz, USB 4x clock 48 MHz"),
                  (f"CLOCK_CFG = (CLOCK_CFG & 0xE0) | 0x{k:02X};", f"MASK_SYS_CK_DIV = {k}: Fsys = 288 MHz / {k} = {clock / 1e6:g} MHz (BSP: HIDman System.c CfgFsys)"),
                  ("SAFE_MOD = 0xFF;", "leave safe mode (BSP: HIDman System.c CfgFsys)"))


def clock_efm8(t: Target, clock: int) -> tuple[Reg, ...]:
    """EFM8: SYSCLK = HFOSC0 (24.5 MHz) / 2^CLKDIV, set in CLKSEL."""
    divs = {24_500_000 >> k: k for k in range(8)}
    if clock not in divs:
        raise Digit51Error(f"{t.name} runs at 24.5 MHz / 2^k: choose --clock {', '.join(str(c) for c in divs)}")
    return _cited("SDCC include/mcs51/EFM8BB1.h CLKSEL enums; Silicon Labs EFM8BB3 InitDevice.c CLOCK_0_enter_DefaultMode_from_RESET",
                  (f"CLKSEL = 0x{divs[clock] << 4:02X};", f"CLKSL = HFOSC 0x00, CLKDIV /{1 << divs[clock]}: {clock / 1e6:g} MHz"),
                  ("while (!(CLKSEL & 0x80));", "DIVRDY (bit 7): wait until the clock has propagated through the divider"))


CLOCK_SCHEMES = {"none": clock_none, "ch552": clock_ch552, "ch559": clock_ch559, "efm8": clock_efm8}


@dataclass(frozen=True)
class Startup:
    """A target at a chosen clock and baud rate: everything the start-up template places."""
    target: Target
    clock: int
    baud: int
    uart: Uart
    sfrs: tuple[Sfr, ...]
    early: tuple[Reg, ...]
    init: tuple[Reg, ...]  # clock, pins, UART, Timer 0, in that order

    def context(self) -> dict:
        return {
            "sfrs": [{"name": s.name, "addr": f"0x{s.addr:02X}", "source": s.source} for s in self.sfrs],
            "early": [{"stmt": r.stmt, "note": r.note} for r in self.early],
            "init": [{"stmt": r.stmt, "note": r.note} for r in self.init],
            "clock": self.clock,
            "baud": self.baud,
            "summary": f"{self.target.name} at {self.clock / 1e6:g} MHz, {self.baud} baud ({100 * self.uart.error:.2f} % off)",
        }


def startup(t: Target, clock: int | None = None, baud: int | None = None) -> Startup:
    """The start-up for `t` at `clock` Hz and `baud`, or an error saying what to change."""
    clock = t.clock_hz if clock is None else int(clock)
    baud = t.baud if baud is None else int(baud)
    lo, hi = t.clock_range
    if not lo <= clock <= hi:
        raise Digit51Error(f"--clock {clock} is outside {t.name}'s range {lo:,}..{hi:,} Hz")
    if baud <= 0:
        raise Digit51Error("--baud must be a positive number of bits per second")
    uart = UART_SCHEMES[t.uart](t, clock, baud)
    init = CLOCK_SCHEMES[t.clock_setup](t, clock) + t.pins + uart.regs + t.timer0
    return Startup(t, clock, baud, uart, t.sfrs, t.early, init)


def on_generic_core(t: Target, roomy: bool = False) -> Target:
    """`t` as ucsim runs it: the chip's memory and kernel variant, the classic start-up
    (ucsim models a generic 8051/8052, not these chips' clock, pins or UART timers);
    `roomy`: with the generic core's memory too (room for self-test images, the chip's kernel)."""
    g = TARGETS[DEFAULT_TARGET]
    memory = {"code": g.code, "iram": g.iram, "xram": g.xram} if roomy else {}
    return replace(t, clock_hz=g.clock_hz, clock_range=g.clock_range, clocks_per_cycle=g.clocks_per_cycle, baud=g.baud,
                   uart=g.uart, clock_setup=g.clock_setup, sfrs=(), early=(), pins=(), timer0=(), **memory)


TARGETS = {t.name: t for t in TABLE}
DEFAULT_TARGET = "generic-8052"


def get(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise Digit51Error(f"unknown target '{name}'; choose one of: {', '.join(TARGETS)}") from None
