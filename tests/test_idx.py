import gzip

import numpy as np
import pytest

from digit51.trainer.errors import Digit51Error
from digit51.trainer.idx import load_file, parse_idx


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
    assert load_file(tmp_path / "a", 1)[1] == raw == load_file(tmp_path / "a.gz", 1)[1]
    with pytest.raises(Digit51Error, match="corrupt or truncated gzip"):
        load_file(tmp_path / "bad.gz", 1)


def test_dimensions_whose_product_overflows_are_refused():
    head = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (1 << 31, 1 << 31, 4))  # 2**64: 0 in int64
    with pytest.raises(Digit51Error, match="IDX dimensions .* declare .* bytes"):
        parse_idx(head, "x", 3)


def test_gzip_bomb_stops_at_the_size_the_header_declares(tmp_path):
    """10 images declared, 100 MB of zeros behind them: refused without inflating them."""
    import tracemalloc
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    parts = [z.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)))]
    chunk = bytes(1 << 20)
    parts += [z.compress(chunk) for _ in range(100)] + [z.flush()]
    (tmp_path / "bomb.gz").write_bytes(b"".join(parts))
    assert (tmp_path / "bomb.gz").stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(Digit51Error, match="truncated or corrupt"):
            load_file(tmp_path / "bomb.gz", 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20, f"{peak} bytes allocated while reading"
