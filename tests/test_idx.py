import gzip

import numpy as np
import pytest

from digit51.trainer.errors import Digit51Error
from digit51.trainer.idx import parse_idx, read_bytes


def idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def test_parses_dimensions_and_data():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx_bytes(arr), "x", 3)
    assert out.shape == (2, 3, 4) and np.array_equal(out, arr)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:5], "truncated IDX header"),
        (lambda b: b"\x00\x00\x08\x01" + b[4:], "wrong IDX magic"),
        (lambda b: b"\x00\x00\x0d\x03" + b[4:], "wrong IDX magic"),
        (lambda b: b[:-1], "truncated or corrupt"),
        (lambda b: b + b"\x00", "truncated or corrupt"),
    ],
)
def test_rejects_bad_files(mutate, message):
    good = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))
    with pytest.raises(Digit51Error, match=message):
        parse_idx(mutate(good), "x", 3)


def test_reads_gzip_and_raw_and_rejects_broken_gzip(tmp_path):
    raw = idx_bytes(np.ones((3,), dtype=np.uint8))
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "bad.gz").write_bytes(gzip.compress(raw)[:-6])
    assert read_bytes(tmp_path / "a") == raw == read_bytes(tmp_path / "a.gz")
    with pytest.raises(Digit51Error, match="corrupt or truncated gzip"):
        read_bytes(tmp_path / "bad.gz")
