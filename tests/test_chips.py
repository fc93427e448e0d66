"""Chip targets: start-up register values against the vendors' and BSPs' own numbers,
every target built with SDCC, and every target's inference code (its kernel variant)
bit-exact in ucsim on MNIST test images."""

import json
from dataclasses import replace

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.trainer.errors import Digit51Error

CHIPS = ["stc8h8k64u", "ch552", "ch559", "n76e003", "efm8bb3"]


def regs(board) -> dict:
    """Register -> value for the plain assignments of a start-up."""
    out = {}
    for r in board.init + board.early:
        name, _, value = r.stmt.rstrip(";").partition(" = ")
        if value and "(" not in value:
            out[name] = int(value, 16)
    return out


# Expected values from the sources, not from our formulas:
# STC8H  IOsetting/FwLib_STC8 src/fw_uart.c: 11.0592 MHz, 115200 -> TL1 = 0xE8, TH1 = 0xFF
# CH552  chips-8051.md from ch554_sdcc: 24 MHz, TH1 = 0xF3 -> 115385, 0x64 -> 9615
# N76    achilikin/N76E003-SDCC-BSP bsp/uart.c table: 16 MHz 9600 -> RH3:RL3 = 0xFF98, 38400 -> 0xFFE6
# EFM8   chips-8051.md: 24.5 MHz, TH1 = 0x96 -> 115566
# 8052   TH1 = 0xFD for 9600 baud at 11.0592 MHz (the classic)
@pytest.mark.parametrize("name, clock, baud, expect, actual", [
    ("stc8h8k64u", 11_059_200, 115200, {"TL1": 0xE8, "TH1": 0xFF}, 115200),
    ("ch552", 24_000_000, 115200, {"TH1": 0xF3}, 115385),
    ("ch552", 16_000_000, 38400, {"TH1": 0xE6}, 38462),  # the default: 16 MHz runs at 3.3 V
    ("ch552", 24_000_000, 9600, {"TH1": 0x64}, 9615),
    ("ch559", 48_000_000, 115200, {"TH1": 0xE6, "PLL_CFG": 0xD8}, 115385),
    ("n76e003", 16_000_000, 9600, {"RH3": 0xFF, "RL3": 0x98}, 9615),
    ("n76e003", 16_000_000, 38400, {"RH3": 0xFF, "RL3": 0xE6}, 38462),
    ("efm8bb3", 24_500_000, 115200, {"TH1": 0x96, "CLKSEL": 0x00}, 115566),
    ("generic-8052", 11_059_200, 9600, {"TH1": 0xFD, "TL1": 0xFD}, 9600),
])
def test_uart_reload_matches_the_vendor_numbers(name, clock, baud, expect, actual):
    b = targets.startup(targets.get(name), clock, baud)
    got = regs(b)
    assert {k: got[k] for k in expect} == expect
    assert round(b.uart.actual) == actual
    assert b.uart.error == pytest.approx(abs(actual - baud) / baud, abs=1e-4)


@pytest.mark.parametrize("name, clock, baud, pct", [
    ("n76e003", 16_000_000, 115200, "3.5 %"),   # the BSP's table: 111111 baud, 3.549 %
    ("n76e003", 16_000_000, 57600, "2.1 %"),    # 58824 baud, 2.124 %
    ("generic-8052", 12_000_000, 9600, "8.5 %"),  # the reason for 11.0592 MHz crystals
])
def test_a_baud_rate_more_than_2_percent_off_is_refused(name, clock, baud, pct):
    t = targets.get(name)
    with pytest.raises(Digit51Error, match=f"{pct} off.*more than 2 %"):
        targets.startup(replace(t, clock_range=(clock, clock)), clock, baud)


def test_clock_set_up_values():
    # CH552 CLOCK_CFG[2:0] (ch554_sdcc debug.c): 6 -> 24 MHz, 5 -> 16 MHz, 3 -> 6 MHz (the reset value)
    for clock, code in ((24_000_000, 6), (16_000_000, 5), (6_000_000, 3)):
        init = [r.stmt for r in targets.startup(targets.get("ch552"), clock, 9600).init]
        assert init[:2] == ["SAFE_MOD = 0x55;", "SAFE_MOD = 0xAA;"]
        assert f"CLOCK_CFG = (CLOCK_CFG & 0xF8) | 0x{code:02X};" in init
    with pytest.raises(Digit51Error, match="ch552 runs at"):
        targets.startup(targets.get("ch552"), 20_000_000, 9600)
    # CH559: 288 MHz / 6 = 48 MHz (HIDman CfgFsys: CLOCK_CFG |= 6, PLL_CFG = 24 | 6 << 5)
    init = [r.stmt for r in targets.startup(targets.get("ch559")).init]
    assert "CLOCK_CFG = (CLOCK_CFG & 0xE0) | 0x06;" in init and "PLL_CFG = 0xD8;" in init
    with pytest.raises(Digit51Error, match="outside n76e003's range"):
        targets.startup(targets.get("n76e003"), 24_000_000, 9600)
    # EFM8: the watchdog is stopped in the start-up hook (observed in s51: tests/test_startup.py)
    assert [r.stmt for r in targets.startup(targets.get("efm8bb3")).early] == ["WDTCN = 0xDE;", "WDTCN = 0xAD;"]


