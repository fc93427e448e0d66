"""SIGTERM, SIGHUP and SIGINT during `sim` and `demo`, sent to a real digit51 process
while its real s51 runs: the simulator's process groups go, the temp folder goes, the
exit status is 128 + the signal, and stderr ends in one line."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from digit51.quantize import model_file as int_model_file
from helpers import CLI, cli_popen, module, module_popen


def ours(folder: Path) -> list[tuple[int, str]]:
    """Live s51 and socat processes whose command line names a path under `folder`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(os.fsdecode(argv[0])).name in ("s51", "socat") and str(folder).encode() in b" ".join(argv):
            found.append((int(pid), Path(os.fsdecode(argv[0])).name))
    return found


def simulating(tmp: Path) -> bool:
    """Some s51 under `tmp` has started running the firmware."""
    return any("Simulation started" in log.read_text(errors="replace") for log in tmp.glob("digit51-ucsim-*/s51.log"))


@pytest.mark.toolchain
@pytest.mark.parametrize("command, link, sig", [
    ("sim", "pty", signal.SIGTERM),
    ("sim", "socket", signal.SIGHUP),
    ("demo", "socket", signal.SIGINT),
])
def test_signal_stops_the_simulator_and_removes_its_temp_folder(command, link, sig, small_int_model, mnist_data, data_dir, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    if command == "sim":
        q = tmp_path / "m.q51"
        int_model_file.save(q, small_int_model)
        args = ["sim", str(q), "--link", link]
    else:
        from digit51.trainer import model_file
        from digit51.trainer.config import TrainConfig
        from digit51.trainer.train import train

        model_file.save(tmp_path / "m.d51", train(mnist_data, TrainConfig(hidden=(16,), pool=4, epochs=1, augment=0)))
        args = ["demo", "--model", str(tmp_path / "m.d51")]
    p = cli_popen(*args, "--data", data_dir, "--mode", "serve", "--images", "2000", "--out", tmp_path / "out",
                  cwd=tmp_path, env=dict(os.environ, TMPDIR=str(tmp)))
    try:
        deadline = time.monotonic() + 300
        while not simulating(tmp):  # poll until s51 runs the firmware, exchanging frames
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "timeout"
            time.sleep(0.05)
        running = ours(tmp_path)
        assert sorted(name for _, name in running) == ["s51", "socat"]  # socat carries the UART on both links
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"digit51: stopped by {signal.Signals(sig).name}"
    assert ours(tmp_path) == []
    assert list(tmp.glob("digit51-ucsim-*")) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_monitor_with_one_line(sig, tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as srv:  # a board that never says a word
        p = cli_popen("monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}", cwd=tmp_path)
        conn, _ = srv.accept()
        with conn:
            assert p.stderr.readline().startswith("monitor: listening on ")
            p.send_signal(sig)
            out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig
    assert err.splitlines() == [f"digit51: stopped by {signal.Signals(sig).name}"] and out == ""


@pytest.mark.toolchain
def test_sigkill_takes_the_simulator_with_it(small_int_model, data_dir, tmp_path):
    """SIGKILL cannot be caught: the kernel itself must stop s51 and socat (their parent-death
    signal). Their temp folder stays behind; nothing can remove it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    q = tmp_path / "m.q51"
    int_model_file.save(q, small_int_model)
    p = cli_popen("sim", q, "--link", "pty", "--data", data_dir, "--mode", "serve", "--images", "2000", "--out", tmp_path / "out",
                  cwd=tmp_path, env=dict(os.environ, TMPDIR=str(tmp)), stdout=subprocess.DEVNULL)
    running = []
    try:
        deadline = time.monotonic() + 300
        while not simulating(tmp):
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "timeout"
            time.sleep(0.05)
        running = ours(tmp_path)
        assert sorted(name for _, name in running) == ["s51", "socat"]
        p.kill()
        p.wait(timeout=60)
        deadline = time.monotonic() + 30
        while ours(tmp_path) and time.monotonic() < deadline:  # the kernel signals them at once; allow for load
            time.sleep(0.05)
        assert ours(tmp_path) == []
    finally:
        if p.poll() is None:
            p.kill()
        for pid, _ in ours(tmp_path):  # a failing run must not leave them spinning
            os.kill(pid, signal.SIGKILL)


def test_a_child_started_by_a_short_lived_thread_outlives_the_thread():
    """`digit51 ui` reopens the simulator from a request thread that ends at once: its
    parent-death signal must not be tied to that thread."""
    import threading

    from digit51.firmware.sim.children import Children

    with Children("digit51-test-") as children:
        t = threading.Thread(target=children.popen, args=(["sleep", "60"],))
        t.start()
        t.join()
        with pytest.raises(subprocess.TimeoutExpired):  # still running a second after the thread ended
            children.procs[0].wait(timeout=1.0)
    assert children.procs == []


def s51_under(folder: Path) -> list[int]:
    return [pid for pid, name in ours(folder) if name == "s51"]


def start_in(tmp_path: Path, *args: str, group: bool = False) -> tuple[subprocess.Popen, Path]:
    """`python -m *args` with TMPDIR=tmp_path/tmp (created); `group`: a process group of its own, as a terminal gives."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    p = module_popen(*args, cwd=tmp_path, env=dict(os.environ, TMPDIR=str(tmp)), stdout=subprocess.DEVNULL,
                     start_new_session=group)
    return p, tmp


def wait_for_s51(p: subprocess.Popen, tmp: Path, deadline: float = 300) -> None:
    end = time.monotonic() + deadline
    while not s51_under(tmp):
        assert p.poll() is None and time.monotonic() < end, p.stderr.read() if p.poll() is not None else "timeout"
        time.sleep(0.02)


@pytest.mark.toolchain
def test_sigterm_stops_timing_with_its_s51_and_temp_folders(small_int_model, data_dir, tmp_path):
    q = tmp_path / "m.q51"
    int_model_file.save(q, small_int_model)
    p, tmp = start_in(tmp_path, "digit51.firmware.measure.timing", str(q), "--data", str(data_dir), "--images", "40")
    try:
        wait_for_s51(p, tmp)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM, err
    assert err.splitlines() == ["timing: stopped by SIGTERM"]
    assert ours(tmp_path) == [] and list(tmp.iterdir()) == []


@pytest.mark.toolchain
def test_sigkill_of_report_takes_its_s51_with_it(small_int_model, data_dir, tmp_path):
    """report's per-layer profile runs s51 in batch mode: that s51 too carries the parent-death signal.
    s51 is paused first, as in a long silent `run`: an orphan that writes would die of SIGPIPE anyway."""
    pytest.importorskip("matplotlib", reason="report needs matplotlib (pip install '.[sweep]')")
    q = tmp_path / "m.q51"
    int_model_file.save(q, small_int_model)
    p, tmp = start_in(tmp_path, CLI, "report", str(q), "--data", str(data_dir), "-o", str(tmp_path / "r"),
                      "--images", "255")
    try:
        wait_for_s51(p, tmp)
        for pid in s51_under(tmp):
            os.kill(pid, signal.SIGSTOP)
        p.kill()
        p.wait(timeout=60)
        deadline = time.monotonic() + 30
        while ours(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ours(tmp_path) == []
    finally:
        if p.poll() is None:
            p.kill()
        for pid, _ in ours(tmp_path):
            os.kill(pid, signal.SIGKILL)


def verify_args(q: Path, data_dir: Path, *more: str) -> list[str]:
    return ["digit51.firmware.bench.verify", str(q), "--data", str(data_dir), "--workers", "2", "--chunk", "100", *more]


def workers_of(p: subprocess.Popen) -> list[int]:
    """Live children of `p` running `verify --worker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"--worker" in argv and ppid == p.pid:
            found.append(int(pid))
    return found


@pytest.mark.toolchain
@pytest.mark.parametrize("how", ["SIGTERM", "two Ctrl-C to the group"])
def test_verify_stops_its_workers_their_s51_and_its_temp_folder(how, small_int_model, data_dir, tmp_path):
    q = tmp_path / "m.q51"
    int_model_file.save(q, small_int_model)
    p, tmp = start_in(tmp_path, *verify_args(q, data_dir, "--images", "3000"), group=True)
    try:
        wait_for_s51(p, tmp)
        workers = workers_of(p)
        assert len(workers) == 2
        if how == "SIGTERM":
            p.send_signal(signal.SIGTERM)
        else:
            os.killpg(p.pid, signal.SIGINT)
            time.sleep(0.2)
            os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=30)  # promptly: the run itself would take minutes
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    sig = signal.SIGTERM if how == "SIGTERM" else signal.SIGINT
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"verify: stopped by {sig.name}"
    assert workers_of(p) == [] and [w for w in workers if Path(f"/proc/{w}").exists()] == []
    assert ours(tmp_path) == [] and list(tmp.iterdir()) == []


@pytest.mark.parametrize("args, line", [
    (["--images", "0"], "verify: error: --images must be at least 1, not 0"),
    (["--images", "-5"], "verify: error: --images must be at least 1, not -5"),
    (["--images", "10001"], "verify: error: --images 10001 is more than the 10000 test images"),
    (["--chunk", "-1"], "verify: error: --chunk must be at least 0, not -1 (0: as many as one self-test build holds)"),
    (["--workers", "0"], "verify: error: --workers must be at least 1, not 0"),
])
def test_verify_refuses_counts_that_verify_nothing(args, line, small_int_model, data_dir, tmp_path):
    q = tmp_path / "m.q51"
    int_model_file.save(q, small_int_model)
    r = module("digit51.firmware.bench.verify", q, "--data", data_dir, *args, timeout=120)
    assert (r.returncode, r.stderr.splitlines(), r.stdout) == (1, [line], "")


@pytest.mark.toolchain
def test_verify_runs_its_chunks_on_its_workers_bit_exact(small_int_model, data_dir, tmp_path):
    q = tmp_path / "m.q51"
    int_model_file.save(q, small_int_model)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = module(*verify_args(q, data_dir, "--images", "250"), timeout=600, env=dict(os.environ, TMPDIR=str(tmp)))
    assert r.returncode == 0, r.stderr
    assert "images              250\nmismatches          0\nserial errors       0\n" in r.stdout
    assert "wall time" in r.stdout and "with 2 workers" in r.stdout
    assert r.stderr.splitlines()[-1].startswith("verify: 250/250 images, 0 mismatches")
    assert list(tmp.iterdir()) == []
