"""The chip table: one entry per target, each register value with its source.

Sources (read-only references, nothing copied):
  STC   IOsetting/FwLib_STC8 include/fw_reg_base.h (SFR addresses), src/fw_uart.c (UART1
        from Timer 1); STC8H datasheet facts as summarised in docs chips-8051.md.
  CH55x Blinkinlabs/ch554_sdcc include/ch554.h, include/debug.c, include/debug.h;
        crowdwave/ch559_sdcc CH559.H; rasteri/HIDman System.c; kprasadvnsi/ch55x_asm_doc
        README (instruction clocks, MOVX @Ri "upper 8 bits provided by P2").
  N76   achilikin/N76E003-SDCC-BSP bsp/N76E003.h, bsp/uart.c.
  EFM8  SDCC include/mcs51/EFM8BB1.h (bit meanings), ahtn/keyplus
        SI_EFM8UB3_Defs.h (same addresses on the EFM8 parts: CKCON0 0x8E, WDTCN 0x97,
        P0MDOUT 0xA4, CLKSEL 0xA9, XBR0 0xE1, XBR2 0xE3; EMI0CN 0xE7 there, 0xAA in other
        headers: unconfirmed for EFM8BB3, so the MOVX @DPTR kernel is used).
  Flash sizes: stcgal stcgal/models.py (STC8H8K64U code=65024); EFM8BB3 datasheet (the
        factory bootloader sits at 0xFA00, so user code ends below it);
        DeqingSun/ch55xduino ch55x/boards.txt (CH552: "24 MHz (internal), 5V",
        "16 MHz (internal), 3.3V or 5V").
"""

from __future__ import annotations

from digit51.firmware.chips.target import Reg, Sfr, Target

_STC = "IOsetting/FwLib_STC8 include/fw_reg_base.h"
_CH554 = "Blinkinlabs/ch554_sdcc include/ch554.h"
_CH559 = "crowdwave/ch559_sdcc CH559.H"
_N76 = "achilikin/N76E003-SDCC-BSP bsp/N76E003.h"
_EFM8 = "SDCC EFM8BB1.h; ahtn/keyplus SI_EFM8UB3_Defs.h"
_STC8H_CODE = 65024  # stcgal 1.10 stcgal/models.py: MCUModel('STC8H8K64U', total=65536, code=65024, eeprom=512)
_EFM8BB3_CODE = 0xFA00  # EFM8BB3 datasheet: the factory UART bootloader starts at 0xFA00; user code below it

_CH55X_TIMER0 = (Reg("T2MOD |= 0x90;", "bTMR_CLK 0x80 | bT0_CLK 0x10: Timer 0 counts every Fsys clock (ch554.h)"),)

