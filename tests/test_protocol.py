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
from digit51.firmware.monitor import Tally
from digit51.firmware.session import Session


def line(body: str) -> bytes:
    return f"{body} *{protocol.crc16(body.encode()):04X}\r\n".encode()


PRED = "pred img=12 digit=3 logits=-5,0,7,99,-2147483648,2147483647,1,2,3,4 cycles=712345"


def test_crc16_ccitt_false_check_value():
    assert protocol.crc16(b"123456789") == 0x29B1


def test_parses_each_record_kind():
    r = protocol.LineReader()
    recs = r.feed(line("ready mode=serve model=196-128-10") + line(PRED) + line("error img=4 reason=crc") + line("done images=2 correct=1"))
    assert recs == [
        protocol.Ready("serve", "196-128-10"),
        protocol.Prediction(12, 3, (-5, 0, 7, 99, -(2**31), 2**31 - 1, 1, 2, 3, 4), 712345),
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
    labels[12] = 3
    t = Tally(labels, out=io.StringIO(), err=io.StringIO())
    r = protocol.LineReader()
    bad = bytearray(line(PRED))
    bad[20] ^= 4
    for rec in r.feed(line(PRED) + bytes(bad) + line(PRED.replace("img=12 digit=3", "img=1 digit=5"))):
        t.show(rec)
    assert (t.seen, t.correct, t.corrupt) == (2, 1, 1)


def test_monitor_cli_over_a_socket_that_sends_corruption_and_disconnects(tmp_path):
    """A real TCP peer on 127.0.0.1 plays a misbehaving board; `digit51 monitor` reads it."""
    good2 = line(PRED.replace("img=12", "img=13"))
    flipped = bytearray(line(PRED.replace("img=12", "img=14")))
    flipped[flipped.index(b"99")] ^= 0x01  # 99 -> 89: still well-formed, only the CRC can tell
    payload = line(PRED) + bytes(flipped) + b"\x00\xff\xfe garbage\r\n" + good2 + line(PRED)[:25]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def board():
        conn, _ = srv.accept()
        time.sleep(0.5)  # pyserial's socket:// open() discards input that arrives before it returns
        conn.sendall(payload)
        conn.close()

    threading.Thread(target=board, daemon=True).start()
    out = subprocess.run(
        [sys.executable, "-m", "digit51.firmware.monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}", "--timeout", "10"],
        capture_output=True, text=True, timeout=60,
    )
    srv.close()
    assert out.returncode == 1, out.stderr
    assert [l.split()[0] for l in out.stdout.splitlines()] == ["img=12", "img=13"]
    assert "checksum mismatch" in out.stderr and "disconnected mid-line" in out.stderr
    assert "2 predictions" in out.stderr and "3 corrupt lines" in out.stderr
    assert "Traceback" not in out.stderr
