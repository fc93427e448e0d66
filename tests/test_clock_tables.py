"""The 1T chips' clock tables against their published sources, value by value (typed here
from the source, not from firmware/clock_tables.py), and conditional branches timed as
taken or not taken from the execution counts."""

import pytest

from digit51.firmware import timing
from digit51.firmware.opcodes import OPS

# cyrozap/8051-timing-db cycles_CIP-51_published.csv (commit 7baeac90), the CIP-51
# instruction set summary of the C8051F12x datasheet: opcode -> clocks (branches: not taken).
CIP51 = {0x28: 1, 0x25: 2, 0x26: 2, 0x85: 3, 0x75: 3, 0x90: 3, 0x93: 3, 0x83: 3, 0xE0: 3, 0xF0: 3, 0xE2: 3,
         0xA4: 4, 0x84: 8, 0x12: 4, 0x22: 5, 0x32: 5, 0x02: 4, 0x11: 3, 0x80: 3, 0xC0: 2, 0xD0: 2, 0x53: 3,
         0xD2: 2, 0xA3: 1, 0xE8: 1, 0xF8: 1, 0xA8: 2}
CIP51_BRANCHES = {0x60: 2, 0x70: 2, 0x40: 2, 0x20: 3, 0x30: 3, 0xB4: 3, 0xB5: 3, 0xB8: 3, 0xB6: 4, 0xD8: 2, 0xD5: 3}

# N76E003 datasheet Rev1.09, Table 30-1 "Instruction Set", pages 257-259: opcode -> clocks.
N76E003 = {0x28: 2, 0x25: 3, 0x26: 4, 0x08: 3, 0x05: 4, 0x06: 5, 0xA3: 1, 0xA4: 4, 0x84: 4, 0xE5: 3, 0xA8: 4,
           0x85: 4, 0x86: 5, 0x93: 4, 0x83: 4, 0xE2: 5, 0xE0: 4, 0xF2: 6, 0xF0: 5, 0xC0: 4, 0xD0: 3, 0x12: 4,
           0x22: 5, 0x80: 3, 0x60: 3, 0x20: 5, 0xB5: 5, 0xB4: 4, 0xB6: 6, 0xD8: 4, 0xD5: 5}


@pytest.mark.parametrize("code, want", sorted(CIP51.items()))
def test_efm8_clocks_are_the_cip51_tables(code, want):
    assert timing.clocks(OPS[code], timing.TABLES["efm8"]) == (want, want)


@pytest.mark.parametrize("code, want", sorted(CIP51_BRANCHES.items()))
def test_efm8_branch_not_taken_is_the_published_figure(code, want):
    nt, taken_lo, _ = timing.TABLES["efm8"].known[OPS[code].form]
    assert nt == taken_lo == want  # taken: the published figure plus at most one (clock_tables)


@pytest.mark.parametrize("code, want", sorted(N76E003.items()))
def test_n76e003_clocks_are_table_30_1(code, want):
    assert timing.clocks(OPS[code], timing.TABLES["n76e003"]) == (want, want)


def every_opcode_has_a_figure(table):
    return all(OPS[c].form in table.known for c in range(256) if OPS[c].form != "DB 0xA5")


def test_efm8_and_n76e003_tables_cover_every_opcode():
    """Both tables list all 111 instructions: no opcode falls back to a bound."""
    assert every_opcode_has_a_figure(timing.TABLES["efm8"]) and every_opcode_has_a_figure(timing.TABLES["n76e003"])


# kprasadvnsi/ch55x_asm_doc README tables (CH551/2/4/8/9): opcode, own address, code after
# it, clocks (low, high) the rules must give there. Non-jumps: 1 clock per byte (MUL AB 1).
CH55X_CASES = [
    (0xE8, 0x100, b"", (1, 1)),                   # MOV A,Rn: 1
    (0xE5, 0x100, b"\x30", (2, 2)),               # MOV A,direct: 2
    (0x85, 0x100, b"\x30\x31", (3, 3)),           # MOV direct,direct: 3
    (0x90, 0x100, b"\x12\x34", (3, 3)),           # MOV DPTR,#data16: 3
    (0xE0, 0x100, b"", (1, 1)),                   # MOVX A,@DPTR: 1
    (0xA4, 0x100, b"", (1, 1)),                   # MUL AB: 1
    (0x93, 0x100, b"", (6, 6)),                   # MOVC A,@A+DPTR: 5/6/7 (even address, odd next: 6)
    (0x83, 0x101, b"", (6, 6)),                   # MOVC A,@A+PC: odd address, even next: 6
    (0x02, 0x100, b"\x12\x34", (5, 5)),           # LJMP to an even address: 5 (5/6)
    (0x02, 0x100, b"\x12\x35", (6, 6)),           # LJMP to an odd address: 6
    (0x80, 0x100, b"\x01", (5, 5)),               # SJMP to 0x103 (odd): 5 (4/5)
    (0x60, 0x100, b"\x02", (2, 4)),               # JZ: 2 not taken, 4/5 taken (target 0x104 even: 4)
    (0xB4, 0x100, b"\x00\x01", (3, 5)),           # CJNE A,#data: 3, or 5/6 (target 0x104 even: 5)
    (0xD8, 0x101, b"\x01", (2, 5)),               # DJNZ R0 at an odd address, target 0x104 even: 2, or 4/5/6 -> 5
]


@pytest.mark.parametrize("code, addr, rest, want", CH55X_CASES)
def test_ch55x_rules_give_the_published_clocks(code, addr, rest, want):
    mem = bytearray(65536)
    mem[addr] = code
    mem[addr + 1 : addr + 1 + len(rest)] = rest
    assert timing.ch55x_clocks(OPS[code], addr, bytes(mem)) == want


def synthetic_run():
    """JZ at 0x100 jumping to 0x103 (odd), INC A at 0x102 reached only by falling through,
    NOP at 0x103: JZ ran 10 times, fell through 4 (INC A's count), so taken 6 times."""
    code = bytearray(65536)
    code[0x100:0x104] = bytes([0x60, 0x01, 0x04, 0x00])
    map_text = "INFER              00000100    00000004 =           4. bytes (REL,CON,CODE)\n"
    return timing.Run({0x100: 10, 0x102: 4, 0x103: 10}, 0, bytes(code), map_text)


@pytest.mark.parametrize("table, want", [
    # JZ: 4 x not taken + 6 x taken; INC A 4 x; NOP 10 x
    ("efm8", (4 * 2 + 6 * 2 + 4 * 1 + 10 * 1, 4 * 2 + 6 * 3 + 4 * 1 + 10 * 1)),  # CIP-51: 2 not taken, taken 2 (+1)
    ("ch55x", (4 * 2 + 6 * 5 + 4 * 1 + 10 * 1,) * 2),  # CH55x: bytes (2) not taken; taken 2 + 2 + 1 (odd target)
    ("n76e003", (10 * 3 + 4 * 1 + 10 * 1,) * 2),       # N76E003: 3 either way
    ("classic12", (12 * (10 * 2 + 4 * 1 + 10 * 1),) * 2),
])
def test_branches_are_timed_taken_or_not_from_the_counts(table, want):
    lo, hi, unknown = timing.total(synthetic_run(), timing.TABLES[table])
    assert (lo, hi) == want and not unknown
