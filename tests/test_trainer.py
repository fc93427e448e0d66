import os

import numpy as np
import pytest

from digit51.trainer import mlp, model_file, artifact
from helpers import cli, craft
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import pool
from digit51.trainer.train import shift_images, train


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    params = mlp.init_params([7, 5, 4, 3], rng, dtype=np.float64)
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in params]  # nonzero biases too
    x = rng.standard_normal((6, 7))
    y = rng.integers(0, 3, 6)
    _, grads, _ = mlp.loss_and_grads(params, x, y)
    eps = 1e-6
    for p, g in zip(params, grads):
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = mlp.loss_and_grads(params, x, y)[0]
            p[i] = old - eps
            down = mlp.loss_and_grads(params, x, y)[0]
            p[i] = old
            assert g[i] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)


def test_pool_is_rounded_half_up_block_mean():
    img = np.zeros((1, 28, 28), dtype=np.uint8)
    img[0, 0:2, 0:2] = [[1, 2], [0, 0]]  # sum 3 -> (3 + 2) >> 2 = 1
    img[0, 0:2, 2:4] = [[1, 0], [0, 0]]  # sum 1 -> 0
    img[0, 0:2, 4:6] = [[1, 1], [0, 0]]  # sum 2 -> 1 (tie rounds up)
    img[0, 0:2, 6:8] = 255  # 255
    out = pool(img, 2).reshape(14, 14)
    assert out[0, :4].tolist() == [1, 0, 1, 255]
    assert pool(np.full((1, 28, 28), 255, np.uint8), 4).max() == 255
    assert pool(img, 1).shape == (1, 784)


def test_shift_moves_content_and_fills_zero():
    img = np.zeros((1, 28, 28), np.uint8)
    img[0, 10, 10] = 9
    rng = np.random.default_rng(0)
    for _ in range(10):
        out = shift_images(img, 2, rng)
        (r,), (c,) = np.nonzero(out[0])
        assert abs(r - 10) <= 2 and abs(c - 10) <= 2 and out.sum() == 9


QUICK = TrainConfig(hidden=(32,), pool=2, epochs=2, augment=1, lr=5e-3, seed=3)


@pytest.fixture(scope="module")
def quick_model(mnist_data):
    return train(mnist_data, QUICK)


def test_quick_model_learns(quick_model):
    assert quick_model.accuracy["test"] >= 0.92
    assert quick_model.sizes == [196, 32, 10]


def test_same_seed_same_bytes_and_roundtrip(mnist_data, quick_model, tmp_path):
    again = train(mnist_data, QUICK)
    model_file.save(tmp_path / "a.d51", quick_model)
    model_file.save(tmp_path / "b.d51", again)
    assert (tmp_path / "a.d51").read_bytes() == (tmp_path / "b.d51").read_bytes()
    model_file.save(tmp_path / "a.d51", quick_model)
    back = model_file.load(tmp_path / "a.d51")
    assert back.config == QUICK and back.accuracy == quick_model.accuracy
    assert all(np.array_equal(p, q) for p, q in zip(back.params, quick_model.params))


def test_bad_model_files_fail_clearly(quick_model, tmp_path):
    path = tmp_path / "m.d51"
    meta = quick_model.meta()
    arrays = {"W0": quick_model.params[0], "b0": quick_model.params[1], "W1": quick_model.params[2], "b1": quick_model.params[3]}
    artifact.save(path, model_file.KIND, 99, meta, arrays)
    with pytest.raises(Digit51Error, match="format version 99"):
        model_file.load(path)
    bad = dict(arrays, W1=arrays["W1"].copy())
    bad["W1"][0, 0] = np.nan
    artifact.save(path, model_file.KIND, model_file.VERSION, meta, bad)
    with pytest.raises(Digit51Error, match="W1 holds NaN or Inf"):
        model_file.load(path)
    artifact.save(path, model_file.KIND, model_file.VERSION, meta, arrays)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(Digit51Error, match="checksum mismatch"):
        model_file.load(path)
    path.write_bytes(b"hello")
    with pytest.raises(Digit51Error, match="not a digit51 artifact"):
        model_file.load(path)


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="unknown training options: colour"):
        TrainConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="pool must be one of"):
        TrainConfig(pool=3)
    for bad in ({"lr": float("inf")}, {"weight_decay": float("nan")}, {"warmup_epochs": float("inf")}):
        with pytest.raises(ValueError, match="must be finite numbers"):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="warmup epochs >= 0"):
        TrainConfig(warmup_epochs=-3)


