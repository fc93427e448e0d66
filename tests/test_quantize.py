"""The integer ops (hand-checked goldens), the simulator against a naive Python-int
reference, and the quantizer on real MNIST."""

import numpy as np
import pytest

from digit51.quantize import model_file as int_model_file
from digit51.quantize import ops
from digit51.quantize.measure import quantize_and_measure
from digit51.quantize.model_file import IntModel
from digit51.quantize.ops import accumulator_bound
from digit51.quantize.quantizer import QuantConfig, quantize
from digit51.quantize.simulate import run
from digit51.trainer.errors import Digit51Error
from helpers import craft

i8, u8, i32 = np.int8, np.uint8, np.int32


def test_dense_golden():
    x = np.array([[255, 0, 1], [2, 3, 4]], u8)
    w = np.array([[-127, 5, 127], [1, -1, 0]], i8)
    b = np.array([1000, -7], i32)
    # 1000 - 127*255 + 127 = -31258 ; -7 + 255 = 248 ; 1000 -254 +15 +508 = 1269 ; -7 + 2 - 3 = -8
    assert ops.dense(x, w, b).tolist() == [[-31258, 248], [1269, -8]]


def test_dense_wraps_like_c_int32():
    x = np.full((1, 1), 255, u8)
    w = np.full((1, 1), 127, i8)
    b = np.array([ops.INT32_MAX - 10], i32)  # + 32385 overflows
    assert ops.dense(x, w, b).tolist() == [[ops.INT32_MIN + 32385 - 11]]


def test_relu_requant_golden():
    acc = np.array([[-5, 0, 1, 7, 8, 255 * 4 + 3, 256 * 4, ops.INT32_MAX, 5]], i32)
    sh = np.array([2, 2, 0, 3, 3, 2, 2, 31, 0], u8)
    # negative -> 0; 0 -> 0; 1>>0 = 1; 7>>3 = 0; 8>>3 = 1; 1023>>2 = 255; 1024>>2 = 256 -> 255;
    # largest shift: (2^31 - 1) >> 31 = 0; 5 >> 0 = 5
    assert ops.relu_requant(acc, sh).tolist() == [[0, 0, 1, 0, 1, 255, 255, 0, 5]]


def test_rounding_tie_goes_up_through_the_bias():
    # real value 2.5 LSB at shift 2 is acc = 10; the quantizer adds 2^(2-1) = 2 to the bias
    assert ops.relu_requant(np.array([[10 + 2, 9 + 2, -6 + 2]], i32), np.array([2, 2, 2], u8)).tolist() == [[3, 2, 0]]


def test_argmax_first_maximum_wins():
    assert ops.argmax(np.array([[3, 9, 9, -1], [-5, -5, -6, -7]], i32)).tolist() == [1, 0]


