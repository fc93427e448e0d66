"""The serial protocol: checksummed lines, frames, and corrupted data that must be
detected and reported, never miscounted."""

import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import serial

from digit51.firmware import protocol
from digit51.firmware.app.monitor import Tally
from digit51.firmware.host.session import Session
from helpers import line


PRED = "pred img=12 digit=5 logits=-5,0,7,99,-2147483648,2147483647,1,2,3,4 cycles=712345"


def test_parses_each_record_kind():
    r = protocol.LineReader()
    recs = r.feed(line("ready mode=serve model=196-128-10") + line(PRED) + line("error img=4 reason=crc") + line("done images=2 correct=1"))
    assert recs == [
        protocol.Ready("serve", "196-128-10"),
        protocol.Prediction(12, 5, (-5, 0, 7, 99, -(2**31), 2**31 - 1, 1, 2, 3, 4), 712345),
        protocol.FrameError(4, "crc"),
        protocol.Done(2, 1),
    ]


@pytest.mark.parametrize("preamble", [protocol.TELNET_PREAMBLE, protocol.TELNET_PREAMBLE[3:], b""])
def test_byte_by_byte_with_telnet_preamble_and_exit_noise(preamble):
    r = protocol.LineReader()
    stream = preamble + line(PRED).replace(b"\r\n", b"\r\r\n") + b"\r\n\x1b[0m\x00"
    recs = []
    for b in stream:
        recs += r.feed(bytes([b]))
    recs += r.close()
    assert recs == [protocol.parse_line(PRED + f" *{protocol.crc16(PRED.encode()):04X}")]
    assert isinstance(recs[0], protocol.Prediction)


def corruptions(good: bytes):
    rng = np.random.default_rng(7)
    body = good[:-2]
    for _ in range(60):  # single flipped bits anywhere in the line
        pos, bit = int(rng.integers(len(body))), int(rng.integers(8))
        bad = bytearray(body)
        bad[pos] ^= 1 << bit
        if b"\n" not in bad:
            yield "flip", bytes(bad) + b"\r\n"
    for _ in range(30):  # a dropped byte
        pos = int(rng.integers(len(body)))
        yield "drop", body[:pos] + body[pos + 1 :] + b"\r\n"
    yield "garbage", bytes(rng.integers(32, 127, 80).astype(np.uint8)) + b"\r\n"
    yield "binary", bytes(rng.integers(0, 256, 80).astype(np.uint8)).replace(b"\n", b"") + b"\r\n"


def test_corrupted_lines_are_never_results():
    good = line(PRED)
    for kind, bad in corruptions(good):
        r = protocol.LineReader()
        recs = r.feed(bad) + r.close()
        assert len(recs) == 1 and isinstance(recs[0], protocol.BadLine), (kind, bad)


def test_disconnect_mid_line_is_reported():
    r = protocol.LineReader()
    assert r.feed(line(PRED)[:40]) == []
    (rec,) = r.close()
    assert isinstance(rec, protocol.BadLine) and rec.reason == "disconnected mid-line"


def test_frames_roundtrip_crc():
    img = bytes(range(256)) * 3 + bytes(16)
    f = protocol.image_frame(513, img)
    assert f[0] == protocol.FRAME_MAGIC and f[1] == protocol.KIND_IMAGE and f[2:4] == bytes([1, 2])
    assert protocol.crc16(f[1:-2]) == int.from_bytes(f[-2:], "big")
    assert protocol.crc16(f[1:]) == 0  # the firmware's check
    with pytest.raises(ValueError):
        protocol.image_frame(0, img[:-1])


def test_session_over_pyserial_loop_url():
    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(line("ready mode=serve model=x") + b"junk\r\n" + line(PRED))
    s = Session(port)
    recs = [s.next_record(2) for _ in range(3)]
    assert isinstance(recs[0], protocol.Ready) and isinstance(recs[1], protocol.BadLine)
    assert isinstance(recs[2], protocol.Prediction)


