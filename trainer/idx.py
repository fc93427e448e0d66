"""Reader for IDX files (the MNIST format), gzip-compressed or raw.

The header is read first and decompression stops at the size it declares, so a small
gzip that inflates to gigabytes (a "gzip bomb") costs no more memory than the data its
header promises, and dimensions whose product is absurd are refused before any reading.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from digit51.trainer.errors import Digit51Error

UBYTE = 0x08
MAX_BYTES = 1 << 32  # 4 GiB of pixels: far beyond any 28x28 digit set held in RAM
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


def _dims(head: bytes, name: str, ndim: int) -> list[int]:
    if len(head) < 4 + 4 * ndim:
        raise Digit51Error(f"{name}: truncated IDX header ({len(head)} bytes); re-download the file")
    if head[0] != 0 or head[1] != 0 or head[2] != UBYTE or head[3] != ndim:
        raise Digit51Error(
            f"{name}: wrong IDX magic {head[:4].hex()}, expected 000008{ndim:02x}; is this the right MNIST file?"
        )
    return [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]


def _size(dims: list[int], name: str) -> int:
    n = 1
    for d in dims:
        n *= d  # Python integers: no overflow
    if n > MAX_BYTES:
        raise Digit51Error(f"{name}: IDX dimensions {dims} declare {n} bytes (over {MAX_BYTES}); the header is corrupt")
    return n


def read_idx(f, name: str, ndim: int) -> tuple[np.ndarray, bytes]:
    """(array, raw IDX bytes) from a binary file object; reads at most what the header declares + 1."""
    head = f.read(4 + 4 * ndim)
    dims = _dims(head, name, ndim)
    n = _size(dims, name)
    body = f.read(n)
    extra = f.read(1)
    if len(body) != n or extra:
        have = f"{len(body)}" if len(body) != n else f"more than {n}"
        raise Digit51Error(
            f"{name}: IDX dimensions {dims} need {4 + 4 * ndim + n} bytes but the file has "
            f"{4 + 4 * ndim}+{have}; the file is truncated or corrupt, re-download it"
        )
    raw = head + body
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims), raw


def _open(data: io.BufferedIOBase):
    """`data` itself, or a gunzipping reader over it when it starts with the gzip magic."""
    return gzip.GzipFile(fileobj=data, mode="rb") if data.peek(2)[:2] == b"\x1f\x8b" else data


def parse_idx(raw: bytes, name: str, ndim: int) -> np.ndarray:
    """Parse IDX bytes (raw or gzip) holding unsigned bytes with `ndim` dimensions."""
    return load_bytes(raw, name, ndim)[0]


def load_bytes(data: bytes, name: str, ndim: int) -> tuple[np.ndarray, bytes]:
    """(array, uncompressed bytes) of IDX `data` held in memory, gzip or raw."""
    try:
        return read_idx(_open(io.BufferedReader(io.BytesIO(data))), name, ndim)
    except _GZIP_ERRORS:
        raise Digit51Error(f"{name}: corrupt or truncated gzip data; re-download the file") from None


def read_header(path: Path, ndim: int) -> list[int]:
    """The dimensions an IDX file (.gz or raw) declares, reading only its header."""
    try:
        with open(path, "rb") as f:
            return _dims(_open(f).read(4 + 4 * ndim), str(path), ndim)
    except (OSError, EOFError, zlib.error) as e:
        raise Digit51Error(f"{path}: cannot read its IDX header ({getattr(e, 'strerror', None) or 'corrupt gzip data'})") from None


def load_file(path: Path, ndim: int) -> tuple[np.ndarray, bytes]:
    """(array, uncompressed bytes) of a `.gz` or raw IDX file."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise Digit51Error(f"{path}: cannot read ({e.strerror})") from None
    with f:
        try:
            return read_idx(_open(f), str(path), ndim)
        except EOFError:
            raise Digit51Error(f"{path}: corrupt or truncated gzip data; re-download the file") from None
        except (OSError, zlib.error) as e:
            why = "corrupt or truncated gzip data; re-download the file" if not getattr(e, "strerror", None) else f"cannot read ({e.strerror})"
            raise Digit51Error(f"{path}: {why}") from None
