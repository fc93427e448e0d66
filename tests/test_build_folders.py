"""Build output folders: swapped in whole, never mixed with a user's files, private per run.
Real SDCC, real ucsim, real processes and signals."""

import os
import signal
import time

import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from helpers import cli, cli_popen, one_line_error, selftest_set


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_refuses_a_folder_holding_other_files(tmp_path, small_qmodel):
    (tmp_path / "fw").mkdir()
    (tmp_path / "fw" / "notes.txt").write_text("mine")
    out = cli("build", str(small_qmodel), "-o", str(tmp_path / "fw"))
    one_line_error(out, "holds files digit51 did not write (notes.txt)")
    assert os.listdir(tmp_path / "fw") == ["notes.txt"]


@pytest.mark.toolchain
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_leaves_the_old_output_whole(sig, tmp_path, small_qmodel, small_int_model, data_dir, mnist_data):
    fw = tmp_path / "fw"
    build(small_int_model, BuildSpec.of(small_int_model, targets.get("generic-8052"), "serve"), fw, "m.q51")
    before = snapshot(fw)
    p = cli_popen("build", small_qmodel, "-o", fw, "--mode", "selftest", "--images", "3", "--data", data_dir)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".fw.tmp-*/.build/*.c")) and not any(fw.glob(".build/*.c")):  # SDCC about to run
        assert p.poll() is None and time.monotonic() < deadline, "the build never started compiling"
        time.sleep(0.02)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, err
    assert snapshot(fw) == before  # the old serve build, not a mix of old and new
    assert sorted(os.listdir(tmp_path)) == ["fw"]  # no temp folder left
    build(small_int_model, BuildSpec.of(small_int_model, targets.get("generic-8052"), "selftest"), fw, "m.q51", selftest_set(mnist_data, [0, 1, 2]))
    assert snapshot(fw) != before and not (fw / ".build").exists()  # what the interrupted build would have changed


@pytest.mark.toolchain
def test_two_sims_in_one_folder_at_once(tmp_path, small_qmodel, data_dir):
    args = ["sim", small_qmodel, "--data", data_dir, "--mode", "serve", "--images", "3", "--out", tmp_path / "out", "--json"]
    procs = [cli_popen(*args) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["serve"]
    assert (tmp_path / "out" / "serve" / "firmware.ihx").is_file()
