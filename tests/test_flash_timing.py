"""`digit51 flash` command lines per chip, and the timing method checked against ucsim."""

import os
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from digit51.firmware.app import flash
from digit51.firmware.chips import targets
from digit51.firmware.measure import timing
from helpers import cli


def hardware_build(tmp_path, name: str, hardware: bool = True) -> Path:
    from digit51.firmware.builder.sdcc import build

    return build(timing.model_of([49, 16, 10], 4), targets.get(name), tmp_path / name, "serve", "m", sim_exit=not hardware).folder


def flash_cli(*args, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess:
    return cli("flash", *args, env={"PATH": path})


def tools_argv(line: str) -> list[list[str]]:
    """The commands of the one line `digit51 flash` prints, split as a shell would."""
    cmd = line.split("then run: ", 1)[1] if "then run: " in line else line.split("digit51: ", 1)[1]
    return [shlex.split(part) for part in cmd.split(" && ")]


@pytest.mark.parametrize("name, tool, failure", [("stc8h8k64u", "stcgal", "no-such-port"),
                                                  ("ch552", "ch55xtool", "Failed to get device"),
                                                  ("ch559", "ch55xtool", "Failed to get device")])
def test_the_real_tools_argument_parsers_accept_the_command(tmp_path, name, tool, failure):
    """`digit51 flash` runs the installed tool (stcgal 1.10, ch55xtool 1.0: the test extra)
    on the exact argv it prints: the tool's own argument parser must accept it. No board is
    attached and the port does not exist, so each tool then stops where it opens the port
    or looks for the USB device, not in argparse (exit 2, 'usage:', 'error: argument')."""
    folder = hardware_build(tmp_path, name)  # the tools are found beside this Python (the venv), not on PATH
    r = flash_cli(folder, "--target", name, "--port", tmp_path / "no-such-port")
    out = r.stdout + r.stderr
    assert "error: argument" not in out and "usage:" not in out and "unrecognized arguments" not in out, out
    assert r.returncode not in (0, 2) and failure in out, out
    (line,) = [l for l in r.stderr.splitlines() if l.startswith("digit51: ")]
    argv = tools_argv(line)[-1]
    assert (argv[0] == tool) if tool == "stcgal" else (argv[1:3] == ["-m", tool])
    if tool == "ch55xtool":
        assert (folder / "firmware.bin").stat().st_size > 0  # makebin ran first


def test_n76e003_command_carries_configuration_bytes(tmp_path):
    """nuvoprog refuses an image with no configuration bytes (cmd/target_data.go); the bytes
    digit51 passes decode, as target/n76/n76e003.go reads them, to: boot from APROM, no
    LDROM, watchdog off."""
    folder = hardware_build(tmp_path, "n76e003")
    r = flash_cli(folder, "--target", "n76e003")
    (argv,) = tools_argv(r.stderr.strip())
    assert argv[:4] == ["nuvoprog", "program", "-t", "n76e003"] and argv[-2:] == ["-a", str(folder / "firmware.ihx")]
    cfg = bytes.fromhex(argv[argv.index("-c") + 1])
    assert len(cfg) >= 4  # target.ConfigSpace MinSize
    assert cfg[0] & 0x80  # CONFIG0.CBS = 1: boot from APROM
    assert cfg[1] & 0x07 == 7  # CONFIG1.LDSIZE = 7: no LDROM
    assert cfg[3] >> 4 == 0xF  # WDTEN = 1111: watchdog disabled


def test_flash_refuses_what_it_cannot_flash(tmp_path):
    sim = hardware_build(tmp_path / "sim", "ch552", hardware=False)
    r = flash_cli(sim, "--target", "ch552")
    assert r.returncode == 1 and "simulator build" in r.stderr and "--hardware" in r.stderr and "Traceback" not in r.stderr
    hw = hardware_build(tmp_path, "ch552")
    r = flash_cli(hw, "--target", "ch559")
    assert r.returncode == 1 and "built for ch552, not ch559" in r.stderr
    for bad in ("abc", "-5", "0"):
        r = flash_cli(hw, "--target", "ch552", "--clock", bad)
        assert r.returncode == 2 and "--clock" in r.stderr and "Traceback" not in r.stderr
    r = flash_cli(hw, "--target", "ch552", "--clock", "24000000")  # built for 16 MHz
    assert r.returncode == 1 and "differs from the 16000000 Hz" in r.stderr
    (hw / "firmware.ihx").write_text(":10000000garbage\n")
    r = flash_cli(hw, "--target", "ch552", path=os.environ["PATH"])  # ch55xtool installed: makebin runs on the corrupt file
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_flash_without_the_tool_prints_one_line_with_the_command(tmp_path):  # nuvoprog: not on PyPI, not installed
    folder = hardware_build(tmp_path, "n76e003")
    r = flash_cli(folder, "--target", "n76e003")
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nuvoprog is not installed" in lines[0]
    r = flash_cli(tmp_path / "none", "--target", "ch552")
    assert r.returncode == 1 and "no firmware.ihx" in r.stderr and "Traceback" not in r.stderr


def test_opcode_table_lengths_match_sdcc_assembly():
    """Spot checks against the 8051 encoding (Atmel doc0509)."""
    from digit51.firmware.chips.opcodes import OPS
    assert (OPS[0x93].form, OPS[0x93].size, OPS[0x93].cycles12) == ("MOVC A,@A+DPTR", 1, 2)
    assert (OPS[0xA4].form, OPS[0xA4].cycles12) == ("MUL AB", 4)
    assert (OPS[0xDF].form, OPS[0xDF].size, OPS[0xDF].cond) == ("DJNZ Rn,rel", 2, True)
    assert (OPS[0x85].size, OPS[0x75].size, OPS[0x12].size, OPS[0xE2].form) == (3, 3, 3, "MOVX A,@Ri")
    # JBC JB JNB LJMP LCALL ORL/ANL/XRL dir,# MOV DPTR CJNE A,# MOV dir,# MOV dir,dir CJNE A,dir DJNZ dir; CJNE Rn x8, @Ri x2
    assert sum(op.size == 3 for op in OPS) == 14 + 8 + 2


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
    sel_fw = build(model, targets.get("generic-8052"), tmp_path / "fw", "selftest", "m",
                   SelfTestSet([0, 1], images, np.zeros(2, np.uint8)), startup=targets.startup(targets.on_generic_core(targets.get("ch552"))))
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