def test_tally_counts_only_valid_predictions():
    import io

    labels = np.zeros(20, np.uint8)
    labels[12] = 5
    t = Tally(labels, out=io.StringIO(), err=io.StringIO())
    r = protocol.LineReader()
    bad = bytearray(line(PRED))
    bad[20] ^= 4
    for rec in r.feed(line(PRED) + bytes(bad) + line(PRED.replace("img=12", "img=1"))):
        t.show(rec)
    assert (t.seen, t.correct, t.corrupt) == (2, 1, 1)


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
    p = subprocess.Popen([sys.executable, "-m", "digit51.firmware.app.cli", "monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    first = p.stderr.readline()
    go.set()
    out, err = p.communicate(timeout=60)
    srv.close()
    assert first.startswith("monitor: listening on socket://"), first + err
    assert "Traceback" not in err
    return p.returncode, out, err


def sends(payload: bytes):
    return lambda conn: conn.sendall(payload)


def test_monitor_cli_over_a_socket_that_sends_corruption_and_disconnects(tmp_path):
    good2 = line(PRED.replace("img=12", "img=13"))
    flipped = bytearray(line(PRED.replace("img=12", "img=14")))
    flipped[flipped.index(b"99")] ^= 0x01  # 99 -> 89: still well-formed, only the CRC can tell
    payload = line(PRED) + bytes(flipped) + b"\x00\xff\xfe garbage\r\n" + good2 + line(PRED)[:25]
    code, out, err = monitor(sends(payload), "--timeout", "10", cwd=tmp_path)
    assert code == 1, err
    assert [l.split()[0] for l in out.splitlines()] == ["img=12", "img=13"]
    assert "checksum mismatch" in err and "disconnected mid-line" in err
    assert "2 predictions" in err and "3 corrupt lines" in err
    assert err.strip().splitlines()[-1] == "digit51: error: the firmware stopped before its 'done' line"


def test_monitor_fails_when_nothing_arrives_or_done_is_missing(tmp_path):
    code, out, err = monitor(sends(b""), cwd=tmp_path)
    assert code == 1 and out == "" and err.strip().splitlines()[-1] == "digit51: error: nothing arrived from the firmware"
    code, out, err = monitor(sends(line("ready mode=selftest model=x images=1") + line(PRED)), cwd=tmp_path)
    assert code == 1 and err.strip().splitlines()[-1] == "digit51: error: the firmware stopped before its 'done' line"


def pred(img: int, digit: int, top: int) -> bytes:
    logits = [0] * 10
    logits[top] = 50
    return line(f"pred img={img} digit={digit} logits={','.join(map(str, logits))} cycles=1000")


def test_monitor_scores_only_what_it_can_and_checks_the_digit_against_the_logits(tmp_path, data_dir, mnist_data):
    label0 = int(mnist_data.test_labels[0])
    clean = pred(0, label0, label0) + pred(20000, 1, 1) + line("done images=2")  # no test image 20000: not scored
    code, out, err = monitor(sends(clean), "--data", str(data_dir), cwd=tmp_path)
    assert code == 0, err
    assert "accuracy=100.00% (1/1)" in out.splitlines()[0] and "not scored" in out.splitlines()[1]
    assert "accuracy 100.00% over 1 scored" in err
    wrong = (label0 + 1) % 10  # says `wrong` while its logits say label0
    code, out, err = monitor(sends(pred(0, wrong, label0) + pred(0, label0, label0) + line("done images=2")),
                             "--data", str(data_dir), cwd=tmp_path)
    assert code == 1
    assert f"INCONSISTENT: the argmax of its logits is {label0}" in out.splitlines()[0]
    assert "accuracy 100.00% over 1 scored, 1 inconsistent predictions" in err


def test_monitor_timeout_counts_seconds_without_bytes_not_without_lines(tmp_path):
    """A line that trickles in over about 2 s is data all the way: --timeout 0.6 must not fire."""
    body = line(PRED) + line("done images=1")

    def trickle(conn):
        for k in range(0, len(body), 12):
            conn.sendall(body[k : k + 12])
            time.sleep(0.12)  # the pace of a slow line, not a synchronisation

    code, out, err = monitor(trickle, "--timeout", "0.6", cwd=tmp_path)
    assert code == 0, err
    assert out.split()[0] == "img=12"
    code, out, err = monitor(lambda conn: conn.recv(1), "--timeout", "0.3", cwd=tmp_path)  # silent until we hang up
    assert code == 1 and err.strip().splitlines()[-1].startswith("digit51: error: no data from the firmware for 0.3 s")


def test_line_reader_memory_stays_bounded_on_endless_lines_and_nul_streams():
    r = protocol.LineReader()
    recs = r.feed(line("ready mode=serve model=x"))
    for _ in range(300):  # 300 KB without an end of line
        recs += r.feed(b"A" * 1000)
        assert len(r.buf) <= 1024
    recs += r.feed(b"tail of it\r\n" + line(PRED))
    assert [type(x).__name__ for x in recs] == ["Ready", "BadLine", "Prediction"]
    assert "longer than" in recs[1].reason
    r = protocol.LineReader()
    for _ in range(300):  # a line stuck at 0 V: NULs, before and after the first line
        r.feed(bytes(1000))
        assert len(r.buf) <= 1024


@pytest.mark.parametrize("args, says", [
    (["socket://127.0.0.1"], "needs a host and a port number"),
    (["socket://127.0.0.1:1", "--timeout", "nan"], "--timeout nan"),
    (["socket://127.0.0.1:1", "--timeout", "inf"], "--timeout inf"),
    (["socket://127.0.0.1:1", "--timeout", "-2"], "--timeout -2"),
    (["socket://127.0.0.1:1", "--timeout", "0"], "--timeout 0"),
    (["socket://127.0.0.1:1", "--start", "3"], "use them with --send"),
    (["socket://127.0.0.1:1", "--send", "--start", "-5"], "--start -5 --images 10 must select test images within 0..9999"),
    (["socket://127.0.0.1:1", "--send", "--start", "9995"], "--start 9995 --images 10 must select"),
    (["socket://127.0.0.1:1", "--send", "--images", "0"], "--images 0 must select"),
])
def test_monitor_refuses_bad_options_in_one_line(args, says, data_dir, capsys):
    from digit51.firmware.app.cli import main

    assert main(["monitor", *args, "--data", str(data_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("digit51: error: ") and says in err[0], err
