"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) of
firmware/protocol.py, against published check values and an independent implementation
(polynomial division over GF(2) with Python integers), on every byte value."""

import numpy as np
import pytest

from digit51.firmware import protocol

POLY = 0x11021  # x^16 + x^12 + x^5 + 1, the published CCITT generator


def gf2_mod(value: int, poly: int = POLY) -> int:
    """value mod poly over GF(2): the textbook long division, one bit at a time."""
    top = poly.bit_length() - 1
    while value.bit_length() > top:
        value ^= poly << (value.bit_length() - 1 - top)
    return value


def crc_by_division(data: bytes, init: int = 0xFFFF) -> int:
    """A non-reflected CRC with an initial register is (M(x) x^16 + init(x) x^(8n)) mod G(x)."""
    n = len(data)
    message = int.from_bytes(data, "big") if data else 0
    return gf2_mod((message << 16) ^ (init << (8 * n)))


@pytest.mark.parametrize("data,check", [
    (b"123456789", 0x29B1),  # the catalogue check value of CRC-16/CCITT-FALSE (reveng.sourceforge.io)
    (b"", 0xFFFF),  # nothing processed: the initial register
])
def test_published_check_values(data, check):
    assert protocol.crc16(data) == check
    assert crc_by_division(data) == check  # the reference agrees with the catalogue too


def test_every_single_byte_value_against_the_independent_implementation():
    for b in range(256):
        assert protocol.crc16(bytes([b])) == crc_by_division(bytes([b])), hex(b)


def test_random_messages_and_chaining():
    rng = np.random.default_rng(3)
    for n in (2, 3, 17, 790):
        data = bytes(rng.integers(0, 256, n).astype(np.uint8))
        assert protocol.crc16(data) == crc_by_division(data)
        # the firmware folds bytes one at a time into a running CRC
        assert protocol.crc16(data[n // 2 :], protocol.crc16(data[: n // 2])) == protocol.crc16(data)


def test_the_protocol_constants_are_ccitt_false():
    assert (protocol.CRC_POLY, protocol.CRC_INIT) == (POLY & 0xFFFF, 0xFFFF)
