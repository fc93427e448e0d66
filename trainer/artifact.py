"""Plain, versioned, deterministic container for the artifacts passed between stages.

Layout (all integers little-endian):

    8 bytes   magic b"DIGIT51\\0"
    4 bytes   uint32 length N of the header
    N bytes   UTF-8 JSON header: {"kind", "version", "meta", "arrays", "sha256"}
    ...       raw array bytes, in the order and at the offsets the header lists

"sha256" is the hex SHA-256 of the header JSON without that key (sorted keys, no spaces,
as written) followed by all the array bytes: one flipped bit anywhere is refused on load.
Version 1 files had no checksum and are refused with a hint to re-run the stage.
The JSON is written with sorted keys and no timestamps, so the same content always
gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np

from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import atomic_write

MAGIC = b"DIGIT51\0"
_DTYPES = {"<f4", "<f8", "|i1", "|u1", "<i2", "<i4", "<i8"}
FIRST_CHECKED_VERSION = 2  # kinds' versions below this carry no checksum


def _canonical(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _digest(header: dict, body: bytes) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in header.items() if k != "sha256"}) + body).hexdigest()


def pack(header: dict, body: bytes) -> bytes:
    """Container bytes for a header (without "sha256") and its array bytes; adds the checksum."""
    header = dict(header, sha256=_digest(header, body))
    hbytes = _canonical(header)
    return MAGIC + struct.pack("<I", len(hbytes)) + hbytes + body


def dumps(kind: str, version: int, meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise an artifact to bytes."""
    index, blobs, offset = {}, [], 0
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        arr = arr.astype(dt, copy=False)
        if dt.str not in _DTYPES:
            raise ValueError(f"array {name}: unsupported dtype {dt}")
        raw = arr.tobytes()
        index[name] = {"dtype": dt.str, "shape": list(arr.shape), "offset": offset, "nbytes": len(raw)}
        blobs.append(raw)
        offset += len(raw)
    return pack({"kind": kind, "version": version, "meta": meta, "arrays": index}, b"".join(blobs))


def save(path, kind: str, version: int, meta: dict, arrays: dict[str, np.ndarray], inputs=()) -> None:
    """Write an artifact atomically (refusing special files and the command's `inputs`)."""
    atomic_write(path, dumps(kind, version, meta, arrays), inputs)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _array(body: bytes, name, d) -> np.ndarray:
    """One array from its index entry, or ValueError saying what is wrong."""
    if not isinstance(d, dict) or d.get("dtype") not in _DTYPES:
        raise ValueError(f"array '{name}' has no valid dtype")
    shape, start, n = d.get("shape"), d.get("offset"), d.get("nbytes")
    if not (isinstance(shape, list) and all(_is_int(s) and s >= 0 for s in shape)):
        raise ValueError(f"array '{name}' has a bad shape {shape!r}")
    if not (_is_int(start) and _is_int(n) and start >= 0 and n >= 0):
        raise ValueError(f"array '{name}' has a bad offset or size")
    itemsize = np.dtype(d["dtype"]).itemsize
    count = 1
    for s in shape:
        count *= s
    if count * itemsize != n or start + n > len(body):
        raise ValueError(f"array '{name}' is truncated or corrupt")
    return np.frombuffer(body, dtype=d["dtype"], count=count, offset=start).reshape(shape).copy()


def load(path, kind: str, version: int, hint: str, older: tuple[int, ...] = ()) -> tuple[dict, dict[str, np.ndarray]]:
    """Read an artifact of `kind` and `version` (or one of the `older` versions its reader
    still understands); `hint` says how to make a fresh one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise Digit51Error(f"{path}: no such file ({hint})") from None
    except OSError as e:
        raise Digit51Error(f"{path}: cannot read ({e.strerror})") from None
    if data[:8] != MAGIC or len(data) < 12:
        raise Digit51Error(f"{path}: not a digit51 artifact (bad magic); {hint}")
    (hlen,) = struct.unpack("<I", data[8:12])
    try:
        header = json.loads(data[12 : 12 + hlen].decode())
        got_kind, got_version = header["kind"], header["version"]
    except (ValueError, KeyError, TypeError, IndexError):
        raise Digit51Error(f"{path}: corrupt artifact header; {hint}") from None
    if got_kind != kind:
        raise Digit51Error(f"{path}: is a '{got_kind}' artifact, expected '{kind}'; {hint}")
    if got_version != version and got_version not in older:
        old = " (an older digit51 wrote it, without a checksum)" if _is_int(got_version) and got_version < version else ""
        raise Digit51Error(f"{path}: {kind} format version {got_version}{old}, this digit51 reads version {version}; {hint}")
    body = data[12 + hlen :]
    try:
        ok = isinstance(header, dict) and header.get("sha256") == _digest(header, body)
    except (ValueError, TypeError):  # NaN or other values the writer never produces
        ok = False
    if not ok:
        raise Digit51Error(f"{path}: checksum mismatch, the file is corrupt (changed after it was written); {hint}")
    try:
        index, meta = header["arrays"], header["meta"]
        if not isinstance(index, dict) or not isinstance(meta, dict):
            raise ValueError("'arrays' and 'meta' must be objects")
        arrays = {name: _array(body, name, d) for name, d in index.items()}
    except (KeyError, ValueError) as e:
        raise Digit51Error(f"{path}: corrupt artifact ({e}); {hint}") from None
    return meta, arrays