def naive_forward(model: IntModel, image: np.ndarray) -> list[int]:
    """Deliberately plain reference: Python ints, loops, C semantics spelled out."""
    k = model.pool
    side = 28 // k
    px = [int(v) for v in image.reshape(-1)]
    x = []
    for r in range(side):
        for c in range(side):
            s = sum(px[(r * k + i) * 28 + c * k + j] for i in range(k) for j in range(k))
            x.append((s + k * k // 2) // (k * k))
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        out = []
        for j in range(w.shape[0]):
            acc = int(b[j])
            for i in range(w.shape[1]):
                acc += int(w[j, i]) * x[i]
                assert -(2**31) <= acc < 2**31
            if layer < len(model.weights) - 1:
                out.append(0 if acc <= 0 else min(acc // 2 ** int(model.shifts[layer][j]), 255))
            else:
                out.append(acc)
        x = out
    return x


def random_model(rng, sizes, pool):
    weights = [rng.integers(-127, 128, (o, i)).astype(i8) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-(1 << 20), 1 << 20, o).astype(i32) for o in sizes[1:]]
    shifts = [rng.integers(0, 32, o).astype(u8) for o in sizes[1:-1]]
    return IntModel(weights, biases, shifts, pool)


@pytest.mark.parametrize("pool,hidden", [(4, (12,)), (2, (9, 7)), (1, (5,))])
def test_simulator_matches_naive_reference_on_random_models(pool, hidden):
    rng = np.random.default_rng(pool)
    model = random_model(rng, [(28 // pool) ** 2, *hidden, 10], pool)
    model.shifts = [np.minimum(s, 14).astype(u8) for s in model.shifts]  # keep activations alive
    images = rng.integers(0, 256, (6, 28, 28)).astype(u8)
    images[0] = 255  # saturation edge
    images[1] = 0
    logits, pred = run(model, images)
    for n in range(len(images)):
        ref = naive_forward(model, images[n])
        assert logits[n].tolist() == ref
        assert pred[n] == ref.index(max(ref))


def test_accumulator_bound_is_the_worst_case():
    w = np.array([[-127, 127, 3]], i8)
    b = np.array([-9], i32)
    bound = accumulator_bound(w, b)
    assert bound.tolist() == [9 + 255 * 257]
    worst = ops.dense(np.array([[255, 0, 0]], u8), w, b)  # a reachable -9 - 127*255
    assert abs(int(worst[0, 0])) <= bound[0]


@pytest.fixture(scope="module")
def small_float(mnist_data):
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    return train(mnist_data, TrainConfig(hidden=(24,), pool=2, epochs=2, lr=5e-3, seed=5))


def test_quantizer_keeps_accuracy_on_mnist_and_is_deterministic(small_float, mnist_data, tmp_path):
    q, s = quantize_and_measure(small_float, mnist_data, QuantConfig())
    assert s["float_test_accuracy"] > 0.92  # 0.9329 measured; 1.3 points of margin
    assert abs(s["int_test_accuracy"] - s["float_test_accuracy"]) <= 0.001  # measured 0.0002: 2 of 10,000 images
    int_model_file.save(tmp_path / "a.q51", q)
    q2, _ = quantize_and_measure(small_float, mnist_data, QuantConfig())
    int_model_file.save(tmp_path / "b.q51", q2)
    assert (tmp_path / "a.q51").read_bytes() == (tmp_path / "b.q51").read_bytes()
    back = int_model_file.load(tmp_path / "a.q51")
    assert np.array_equal(run(back, mnist_data.test_images[:500])[0], run(q, mnist_data.test_images[:500])[0])
    for layer in back.meta["layers"]:
        assert layer["acc_bound"] < 2**31


def test_quantizer_refuses_accumulator_overflow(small_float, mnist_data):
    import dataclasses

    huge = [p.copy() for p in small_float.params]
    huge[1][:] = 1e9  # biases this large cannot be represented in int32 accumulators
    with pytest.raises(Digit51Error, match="exceeds int32"):
        quantize(dataclasses.replace(small_float, params=huge), mnist_data.train_images[:200])


def test_qat_finetune_runs_and_stays_exact(small_float, mnist_data):
    q, s = quantize_and_measure(small_float, mnist_data, QuantConfig(), qat_epochs=1)
    assert q.meta["qat_epochs"] == 1
    assert s["int_test_accuracy"] > 0.92  # 0.9339 measured after 1 QAT epoch; 1.4 points of margin


def int_model_arrays(q):
    arrays = {}
    for i, (w, b) in enumerate(zip(q.weights, q.biases)):
        arrays[f"W{i}"], arrays[f"B{i}"] = w, b
    for i, sh in enumerate(q.shifts):
        arrays[f"S{i}"] = sh
    return arrays


@pytest.mark.parametrize("field, value, message", [
    ("pool", 0, "pool 0 is not one of"),
    ("pool", "2", "pool '2' is not one of"),
    ("sizes", [], "not a list of at least two"),
    ("sizes", [196], "not a list of at least two"),
    ("sizes", [49, 0, 10], "hidden layer needs a width of at least 1"),
])
def test_crafted_int_headers_fail_clearly(small_int_model, tmp_path, field, value, message):
    meta = dict(small_int_model.meta, sizes=small_int_model.sizes, pool=small_int_model.pool)
    path = craft(tmp_path / "c.q51", int_model_file.KIND, int_model_file.VERSION, meta, int_model_arrays(small_int_model),
                 edit_meta=lambda m: m.__setitem__(field, value))
    with pytest.raises(Digit51Error, match=message):
        int_model_file.load(path)


def test_flipped_byte_in_an_int_model_is_refused(small_int_model, tmp_path):
    path = tmp_path / "m.q51"
    int_model_file.save(path, small_int_model)
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(Digit51Error, match="checksum mismatch"):
        int_model_file.load(path)


def test_api_quantize_runs_on_one_blas_thread(small_float, mnist_data, monkeypatch):
    """Calibration is float math whose results are saved: pinned to one BLAS thread like
    training (trainer/blas.py), so the bytes do not depend on the thread count."""
    from threadpoolctl import threadpool_info

    import digit51
    from digit51.quantize import measure

    seen, real = [], measure.quantize

    def watching(*args, **kwargs):
        seen.append([pool["num_threads"] for pool in threadpool_info()])
        return real(*args, **kwargs)

    monkeypatch.setattr(measure, "quantize", watching)
    digit51.quantize(small_float, mnist_data)
    assert seen and seen[0] and all(n == 1 for n in seen[0]), seen


def test_sparse_dense_golden():
    x = np.array([0, 3, 0, 255], u8)
    w = np.array([[9, -2, 9, 1], [-9, 127, -9, -127]], i8)
    b = np.array([10, -1], i32)
    nz = ops.gather_nonzero(x)
    assert nz.tolist() == [1, 3]
    # 10 - 6 + 255 = 259 ; -1 + 381 - 32385 = -32005 (the 9s and -9s meet zeros)
    assert ops.dense_sparse(x, nz, w, b).tolist() == [259, -32005]
    assert ops.gather_nonzero(np.zeros(5, u8)).tolist() == []


def test_sparse_path_equals_dense_on_mnist_no_zero_and_all_zero_images(mnist_data):
    """Skipping zeros changes no sum: every intermediate of every layer is equal."""
    from digit51.quantize.simulate import activations, activations_sparse

    rng = np.random.default_rng(3)
    model = random_model(rng, [196, 24, 12, 10], 2)
    model.shifts = [np.full(s.shape, 9, u8) for s in model.shifts]  # hidden layers half zero, half not
    no_zero = rng.integers(1, 256, (28, 28)).astype(u8)
    images = np.concatenate([mnist_data.test_images[:20], no_zero[None], np.zeros((1, 28, 28), u8),
                             np.full((1, 28, 28), 255, u8)])
    dense = activations(model, images)
    assert (dense[0][20] != 0).all() and (dense[0][21] == 0).all()
    assert 0 < (dense[1] == 0).mean() < 1  # the hidden layers really have zeros to skip
    for n, image in enumerate(images):
        sparse = activations_sparse(model, image)
        for layer in range(len(dense)):
            assert np.array_equal(sparse[layer], dense[layer][n]), (n, layer)