def flip(path, offset_from_end: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 1 << bit
    path.write_bytes(bytes(data))


def test_one_flipped_bit_anywhere_is_refused(quick_model, tmp_path):
    """A flipped exponent bit in the last weight (b1's last float) and one in the header."""
    path = tmp_path / "m.d51"
    model_file.save(path, quick_model)
    flip(path, 1, 6)  # top byte of a little-endian float32: exponent bits
    with pytest.raises(Digit51Error, match="checksum mismatch"):
        model_file.load(path)
    model_file.save(path, quick_model)
    data = path.read_bytes()
    i = data.index(b'"best_epoch":') + len(b'"best_epoch":')
    path.write_bytes(data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :])  # 2 -> 3, still valid JSON
    with pytest.raises(Digit51Error, match="checksum mismatch"):
        model_file.load(path)


def test_version_1_files_are_refused_with_a_hint(quick_model, tmp_path):
    """Version 1 (no checksum) as the old writer made it: magic, length, header, arrays."""
    import json
    import struct

    good = artifact.dumps(model_file.KIND, model_file.VERSION, quick_model.meta(), {"W0": quick_model.params[0]})
    (hlen,) = struct.unpack("<I", good[8:12])
    header = json.loads(good[12 : 12 + hlen])
    del header["sha256"]
    header["version"] = 1
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    path = tmp_path / "old.d51"
    path.write_bytes(artifact.MAGIC + struct.pack("<I", len(h)) + h + good[12 + hlen :])
    with pytest.raises(Digit51Error, match=r"format version 1 \(an older digit51 wrote it.*reads version 4; train a new one"):
        model_file.load(path)


def _set(d, key, value):
    d[key] = value


CRAFTED = {
    "offset missing": (lambda h: h["arrays"]["W0"].pop("offset"), None, "bad offset"),
    "offset a string": (lambda h: _set(h["arrays"]["W0"], "offset", "0"), None, "bad offset"),
    "offset negative": (lambda h: _set(h["arrays"]["W1"], "offset", -8), None, "bad offset"),
    "arrays a list": (lambda h: _set(h, "arrays", [1, 2]), None, "must be objects"),
    "shape not a list": (lambda h: _set(h["arrays"]["W0"], "shape", 5), None, "bad shape"),
    "sizes empty": (None, lambda m: _set(m, "sizes", []), "not a list of at least two"),
    "sizes one layer": (None, lambda m: _set(m, "sizes", [196]), "not a list of at least two"),
    "pool 0": (None, lambda m: _set(m["config"], "pool", 0), "pool must be one of"),
    "pool a string": (None, lambda m: _set(m["config"], "pool", "2"), "pool must be one of"),
    "hidden size 0": (None, lambda m: (_set(m["config"], "hidden", [0]), _set(m, "sizes", [196, 0, 10])), "hidden sizes must be"),
    "seed negative": (None, lambda m: _set(m["config"], "seed", -1), "seed must be 0 or more"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_float_headers_fail_clearly(quick_model, tmp_path, case):
    edit_header, edit_meta, message = CRAFTED[case]
    with pytest.raises(Digit51Error, match=message):
        arrays = {"W0": quick_model.params[0], "b0": quick_model.params[1], "W1": quick_model.params[2], "b1": quick_model.params[3]}
        path = craft(tmp_path / "c.d51", model_file.KIND, model_file.VERSION, quick_model.meta(), arrays, edit_header, edit_meta)
        model_file.load(path)


def test_same_bytes_whatever_the_blas_thread_count(tmp_path, data_dir):
    """784-16-10 for one epoch gave other weights with OPENBLAS_NUM_THREADS=1 and =3 before the pin."""
    paths = []
    for threads in ("1", "3"):
        path = tmp_path / f"t{threads}.d51"
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        out = cli("train", "--data", data_dir, "-o", path, "--pool", "1", "--hidden", "16", "--epochs", "1", "--augment", "0",
                  "--batch-size", "512", env=env)
        assert out.returncode == 0, out.stderr
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
