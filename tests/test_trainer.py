import dataclasses

import numpy as np
import pytest

from digit51.trainer import mlp, model_file, artifact
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
    assert quick_model.train_seconds > 0 and again.train_seconds > 0  # the wall time is recorded...
    untimed = [dataclasses.replace(m, train_seconds=0.0) for m in (quick_model, again)]  # ...and is all that may differ
    model_file.save(tmp_path / "a.d51", untimed[0])
    model_file.save(tmp_path / "b.d51", untimed[1])
    assert (tmp_path / "a.d51").read_bytes() == (tmp_path / "b.d51").read_bytes()
    model_file.save(tmp_path / "a.d51", quick_model)
    back = model_file.load(tmp_path / "a.d51")
    assert back.config == QUICK and back.accuracy == quick_model.accuracy
    assert back.train_seconds == quick_model.train_seconds
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
    with pytest.raises(Digit51Error, match="truncated or corrupt"):
        model_file.load(path)
    path.write_bytes(b"hello")
    with pytest.raises(Digit51Error, match="not a digit51 artifact"):
        model_file.load(path)


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="unknown training options: colour"):
        TrainConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="pool must be one of"):
        TrainConfig(pool=3)
