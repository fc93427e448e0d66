"""Plain, versioned, deterministic container for the artifacts passed between stages.

Layout (all integers little-endian):

    8 bytes   magic b"DIGIT51\\0"
    4 bytes   uint32 length N of the header
    N bytes   UTF-8 JSON header: {"kind", "version", "meta", "arrays"}
    ...       raw array bytes, in the order and at the offsets the header lists

The JSON is written with sorted keys and no timestamps, so the same content always
gives the same bytes.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from digit51.trainer.errors import Digit51Error

MAGIC = b"DIGIT51\0"
_DTYPES = {"<f4", "<f8", "|i1", "|u1", "<i2", "<i4", "<i8"}


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and a rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise Digit51Error(f"cannot write {path}: folder {folder} does not exist (create it first)")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    header = {"kind": kind, "version": version, "meta": meta, "arrays": index}
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return MAGIC + struct.pack("<I", len(hbytes)) + hbytes + b"".join(blobs)


def save(path, kind: str, version: int, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write an artifact atomically."""
    atomic_write(path, dumps(kind, version, meta, arrays))


def load(path, kind: str, version: int, hint: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read an artifact of `kind` and `version`; `hint` says how to make a fresh one."""
    try:
        data = Path(path).read_bytes()
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
        index = header["arrays"]
    except (ValueError, KeyError, TypeError):
        raise Digit51Error(f"{path}: corrupt artifact header; {hint}") from None
    if got_kind != kind:
        raise Digit51Error(f"{path}: is a '{got_kind}' artifact, expected '{kind}'; {hint}")
    if got_version != version:
        raise Digit51Error(
            f"{path}: {kind} format version {got_version}, this digit51 reads version {version}; {hint}"
        )
    body = data[12 + hlen :]
    arrays = {}
    for name, d in index.items():
        start, n = d["offset"], d["nbytes"]
        if d["dtype"] not in _DTYPES or start + n > len(body):
            raise Digit51Error(f"{path}: array '{name}' is truncated or corrupt; {hint}")
        arr = np.frombuffer(body, dtype=d["dtype"], count=n // np.dtype(d["dtype"]).itemsize, offset=start)
        if arr.size != int(np.prod(d["shape"])):
            raise Digit51Error(f"{path}: array '{name}' has the wrong size; {hint}")
        arrays[name] = arr.reshape(d["shape"]).copy()
    return header["meta"], arrays