# Memory each chip's datasheet (or the flashing tool that writes it) gives the application:
# (code bytes, internal RAM, XRAM)
DATASHEET_BUDGETS = {
    "stc8h8k64u": (65024, 256, 8192),  # stcgal stcgal/models.py STC8H8K64U code=65024; STC8H datasheet: 8 KB XRAM
    "ch552": (14336, 256, 1024),  # CH552 datasheet: 16 KB flash, 2 KB of it the bootloader; 1 KB xRAM (ch55xduino boards.txt maximum_size=14336)
    "ch559": (61440, 256, 6144),  # CH559 datasheet: 60 KB code flash, 6 KB xRAM (ch55xduino boards.txt maximum_size=61440)
    "n76e003": (18432, 256, 768),  # N76E003 datasheet: 18 KB APROM+LDROM, 768 B XRAM
    "efm8bb3": (0xFA00, 256, 4096),  # EFM8BB3 datasheet: bootloader at 0xFA00, 4 KB XRAM
    "at89s52": (8192, 256, 0),  # AT89S52 datasheet: 8 KB flash, 256 B RAM
}


def test_memory_budgets_are_the_datasheets():
    assert {n: (targets.get(n).code, targets.get(n).iram, targets.get(n).xram) for n in DATASHEET_BUDGETS} == DATASHEET_BUDGETS


@pytest.mark.toolchain
def test_every_chip_builds_with_its_start_up(tmp_path):
    """Hardware builds (no simulator hook) for every chip of its own default (frontier.choose_for:
    the CH559's is a CNN; random weights: a build does not depend on their values); memory.json
    budgets are the table's."""
    from digit51.firmware.bench import frontier
    from digit51.firmware.measure import timing

    rows = frontier.load()["rows"]
    built = {}
    for name in CHIPS:
        t = targets.get(name)
        row = frontier.choose_for(rows, t)
        assert frontier.fits(row, t) == "serve"
        model = timing.model_of(row["sizes"], row["pool"], deskew=row.get("deskew", False), graph=row.get("graph", ""))
        fw = build(model, BuildSpec.of(model, t, "serve"), tmp_path / name, "m", sim_exit=False)
        built[name] = row["arch"]
        mem = json.loads((fw.folder / "memory.json").read_text())
        assert (mem["code"]["budget"], mem["iram"]["budget"], mem["xram"]["budget"]) == (t.code, t.iram, t.xram)
        assert mem["code"]["used"] <= t.code and mem["xram"]["used"] <= t.xram
        assert mem["clock_hz"] == t.clock_hz and mem["xaddr"] == t.xaddr
        src = (fw.folder / "src" / "runtime.c").read_text()
        board = targets.startup(t)
        for r in board.init + board.early:
            assert r.stmt in src
        assert ("DIGIT51_STARTUP_HOOK(void)" in src) == bool(t.early)
        infer = (fw.folder / "src" / "infer.c").read_text()
        # the kernels read activations with MOVX @R0 + page only where the target has the page
        # register (the gather and the pooling use MOVX @DPTR on every target)
        assert ("movx    a, @r0" in infer) == (t.xaddr == "ri_page")
    assert "conv3x3" in built["ch559"] and frontier.choose_for(rows, targets.get("ch559")).get("graph")  # a CNN runs on the CH559
    assert built["stc8h8k64u"] == built["efm8bb3"] == "-".join(map(str, frontier.choose_default(rows)["sizes"]))


