"""The serial protocol: checksummed lines, frames, and corrupted data that must be
detected and reported, never miscounted."""


import numpy as np
import pytest
import serial

from digit51.firmware import protocol
from digit51.firmware.host.session import Session
from helpers import PRED, line


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
    assert len(protocol.image_frame(0, img[:-1])) == len(f) - 1  # another model's image size
    for wrong in (b"", bytes(protocol.MAX_IMAGE_BYTES + 1)):
        with pytest.raises(ValueError):
            protocol.image_frame(0, wrong)


def test_session_over_pyserial_loop_url():
    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(line("ready mode=serve model=x") + b"junk\r\n" + line(PRED))
    s = Session(port)
    recs = [s.next_record(2) for _ in range(3)]
    assert isinstance(recs[0], protocol.Ready) and isinstance(recs[1], protocol.BadLine)
    assert isinstance(recs[2], protocol.Prediction)


def test_line_reader_memory_stays_bounded_on_endless_lines_and_nul_streams():
    r = protocol.LineReader()
    recs = r.feed(line("ready mode=serve model=x"))
    for _ in range(300):  # 300 KB without an end of line
        recs += r.feed(b"A" * 1000)
        assert len(r.buf) <= 2 * protocol.MAX_LINE
    recs += r.feed(b"tail of it\r\n" + line(PRED))
    assert [type(x).__name__ for x in recs] == ["Ready", "BadLine", "Prediction"]
    assert "longer than" in recs[1].reason
    r = protocol.LineReader()
    for _ in range(300):  # a line stuck at 0 V: NULs, before and after the first line
        r.feed(bytes(1000))
        assert len(r.buf) <= 1024


def test_a_repeated_key_makes_a_corrupt_line():
    for body in ("pred img=12 img=13 digit=5 logits=-5,0,7,99,-2147483648,2147483647,1,2,3,4 cycles=712345",
                 "done images=1 images=2", "done images=1 correct=1 correct=0", "ready mode=serve model=x model=y",
                 "error img=1 reason=crc img=2"):
        (rec,) = protocol.LineReader().feed(line(body))
        assert rec == protocol.BadLine(f"{body} *{protocol.crc16(body.encode()):04X}", f"repeated key in a '{body.split()[0]}' record")
    (rec,) = protocol.LineReader().feed(line("done images=1 correct=1"))
    assert rec == protocol.Done(1, 1)
