"""`digit51 doctor` on this machine's real PATH, and on a PATH built without s51 or sdcc:
the real programs are looked up and asked for their versions."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers import cli


def doctor(path: str):
    env = dict(os.environ, PATH=path)
    return cli("doctor", timeout=120, env=env)


def path_without(tool: str, tmp: Path) -> str:
    """This PATH with every folder that holds `tool` replaced by a folder of links to all its other entries."""
    dirs = []
    for i, d in enumerate(os.environ["PATH"].split(os.pathsep)):
        if d and (Path(d) / tool).exists():
            copy = tmp / f"bin{i}"
            copy.mkdir()
            for entry in Path(d).iterdir():
                if entry.name != tool:
                    (copy / entry.name).symlink_to(entry)
            d = str(copy)
        dirs.append(d)
    return os.pathsep.join(dirs)


def row(out: str, name: str) -> str:
    (line,) = [line for line in out.splitlines() if line.split()[:1] == [name]]
    return line


@pytest.mark.toolchain
def test_everything_found_on_this_machine_with_the_real_versions():
    r = doctor(os.environ["PATH"])
    assert r.returncode == 0, r.stdout + r.stderr
    sdcc = subprocess.run(["sdcc", "--version"], capture_output=True, text=True).stdout
    assert re.search(r"\b4\.\d+\.\d+\b", sdcc)[0] in row(r.stdout, "sdcc")
    s51 = subprocess.run(["s51", "-v"], capture_output=True, text=True)
    assert re.search(r"\d+\.\d+\.\d+", s51.stdout + s51.stderr)[0] in row(r.stdout, "s51")
    for name in ("socat", "chromium", "chromedriver", "numpy", "pillow", "matplotlib", "selenium"):
        assert "found" in row(r.stdout, name), name


@pytest.mark.toolchain
def test_without_s51_on_path_it_fails_and_says_how_to_install_it(tmp_path):
    path = path_without("s51", tmp_path)
    assert subprocess.run(["sh", "-c", "command -v s51"], env=dict(os.environ, PATH=path)).returncode != 0
    r = doctor(path)
    assert r.returncode == 1
    assert "MISSING" in row(r.stdout, "s51") and "apt-get install sdcc-ucsim" in row(r.stdout, "s51")
    assert "found" in row(r.stdout, "sdcc")
    assert r.stderr.count("\n") == 1 and "s51" in r.stderr and "apt-get install sdcc-ucsim" in r.stderr


@pytest.mark.toolchain
def test_without_sdcc_on_path_it_fails_too(tmp_path):
    r = doctor(path_without("sdcc", tmp_path))
    assert r.returncode == 1 and "apt-get install sdcc" in row(r.stdout, "sdcc") and "found" in row(r.stdout, "s51")


def test_without_socat_on_path_it_fails_too(tmp_path):
    """The simulator's UART reaches the host through socat (a pty, or 127.0.0.1 for the socket link)."""
    r = doctor(path_without("socat", tmp_path))
    assert r.returncode == 1 and "MISSING" in row(r.stdout, "socat") and "apt-get install socat" in row(r.stdout, "socat")


@pytest.mark.toolchain
def test_a_missing_optional_tool_does_not_fail(tmp_path):
    r = doctor(path_without("chromium", tmp_path))
    assert r.returncode == 0 and "MISSING" in row(r.stdout, "chromium") and "apt-get install chromium" in row(r.stdout, "chromium")