@pytest.mark.toolchain
def test_a_model_too_big_for_a_chip_is_refused_with_its_numbers(tmp_path):
    from digit51.firmware.measure import timing

    with pytest.raises(Digit51Error, match="but ch552 has 14336 B"):
        build(timing.model_of([196, 128, 32, 10], 2), BuildSpec.of(timing.model_of([196, 128, 32, 10], 2), targets.get("ch552"), "serve"), tmp_path / "x", "m")
    # 784 pooled inputs + 16 + 1 activations + 10 int32 logits = 841 B of buffers
    with pytest.raises(Digit51Error, match="needs 841 B of XRAM for its buffers but n76e003 has 768 B"):
        build(timing.model_of([784, 16, 10], 1), BuildSpec.of(timing.model_of([784, 16, 10], 1), targets.get("n76e003"), "serve"), tmp_path / "y", "m")


@pytest.mark.toolchain
@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_every_target_runs_bit_exact_in_ucsim(small_int_model, mnist_data, tmp_path, name):
    """20 MNIST test images through each target's inference code (its asm kernel
    variant; self-test images, or stream mode with the C kernel where there is no XRAM)
    on ucsim's core."""
    t = targets.get(name)
    mode = "stream" if t.xram == 0 else "selftest"
    idx = list(range(200, 220))
    result = pipeline.simulate_firmware(small_int_model, BuildSpec.of(small_int_model, t, mode), mnist_data, idx, tmp_path, "m", link="socket")
    c = result.comparison
    assert c.images == 20 and c.mismatches == [] and not result.bad_lines and not result.frame_errors
    assert result.firmware[0].memory["xaddr"] == t.xaddr


@pytest.mark.toolchain
def test_dptr_kernel_on_page_crossings_odd_lengths_and_extreme_weights(mnist_data, tmp_path):
    """The MOVX @DPTR variant on 784 inputs (segments cross XRAM pages), an odd layer
    width and weights at +-127, against the integer simulator (efm8bb3's variant)."""
    from digit51.quantize.model_file import IntModel

    rng = np.random.default_rng(12)
    w0 = rng.integers(-127, 128, (7, 784)).astype(np.int8)
    w0[0], w0[1] = 127, -127
    w1 = rng.integers(-127, 128, (10, 7)).astype(np.int8)
    model = IntModel([w0, w1], [rng.integers(-5000, 5000, 7).astype(np.int32), np.zeros(10, np.int32)],
                     [np.array([0, 14, 9, 10, 11, 12, 13], np.uint8)], 1)
    t = targets.get("efm8bb3")
    assert t.xaddr == "dptr"
    result = pipeline.simulate_firmware(model, BuildSpec.of(model, t, "serve", "asm"), mnist_data, [3, 4, 5], tmp_path, "m", link="socket")
    assert result.comparison.images == 3 and result.comparison.mismatches == []


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel", ["sparse-asm", "asm", "c"])
def test_xram_estimate_of_a_deskew_model_is_what_the_linker_places(tmp_path, kernel):
    """The fit check's XRAM need equals the .mem file's for deskew builds (the image buffer
    and the deskew state), so a chip that cannot hold it is refused before SDCC runs."""
    from digit51.firmware.measure import timing
    from digit51.firmware.builder.fit import estimate

    model = timing.model_of([49, 16, 10], 4, deskew=True)
    fw = build(model, BuildSpec.of(model, targets.get("generic-8052"), "serve", kernel), tmp_path / kernel, "m")
    assert fw.memory["xram"]["used"] == estimate(BuildSpec(tuple([49, 16, 10]), 4, True, targets.get("generic-8052"), "serve", kernel, 0)).xram


@pytest.mark.toolchain
def test_a_deskew_model_on_the_ch552_is_refused_in_one_line(tmp_path):
    """49-96-10 with deskew needs 1,031 B of XRAM even with the dense kernel (the sparse one's
    list would add more): refused before SDCC runs; 49-16-10 with deskew fits the 1 KB with
    the dense asm kernel (951 B; the sparse list would make it 1,050 B)."""
    from digit51.firmware.measure import timing

    with pytest.raises(Digit51Error, match=r"needs 1031 B of XRAM .* but ch552 has 1024 B: use a model trained with --no-deskew"):
        build(timing.model_of([49, 96, 10], 4, deskew=True), BuildSpec.of(timing.model_of([49, 96, 10], 4, deskew=True), targets.get("ch552"), "serve"), tmp_path / "x", "m")
    fw = build(timing.model_of([49, 16, 10], 4, deskew=True), BuildSpec.of(timing.model_of([49, 16, 10], 4, deskew=True), targets.get("ch552"), "serve"), tmp_path / "y", "m")
    assert fw.memory["kernel"] == "asm" and fw.memory["xram"]["used"] == 951