TABLE = (
    Target("generic-8052", "8052 with 64 KB code and 64 KB external SRAM", 65536, 256, 65536, "52",
           sources=("Intel MCS-51 family",)),
    Target("at89c51ed2", "Microchip AT89C51ED2: 64 KB flash, 256 B RAM, 768 B XRAM at reset (1792 B via AUXR)", 65536, 256, 768, "52"),
    Target("stc89c52rc", "STC89C52RC: 8 KB flash, 256 B RAM, 256 B XRAM", 8192, 256, 256, "52"),
    Target("at89s52", "Microchip AT89S52: 8 KB flash, 256 B RAM, no XRAM", 8192, 256, 0, "52"),
    Target(
        "stc8h8k64u", "STC8H8K64U: 1T core, 64 KB flash (63.5 KB code), 256 B RAM, 8 KB XRAM, RC clock trimmed at flashing",
        _STC8H_CODE, 256, 8192, "52",
        baud=115200, clock_hz=24_000_000, clock_range=(4_000_000, 36_000_000), clocks_per_cycle=1,
        timing="stc8h", uart="stc8_t1_1t", clock_setup="none",
        # MOVX @Ri page register on STC8H: not confirmed by a primary source here
        xaddr="dptr", xpage_sfr="",
        sfrs=(Sfr("AUXR", 0x8E, _STC), Sfr("P3M1", 0xB1, _STC), Sfr("P3M0", 0xB2, _STC)),
        early=(Reg("AUXR &= 0xFD;", "AUXR.1 EXTRAM = 0: the 8 KB on-chip XRAM answers MOVX (before SDCC clears xdata)"),),
        pins=(Reg("P3M1 &= 0xFC;", "P3.0 RXD / P3.1 TXD quasi-bidirectional (PxM1 = PxM0 = 0)"),
              Reg("P3M0 &= 0xFC;", "second mode bit")),
        timer0=(Reg("AUXR |= 0x80;", "AUXR.7 T0x12: Timer 0 counts every clock"),),
        flash="stcgal", sources=(_STC, "IOsetting/FwLib_STC8 src/fw_uart.c"),
    ),
    Target(
        "ch552", "WCH CH552: 1T core, 14 KB user flash, 256 B RAM, 1 KB XRAM, 6 MHz at reset; 16 MHz default (3.3 V or 5 V)",
        14336, 256, 1024, "52",
        # 16 MHz runs at 3.3 V and 5 V, 24 MHz needs 5 V (ch55xduino ch55x/boards.txt clock menu);
        # at 16 MHz Timer 1 gives 38462 baud (0.16 % off), 115200 would be 3.5 % off.
        # A 5 V board can take --clock 24000000 --baud 115200.
        baud=38400, clock_hz=16_000_000, clock_range=(187_500, 32_000_000), clocks_per_cycle=1,
        timing="ch55x", uart="ch55x_t1", clock_setup="ch552",
        xaddr="ri_page", xpage_sfr="P2",  # ch55x_asm_doc: MOVX A,@Ri, "upper 8 bits provided by P2"
        sfrs=(Sfr("SAFE_MOD", 0xA1, _CH554), Sfr("CLOCK_CFG", 0xB9, _CH554), Sfr("T2MOD", 0xC9, _CH554)),
        # watchdog: GLOBAL_CFG bWDOG_EN = 0 at reset (ch554.h): nothing to do.
        # pins: UART0 on P3.0/P3.1 (ch554.h RXD/TXD) in their reset mode.
        timer0=_CH55X_TIMER0,
        flash="ch55x", sources=(_CH554, "Blinkinlabs/ch554_sdcc include/debug.c, include/debug.h"),
    ),
    Target(
        "ch559", "WCH CH559: 1T core, 60 KB flash, 256 B RAM, 6 KB XRAM, 12 MHz at reset",
        61440, 256, 6144, "52",
        baud=115200, clock_hz=48_000_000, clock_range=(9_290_323, 48_000_000), clocks_per_cycle=1,
        timing="ch55x", uart="ch55x_t1", clock_setup="ch559",
        # ch55x_asm_doc (applies to CH551/2/4/8/9): MOVX A,@Ri, "upper 8 bits provided by P2";
        # CH559.H: GLOBAL_CFG bXIR_XSFR = 0 (reset) lets MOVX @R0/@R1 reach xRAM
        xaddr="ri_page", xpage_sfr="P2",
        sfrs=(Sfr("SAFE_MOD", 0xA1, _CH559), Sfr("PLL_CFG", 0xB2, _CH559), Sfr("CLOCK_CFG", 0xB3, _CH559),
              Sfr("P3_DIR", 0xBE, _CH559), Sfr("T2MOD", 0xC9, _CH559)),
        # pins: P3.1 TXD is an output only with its direction bit set (CH559.H: P3_DIR 0xBE, bTXD 0x02;
        # PORT_CFG bP3_OC = 0 at reset, so DIR = 1 is a push-pull output); P3.0 RXD stays an input.
        pins=(Reg("P3_DIR |= 0x02;", "bTXD: P3.1 TXD drives its pin (crowdwave/ch559_sdcc CH559.H P3_DIR, bTXD)"),),
        timer0=_CH55X_TIMER0,
        flash="ch55x", sources=(_CH559, "rasteri/HIDman System.c"),
    ),
    Target(
        "n76e003", "Nuvoton N76E003: 1T multi-clock core, 18 KB flash, 256 B RAM, 768 B XRAM, 16 MHz",
        18432, 256, 768, "52",
        clock_hz=16_000_000, clock_range=(16_000_000, 16_000_000), clocks_per_cycle=1,
        timing="n76e003", uart="n76_t3", clock_setup="none",
        # no MOVX @Ri page register: the datasheet's XRAM demo (Rev1.09 5.3) reaches 0x23 with
        # MOV R0,#23H / MOVX @R0,A, i.e. @Ri covers 0x00-0xFF only; 768 B need MOVX @DPTR
        xaddr="dptr", xpage_sfr="",
        sfrs=(Sfr("CKCON", 0x8E, _N76), Sfr("P0M1", 0xB1, _N76), Sfr("P0M2", 0xB2, _N76),
              Sfr("T3CON", 0xC4, _N76), Sfr("RL3", 0xC5, _N76), Sfr("RH3", 0xC6, _N76)),
        # watchdog: off unless enabled in CONFIG4 (chips-8051.md); nothing to do.
        pins=(Reg("P0M1 &= 0x3F;", "P0.6 TXD / P0.7 RXD quasi-bidirectional: every pin is input-only at reset (bsp P06_Quasi_Mode)"),
              Reg("P0M2 &= 0x3F;", "second mode bit")),
        timer0=(Reg("CKCON |= 0x08;", "T0M (bit 3): Timer 0 counts Fsys"),),
        flash="nuvoprog", sources=(_N76, "achilikin/N76E003-SDCC-BSP bsp/uart.c"),
    ),
    Target(
        "efm8bb3", "Silicon Labs EFM8BB3: pipelined CIP-51, 64 KB flash (62.5 KB below the bootloader), 256 B RAM, 4 KB XRAM, 24.5 MHz oscillator",
        _EFM8BB3_CODE, 256, 4096, "52",
        baud=115200, clock_hz=24_500_000, clock_range=(191_406, 24_500_000), clocks_per_cycle=1,
        timing="efm8", uart="efm8_t1", clock_setup="efm8",
        xaddr="dptr", xpage_sfr="",  # EMI0CN address differs between vendor headers: unconfirmed
        sfrs=(Sfr("CKCON0", 0x8E, _EFM8), Sfr("WDTCN", 0x97, _EFM8), Sfr("P0MDOUT", 0xA4, _EFM8),
              Sfr("CLKSEL", 0xA9, _EFM8), Sfr("XBR0", 0xE1, _EFM8), Sfr("XBR2", 0xE3, _EFM8)),
        early=(Reg("WDTCN = 0xDE;", "the watchdog runs at reset: first key to stop it (SDCC manual, startup code)"),
               Reg("WDTCN = 0xAD;", "second key, within 4 clocks")),
        pins=(Reg("P0MDOUT |= 0x10;", "B4 push-pull: P0.4 UART TX drives its pin, not the weak pull-up "
                  "(EFM8BB1.h P0MDOUT enums; Silicon Labs' generated InitDevice.c: P0.4 (UART0.TX) = PUSH_PULL)"),
              Reg("XBR0 = 0x01;", "URT0E: UART TX, RX on P0.4 and P0.5 (EFM8BB1.h XBR0 enums)"),
              Reg("XBR2 = 0x40;", "XBARE: crossbar on")),
        timer0=(Reg("CKCON0 |= 0x04;", "T0M 0x04: Timer 0 counts SYSCLK (EFM8BB1.h CKCON0 enums)"),),
        flash="efm8load", sources=(_EFM8,),
    ),
)
