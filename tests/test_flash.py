"""`digit51 flash` command lines per chip: accepted by the real tools' argument parsers,
refused for what cannot be flashed, printed in one line when the tool is missing."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips import targets
from digit51.firmware.measure import timing
from helpers import cli

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51


def hardware_build(tmp_path, name: str, hardware: bool = True) -> Path:
    from digit51.firmware.builder.sdcc import build

    return build(timing.model_of([49, 16, 10], 4), BuildSpec.of(timing.model_of([49, 16, 10], 4), targets.get(name), "serve"), tmp_path / name, "m", sim_exit=not hardware).folder


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
