"""The protocol as documented (docs/protocol.md and firmware/protocol.py) is the protocol as built:
every example line and frame is checked with a CRC-16/CCITT-FALSE written here from its
published parameters, not with the function under test."""

import re
from pathlib import Path

import numpy as np

from digit51.firmware import protocol

ROOT = Path(__file__).resolve().parent.parent


def _table() -> list[int]:
    """CRC-16/CCITT-FALSE byte table: poly 0x1021, MSB first (published parameters)."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


TABLE = _table()


def crc_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ TABLE[(crc >> 8) ^ b]
    return crc


def test_the_independent_crc_meets_the_published_check_value():
    assert crc_ccitt_false(b"123456789") == 0x29B1


EXAMPLE = re.compile(r"^    ((?:ready|pred|error|done) [^\n]*) \*([0-9A-F]{4})$", re.M)


def examples(text: str):
    return EXAMPLE.findall(text)


def test_every_example_line_carries_its_true_crc_and_parses():
    docs = {"docs/protocol.md": (ROOT / "docs" / "protocol.md").read_text(), "protocol.py": protocol.__doc__}
    assert len(examples(docs["docs/protocol.md"])) >= 3 and len(examples(docs["protocol.py"])) >= 4
    for name, text in docs.items():
        for body, crc in examples(text):
            assert crc_ccitt_false(body.encode()) == int(crc, 16), (name, body, crc)
            rec = protocol.parse_line(f"{body} *{crc}")
            assert not isinstance(rec, protocol.BadLine), (name, body, rec)
            if isinstance(rec, protocol.Prediction):
                assert rec.digit == int(np.argmax(rec.logits)), (name, body)


def test_the_documented_serve_session_reads_as_documented():
    recs = [protocol.parse_line(f"{b} *{c}") for b, c in examples(protocol.__doc__)]
    assert [type(r) for r in recs] == [protocol.Ready, protocol.FrameError, protocol.Prediction, protocol.Done]
    assert recs[0].images is None and recs[1].reason == "crc" and recs[3].correct is None  # serve: no correct=


def test_frames_are_built_as_documented():
    quit_hex = "A5 51 00 00 A5 62"
    assert quit_hex in protocol.__doc__ and quit_hex in (ROOT / "docs" / "protocol.md").read_text()
    body = b"Q\x00\x00"
    assert bytes.fromhex(quit_hex) == b"\xa5" + body + crc_ccitt_false(body).to_bytes(2, "big") == protocol.quit_frame()
    # the image frame CRC covers the kind, both index bytes and the pixels, high byte first
    pixels = bytes([0x41, 0xFF, 0x8F, 0x00, 0xA5, 0x49] * 130 + [0x41, 0x80, 0x01, 0x7F])
    body = b"I" + (0x1234).to_bytes(2, "little") + pixels
    assert protocol.image_frame(0x1234, pixels) == b"\xa5" + body + crc_ccitt_false(body).to_bytes(2, "big")


def test_line_crcs_cover_every_byte_value():
    """The line CRC for each byte value, as the firmware would print it, against the table."""
    for b in range(256):
        assert protocol.crc16(bytes([b])) == crc_ccitt_false(bytes([b])), hex(b)
