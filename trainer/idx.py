"""Reader for the IDX files MNIST ships in (gzip-compressed or raw)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from digit51.trainer.errors import Digit51Error

UBYTE = 0x08


def parse_idx(raw: bytes, name: str, ndim: int) -> np.ndarray:
    """Parse IDX bytes holding unsigned bytes with `ndim` dimensions; validate everything."""
    if len(raw) < 4 + 4 * ndim:
        raise Digit51Error(f"{name}: truncated IDX header ({len(raw)} bytes); re-download the file")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or raw[3] != ndim:
        raise Digit51Error(
            f"{name}: wrong IDX magic {raw[:4].hex()}, expected 000008{ndim:02x}; "
            "is this the right MNIST file?"
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise Digit51Error(
            f"{name}: IDX dimensions {dims} need {expected} bytes but the file has {len(raw)}; "
            "the file is truncated or corrupt, re-download it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def decompress(data: bytes, name: str) -> bytes:
    """`data` itself, or its gunzipped bytes when it starts with the gzip magic."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        raise Digit51Error(f"{name}: corrupt or truncated gzip data; re-download the file") from None


def read_bytes(path: Path) -> bytes:
    """The uncompressed bytes of a `.gz` or raw file."""
    try:
        return decompress(path.read_bytes(), str(path))
    except OSError as e:
        raise Digit51Error(f"{path}: cannot read ({e.strerror})") from None
