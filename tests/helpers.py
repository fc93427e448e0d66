"""Small helpers shared by test modules (imported as `helpers`: pytest puts tests/ on sys.path)."""

from digit51.firmware import protocol


def line(body: str) -> bytes:
    """A record line as the firmware sends it: body, space, '*', CRC-16 in hex, CR LF."""
    return f"{body} *{protocol.crc16(body.encode()):04X}\r\n".encode()
