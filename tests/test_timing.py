"""The timing method (firmware/measure/timing.py): the opcode table against the 8051
encoding, counts times the 12T table against ucsim's own clock total, chip times as ranges,
and the CH55x clock rules against the vendor's table."""

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips import targets
from digit51.firmware.measure import timing


def test_opcode_table_lengths_match_sdcc_assembly():
    """Spot checks against the 8051 encoding (Atmel doc0509)."""
    from digit51.firmware.chips.opcodes import OPS
    assert (OPS[0x93].form, OPS[0x93].size, OPS[0x93].cycles12) == ("MOVC A,@A+DPTR", 1, 2)
    assert (OPS[0xA4].form, OPS[0xA4].cycles12) == ("MUL AB", 4)
    assert (OPS[0xDF].form, OPS[0xDF].size, OPS[0xDF].cond) == ("DJNZ Rn,rel", 2, True)
    assert (OPS[0x85].size, OPS[0x75].size, OPS[0x12].size, OPS[0xE2].form) == (3, 3, 3, "MOVX A,@Ri")
    # JBC JB JNB LJMP LCALL ORL/ANL/XRL dir,# MOV DPTR CJNE A,# MOV dir,# MOV dir,dir CJNE A,dir DJNZ dir; CJNE Rn x8, @Ri x2
    assert sum(op.size == 3 for op in OPS) == 14 + 8 + 2


@pytest.mark.toolchain
def test_12_clock_rebuild_matches_ucsims_total_and_chip_times_are_ranges(mnist_data, tmp_path):
    """Counts x the 12T table reproduce ucsim's own clock total within 0.1 %; a 1T chip's
    range sits below the 12T time; chips without a public table give a lower bound only."""
    from digit51.codegen.render import SelfTestSet
    from digit51.quantize.model_file import IntModel
    rng = np.random.default_rng(1)
    sizes = [49, 24, 10]
    model = IntModel([rng.integers(-127, 128, (o, i)).astype(np.int8) for i, o in zip(sizes[:-1], sizes[1:])],
                     [np.zeros(o, np.int32) for o in sizes[1:]], [np.full(24, 9, np.uint8)], 4)
    images = mnist_data.test_images[:2]
    classic = timing.measure(model, targets.get("generic-8052"), images)
    assert abs(classic.validation - 1) < 0.001
    assert classic.infer_clocks[0] == classic.infer_clocks[1] == classic.infer_clocks_12t
    from digit51.firmware.builder.sdcc import build
    sel_fw = build(model, BuildSpec.of(model, targets.get("generic-8052"), "selftest"), tmp_path / "fw", "m", SelfTestSet([0, 1], images, np.zeros(2, np.uint8)), startup=targets.startup(targets.on_generic_core(targets.get("ch552"))))
    run = timing.run_counts(sel_fw.ihx, sel_fw.folder / "firmware.map")
    table = timing.TABLES["ch55x"]
    b_lo, b_hi, _ = timing.total(run, table, {"INFER"}, exact_branches=False)
    e_lo, e_hi, _ = timing.total(run, table, {"INFER"})
    assert b_lo <= e_lo <= e_hi <= b_hi and e_hi - e_lo < b_hi - b_lo  # the fall-through counts narrow the range
    ch = timing.measure(model, targets.get("ch552"), images)
    assert abs(ch.validation - 1) < 0.001
    lo, hi = ch.infer_clocks
    assert 0 < lo <= hi < ch.infer_clocks_12t / 5
    assert not ch.unknown
    stc = timing.measure(model, targets.get("stc8h8k64u"), images)
    assert stc.infer_clocks[1] is None and stc.infer_clocks[0] > 0 and "lower bound" in stc.source


def test_ch55x_rules_give_values_inside_the_readme_table():
    """ch55x_asm_doc's table: DJNZ Rn 2 or 4/5/6, SJMP 4/5, LJMP 5/6, MOVC 5/6/7,
    CJNE A,direct 3 or 5/6/7; its rules pick one value from the addresses."""
    from digit51.firmware.chips.opcodes import OPS
    from digit51.firmware.measure.timing import ch55x_clocks

    code = bytearray(65536)
    code[0x100:0x102] = bytes([0xDF, 0xFD])        # DJNZ R7, -3: target 0x0FF (odd), own address even
    assert ch55x_clocks(OPS[0xDF], 0x100, bytes(code)) == (2, 2 + 2 + 0 + 1)
    code[0x201:0x203] = bytes([0xDF, 0xFD])        # at an odd address, target 0x200 (even)
    assert ch55x_clocks(OPS[0xDF], 0x201, bytes(code)) == (2, 2 + 2 + 1 + 0)
    code[0x300:0x302] = bytes([0x80, 0x02])        # SJMP to 0x304 (even)
    assert ch55x_clocks(OPS[0x80], 0x300, bytes(code)) == (4, 4)
    code[0x400:0x403] = bytes([0x02, 0x12, 0x35])  # LJMP 0x1235 (odd)
    assert ch55x_clocks(OPS[0x02], 0x400, bytes(code)) == (6, 6)
    assert ch55x_clocks(OPS[0x93], 0x500, bytes(code)) == (6, 6) == ch55x_clocks(OPS[0x93], 0x501, bytes(code))
    code[0x601:0x604] = bytes([0xB5, 0xE0, 0x10])  # CJNE A,ACC,+16 at an odd address: target 0x614 (even)
    assert ch55x_clocks(OPS[0xB5], 0x601, bytes(code)) == (3, 3 + 2 + 1 + 0)
