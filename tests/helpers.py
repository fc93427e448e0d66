"""Helpers shared by test modules (imported as `helpers`: pytest puts tests/ on sys.path).
Test files import this module, never each other; shared fixtures live in conftest.py."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np

from digit51.firmware import protocol

CLI = "digit51.firmware.app.cli"  # the module behind the `digit51` command


def _argv(module: str, args, faulthandler: bool = False) -> list:
    """`python -m module args`; arguments that are not str, bytes or paths are turned into str."""
    opts = ["-X", "faulthandler"] if faulthandler else []
    return [sys.executable, *opts, "-m", module, *(a if isinstance(a, (str, bytes, os.PathLike)) else str(a) for a in args)]


def module(name: str, *args, env=None, cwd=None, timeout=None, **kw) -> subprocess.CompletedProcess:
    """`python -m name args` to the end, stdout and stderr captured as text (`kw`: more subprocess.run options)."""
    return subprocess.run(_argv(name, args), capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, **kw)


def module_popen(name: str, *args, faulthandler=False, **kw) -> subprocess.Popen:
    """`python -m name args` started in the background; stdout and stderr are text pipes unless `kw` says otherwise."""
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **kw}
    return subprocess.Popen(_argv(name, args, faulthandler), **kw)


def cli(*args, env=None, cwd=None, timeout=None, **kw) -> subprocess.CompletedProcess:
    """`digit51 args` as a user runs it, to the end, stdout and stderr captured as text."""
    return module(CLI, *args, env=env, cwd=cwd, timeout=timeout, **kw)


def cli_popen(*args, **kw) -> subprocess.Popen:
    """`digit51 args` started in the background (see module_popen)."""
    return module_popen(CLI, *args, **kw)


def one_line_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    """The command failed with one `digit51: error:` line holding every fragment, no traceback."""
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("digit51: error: "), out.stderr
    for f in fragments:
        assert f in lines[-1], lines[-1]


def line(body: str) -> bytes:
    """A record line as the firmware sends it: body, space, '*', CRC-16 in hex, CR LF."""
    return f"{body} *{protocol.crc16(body.encode()):04X}\r\n".encode()


# A prediction line with the extreme logits the protocol carries.
PRED = "pred img=12 digit=5 logits=-5,0,7,99,-2147483648,2147483647,1,2,3,4 cycles=712345"


def monitor(board, *args, cwd):
    """`digit51 monitor` (a real process) against `board(conn)`, a real TCP peer on
    127.0.0.1 that plays a board. pyserial's socket:// open() discards input that comes
    before it returns, so the board starts once the monitor says it is listening."""
    srv = socket.create_server(("127.0.0.1", 0))
    go = threading.Event()

    def serve():
        conn, _ = srv.accept()
        with conn:
            if go.wait(60):
                board(conn)

    threading.Thread(target=serve, daemon=True).start()
    p = cli_popen("monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}", *args, cwd=cwd)
    first = p.stderr.readline()
    go.set()
    out, err = p.communicate(timeout=60)
    srv.close()
    assert first.startswith("monitor: listening on socket://"), first + err
    assert "Traceback" not in err
    return p.returncode, out, err


def sends(payload: bytes):
    """A board for `monitor` that sends `payload` and hangs up."""
    return lambda conn: conn.sendall(payload)


# Cycle figures in the firmware tests are what SDCC 4.2's code took in ucsim when written
# (default kernel: sparse-asm); a test accepts 25 % either way. Counting the UART waits of
# serve mode adds ~960 cycles a byte (9600 baud, 11.0592 MHz), far outside; the small model
# stays under one Timer 0 overflow (65,536), so tests/test_cycle_count.py checks the overflow
# count on a bigger one. A firmware change that moves the figures more than that updates them.
CYCLES_MARGIN = 0.25


def near(cycles: float, expected: int) -> bool:
    """`cycles` within CYCLES_MARGIN of the figure measured when the test was written."""
    return abs(cycles / expected - 1) < CYCLES_MARGIN


def check(result, n, cycles: int):
    """`n` images bit-exact with no protocol errors, `cycles` per image (mean) within the margin."""
    c = result.comparison
    assert c.images == n
    assert c.mismatches == [], c.mismatches[:3]
    assert not result.bad_lines and not result.frame_errors
    assert near(c.mean_cycles, cycles), c.mean_cycles


def selftest_set(data, idx):
    """The test images `idx` of `data` with their labels, as a self-test build embeds them."""
    from digit51.codegen.render import SelfTestSet

    return SelfTestSet(idx, data.test_images[idx], data.test_labels[idx])


def idx_file(path, arr):
    """`arr` written as a gzipped IDX file of unsigned bytes, as MNIST's files are."""
    import gzip

    head = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes(), mtime=0))


def own_digits(folder, classes=5, n_train=300, n_test=60):
    """A user's own 28x28 set in the MNIST file names: class c is a bright block in row band c."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, classes, n).astype(np.uint8)
        labels[:classes] = np.arange(classes)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 + 5 * c : 6 + 5 * c, 4:24] = 250
        idx_file(folder / f"{stem}-images-idx3-ubyte.gz", images)
        idx_file(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder


def craft(path, kind, version, meta, arrays, edit_header=None, edit_meta=None):
    """An artifact with a hand-edited header but a valid checksum (as a crafter would make it)."""
    import json
    import struct

    from digit51.trainer import artifact

    good = artifact.dumps(kind, version, meta, arrays)
    (hlen,) = struct.unpack("<I", good[8:12])
    header = json.loads(good[12 : 12 + hlen])
    del header["sha256"]
    if edit_header:
        edit_header(header)
    if edit_meta:
        edit_meta(header["meta"])
    path.write_bytes(artifact.pack(header, good[12 + hlen :]))
    return path


def ui_start(qmodel, *args) -> tuple[subprocess.Popen, str]:
    """`digit51 ui` started as a user does; returns the process and the address it prints."""
    proc = cli_popen("ui", qmodel, "--no-browser", *args, faulthandler=True, stdout=None)
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        text = proc.stderr.readline()
        if not text:
            break
        seen.append(text)
        m = re.search(r"open (http://127\.0\.0\.1:\d+/)", text)
        if m:
            return proc, m[1]
    proc.kill()
    raise AssertionError("digit51 ui did not print its address: " + "".join(seen))


def ui_wait_exit(proc: subprocess.Popen, timeout: float = 20) -> int:
    """The exit code; if the server hangs, its threads' stacks (faulthandler on SIGABRT) in the failure."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=10)
        raise AssertionError(f"digit51 ui did not exit within {timeout} s:\n{proc.stderr.read()[-6000:]}") from None


def ui_stop(proc: subprocess.Popen) -> int:
    """Stop `digit51 ui` (SIGTERM) and wait for it; kill it if it hangs."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return ui_wait_exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()


def shapes_set(folder, h=16, w=16, classes=3, n_train=600, n_test=120, seed=0):
    """Class c: a bright bar at a class-dependent place and angle, on noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 30, (n, h, w)).astype(np.uint8)
        for i, c in enumerate(labels):
            r = rng.integers(1, h - 3)
            if c % 2:
                images[i, 1 : h - 1, (c * 3 + int(rng.integers(0, 2))) % (w - 2) + 1] = 240
            else:
                images[i, r : r + 2, 2 + c : w - 2] = 240
        idx_file(folder / f"{stem}-images-idx3-ubyte.gz", images)
        idx_file(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder
