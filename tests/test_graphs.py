"""Layer graphs and sets of any shape through train, eval and quantize: synthetic IDX sets
of other shapes (16x16 with 3 classes, 20x12 with 2), the integer ops against their
textbook sums, the simulator against the float network and the versioned model files (the
firmware side: tests/test_graph_firmware.py)."""

import dataclasses
import json

import numpy as np
import pytest

from digit51.quantize import model_file as int_model_file
from digit51.quantize import ops
from digit51.quantize.quantizer import QuantConfig, quantize
from digit51.quantize.simulate import activations, run
from digit51.trainer import artifact, mnist
from digit51.trainer import model_file as float_model_file
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.train import accuracy, train
from helpers import cli, idx_file, shapes_set


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return shapes_set(tmp_path_factory.mktemp("d") / "shapes16")


def test_a_16x16_set_with_3_classes_trains_evaluates_and_quantizes_from_the_command_line(small, tmp_path):
    spec = "conv3x3:4,dwconv3x3,maxpool2,conv1x1:6,dense:3"
    r = cli("train", "--data", str(small), "--arch", spec, "--epochs", "6", "--lr", "0.01", "--seed", "1", "-o", str(tmp_path / "m.d51"))
    assert r.returncode == 0, r.stderr
    assert f"{spec} model" in r.stderr
    r = cli("eval", str(tmp_path / "m.d51"), "--data", str(small), "--json")
    s = json.loads(r.stdout)
    assert s["test_accuracy"] > 0.8  # three kinds of bar: far above chance (1/3)
    r = cli("quantize", str(tmp_path / "m.d51"), "--data", str(small), "-o", str(tmp_path / "m.q51"), "--calibration", "200", "--json")
    assert r.returncode == 0, r.stderr
    q = json.loads(r.stdout)
    assert q["graph"] == spec and q["int_test_accuracy"] > 0.8
    qmodel = int_model_file.load(tmp_path / "m.q51")
    assert qmodel.input_shape == (16, 16) and [w.shape for w in qmodel.weights] == [(4, 1, 3, 3), (4, 3, 3), (6, 4), (3, 6 * 6 * 6)]
    data = mnist.load(small)
    logits, pred = run(qmodel, data.test_images)
    assert logits.shape == (120, 3) and (pred == data.test_labels).mean() == pytest.approx(q["int_test_accuracy"])


def test_an_mlp_on_20x12_images_with_2_classes(tmp_path):
    folder = shapes_set(tmp_path / "s", h=20, w=12, classes=2, n_train=300, n_test=60)
    data = mnist.load(folder)
    model = train(data, TrainConfig(hidden=(16,), pool=2, epochs=2, lr=0.01, deskew=False))
    assert model.sizes == [60, 16, 2] and model.input_shape == (20, 12)
    float_model_file.save(tmp_path / "m.d51", model)
    again = float_model_file.load(tmp_path / "m.d51")
    assert again.input_shape == (20, 12) and all(np.array_equal(a, b) for a, b in zip(again.params, model.params))
    q = quantize(again, data.train_images[:100])
    int_model_file.save(tmp_path / "m.q51", q)
    back = int_model_file.load(tmp_path / "m.q51")
    assert back.sizes == [60, 16, 2] and np.array_equal(run(back, data.test_images)[0], run(q, data.test_images)[0])


@pytest.mark.parametrize("spec, words", [
    ("avgpool8,conv3x3:4,dense:3", "layer 2 conv3x3:4 needs a map of at least 3x3, it gets 2x2"),
    ("conv3x3:4,dense:10", "the data has 3 classes: end with dense:3"),
    ("avgpool2,dense:16,dense:10", "the data has 3 classes: end with dense:3"),  # an MLP spec too
    ("conv3x3:4,dense:0", "dense needs 1 to 4096 outputs"),
    ("conv5x5:4,dense:3", "'conv5x5:4' is not a layer"),
])
def test_a_bad_spec_is_one_line_before_training(small, tmp_path, spec, words):
    r = cli("train", "--data", str(small), "--arch", spec, "-o", str(tmp_path / "m.d51"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and words in r.stderr and "epoch" not in r.stderr
    assert not (tmp_path / "m.d51").exists()


def test_arch_and_the_mlp_shorthand_are_exclusive(small, tmp_path):
    r = cli("train", "--data", str(small), "--arch", "conv3x3:4,dense:3", "--hidden", "8", "-o", str(tmp_path / "m.d51"))
    assert r.returncode == 1 and "give --arch or --hidden/--pool, not both" in r.stderr


def test_images_over_64_pixels_or_256_classes_are_refused(tmp_path):
    big = shapes_set(tmp_path / "big", h=65, w=16, n_train=40, n_test=10)
    with pytest.raises(Digit51Error, match="the images are 65x16; digit51 takes sides of 2 to 64"):
        mnist.load(big)
    many = shapes_set(tmp_path / "many", n_train=40, n_test=10)
    idx_file(many / "train-labels-idx1-ubyte.gz", np.arange(40, dtype=np.uint8) * 0 + 255)
    with pytest.raises(Digit51Error, match="at most 255 classes"):
        mnist.load(many)


def naive_conv(x, w, b):
    n, c, h, wd = x.shape
    out = np.zeros((n, len(w), h - 2, wd - 2), np.int64)
    for o in range(len(w)):
        for y in range(h - 2):
            for xx in range(wd - 2):
                out[:, o, y, xx] = b[o] + (x[:, :, y : y + 3, xx : xx + 3].astype(np.int64) * w[o].astype(np.int64)).sum(axis=(1, 2, 3))
    return out


def test_integer_map_ops_are_their_textbook_sums():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (2, 3, 6, 5)).astype(np.uint8)
    w = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    b = rng.integers(-5000, 5000, 4).astype(np.int32)
    assert np.array_equal(ops.conv3x3(x, w, b), naive_conv(x, w, b))
    dw = rng.integers(-127, 128, (3, 3, 3)).astype(np.int8)
    got = ops.dwconv3x3(x, dw, b[:3])
    for c in range(3):
        assert np.array_equal(got[:, c : c + 1], naive_conv(x[:, c : c + 1], dw[c][None, None], b[c : c + 1]))
    pw = rng.integers(-127, 128, (2, 3)).astype(np.int8)
    want = np.einsum("nchw,oc->nohw", x.astype(np.int64), pw.astype(np.int64)) + b[:2, None, None]
    assert np.array_equal(ops.conv1x1(x, pw, b[:2]), want)
    m = ops.maxpool2(x)
    assert m.shape == (2, 3, 3, 2) and m[1, 2, 1, 1] == x[1, 2, 2:4, 2:4].max()
    a = ops.avgpool(x, 2)
    assert a[0, 1, 2, 0] == (int(x[0, 1, 4:6, 0:2].astype(int).sum()) + 2) >> 2
    r = ops.relu_requant(ops.conv3x3(x, w, b), np.array([0, 3, 7, 31], np.uint8))
    acc = naive_conv(x, w, b)
    assert np.array_equal(r[:, 1], np.minimum(np.maximum(acc[:, 1], 0) >> 3, 255))


def test_the_worst_case_conv_sum_stays_in_int32():
    """All 255 channels at 255, every weight +-127: the bound of the docstring, exactly."""
    x = np.full((1, 255, 3, 3), 255, np.uint8)
    for sign in (1, -1):
        w = np.full((1, 255, 3, 3), 127 * sign, np.int8)
        assert int(ops.conv3x3(x, w, np.zeros(1, np.int32))[0, 0, 0, 0]) == sign * 74_323_575


@pytest.fixture(scope="module")
def graph_pair(small):
    data = mnist.load(small)
    cfg = TrainConfig(arch="avgpool2,conv3x3:3,maxpool2,dense:8,dense:3", epochs=2, lr=0.01, deskew=True)
    model = train(data, cfg)
    return data, model, quantize(model, data.train_images[:200], QuantConfig(calibration_images=200))


def test_the_simulator_follows_the_float_graph(graph_pair):
    data, model, q = graph_pair
    acts = activations(q, data.test_images[:50])
    assert [a.shape[1:] for a in acts] == [(1, 8, 8), (3, 6, 6), (3, 3, 3), (8,), (3,)]
    float_acc = accuracy(model.params, data.test_images, data.test_labels, model.preprocess, net=model.config.net)
    int_acc = float((run(q, data.test_images)[1] == data.test_labels).mean())
    assert abs(float_acc - int_acc) <= 0.05


def test_same_seed_same_graph_bytes(graph_pair, tmp_path):
    data, model, q = graph_pair
    again = train(data, model.config)
    float_model_file.save(tmp_path / "a.d51", model)
    float_model_file.save(tmp_path / "b.d51", again)
    assert (tmp_path / "a.d51").read_bytes() == (tmp_path / "b.d51").read_bytes()


def test_graph_files_are_version_4_and_an_older_reader_refuses_them(graph_pair, tmp_path):
    data, model, q = graph_pair
    float_model_file.save(tmp_path / "m.d51", model)
    int_model_file.save(tmp_path / "m.q51", q)
    for path, mod in ((tmp_path / "m.d51", float_model_file), (tmp_path / "m.q51", int_model_file)):
        meta, _ = artifact.load(path, mod.KIND, 4, mod.HINT)
        assert meta["graph"] == model.config.arch and meta["input"] == [16, 16]
        with pytest.raises(Digit51Error, match="format version 4, this digit51 reads version 3"):
            artifact.load(path, mod.KIND, 3, mod.HINT, (2,))  # what the reader before graphs does
    back = int_model_file.load(tmp_path / "m.q51")
    assert back.graph == q.graph and np.array_equal(run(back, data.test_images)[0], run(q, data.test_images)[0])
    f = float_model_file.load(tmp_path / "m.d51")
    assert f.config == model.config and all(np.array_equal(a, b) for a, b in zip(f.params, model.params))


def test_an_mlp_on_28x28_is_still_written_as_version_3(tmp_path):
    rng = np.random.default_rng(0)
    from digit51.trainer import mlp

    model = float_model_file.FloatModel(mlp.init_params([196, 8, 10], rng), TrainConfig(hidden=(8,), epochs=1), {}, 1)
    float_model_file.save(tmp_path / "m.d51", model)
    meta, _ = artifact.load(tmp_path / "m.d51", float_model_file.KIND, 3, float_model_file.HINT)
    assert "graph" not in meta and "arch" not in meta["config"]


def test_a_graph_with_a_broken_weight_shape_is_refused(graph_pair, tmp_path):
    data, model, q = graph_pair
    bad = dataclasses.replace(q, weights=[q.weights[0], q.weights[1][:, :-1], *q.weights[2:]])
    int_model_file.save(tmp_path / "bad.q51", bad)
    with pytest.raises(Digit51Error, match="layer 1 has the wrong types, shapes or ranges"):
        int_model_file.load(tmp_path / "bad.q51")


def test_a_conv_whose_sum_could_leave_int32_is_refused():
    rng = np.random.default_rng(0)
    cfg = TrainConfig(arch="conv3x3:2,dense:3", epochs=1)
    params = cfg.net.init_params((8, 8), rng)
    params[1][:] = 1e9  # a bias of ~2^38 accumulator units at s_in * s_w
    model = float_model_file.FloatModel(params, cfg, {}, 1, (8, 8))
    with pytest.raises(Digit51Error, match=r"layer 0 \(conv3x3:2\) output [01]: worst-case accumulator \d+ exceeds int32"):
        quantize(model, rng.integers(0, 256, (20, 8, 8)).astype(np.uint8))


def test_a_dense_reads_a_map_channel_by_channel():
    from digit51.quantize.simulate import graph_flatten

    m = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(1, 2, 3, 4) * 7
    flat = graph_flatten(m)
    for c, y, x in np.ndindex(2, 3, 4):
        assert flat[0, (c * 3 + y) * 4 + x] == m[0, c, y, x]


def test_a_graph_distils_from_a_graph_teacher(graph_pair, tmp_path):
    """--teacher takes a layer graph: the student's loss gets its soft targets (another model
    than without them), the same bytes twice; a teacher of other images or classes is refused."""
    data, teacher, _ = graph_pair
    float_model_file.save(tmp_path / "t.d51", teacher)
    cfg = TrainConfig(arch="avgpool2,conv3x3:2,maxpool2,dense:3", epochs=2, lr=0.01, deskew=True)
    plain = train(data, cfg)
    taught = dataclasses.replace(cfg, teacher=str(tmp_path / "t.d51"), distill=0.9)
    a, b = train(data, taught), train(data, taught)
    assert all(np.array_equal(x, y) for x, y in zip(a.params, b.params))
    assert not all(np.array_equal(x, y) for x, y in zip(a.params, plain.params))
    other = mnist.load(shapes_set(tmp_path / "s", h=20, w=12, classes=3, n_train=60, n_test=20))
    with pytest.raises(Digit51Error, match=r"takes 16x16 images, these are 20x12"):
        train(other, taught)
    two = mnist.load(shapes_set(tmp_path / "s2", classes=2, n_train=60, n_test=20))
    with pytest.raises(Digit51Error, match="has 3 outputs, the data 2 classes"):
        train(two, dataclasses.replace(taught, arch="avgpool2,conv3x3:2,maxpool2,dense:2"))


def test_several_teachers_teach_their_mean_logits(graph_pair, tmp_path):
    """--teacher A,B distils from the mean of A's and B's logits: a teacher given twice teaches
    what it teaches alone (the mean of equal logits is exact), two teachers another model than
    either; a teacher that cannot teach is named in the one-line refusal."""
    data, teacher, _ = graph_pair
    float_model_file.save(tmp_path / "a.d51", teacher)
    other = train(data, TrainConfig(arch="avgpool2,conv3x3:2,maxpool2,dense:3", epochs=1, lr=0.01, deskew=True, seed=9))
    float_model_file.save(tmp_path / "b.d51", other)
    a, b = str(tmp_path / "a.d51"), str(tmp_path / "b.d51")
    cfg = TrainConfig(arch="avgpool2,conv3x3:2,maxpool2,dense:3", epochs=2, lr=0.01, deskew=True, distill=0.9)

    def weights(teachers):
        return train(data, dataclasses.replace(cfg, teacher=teachers)).params

    alone, twice, both = weights(a), weights(f"{a},{a}"), weights(f"{a},{b}")
    assert all(np.array_equal(x, y) for x, y in zip(alone, twice))
    assert not all(np.array_equal(x, y) for x, y in zip(both, alone)) and not all(np.array_equal(x, y) for x, y in zip(both, weights(b)))
    float_model_file.save(tmp_path / "flat.d51", dataclasses.replace(other, config=dataclasses.replace(other.config, deskew=False)))
    with pytest.raises(Digit51Error, match=f"the teacher {tmp_path / 'flat.d51'} was trained without deskew"):
        weights(f"{a},{tmp_path / 'flat.d51'}")
    with pytest.raises(ValueError, match="an empty name in the list"):
        weights(f"{a},")


def test_keep_last_keeps_the_last_epochs_weights(small):
    data = mnist.load(small)
    cfg = TrainConfig(arch="avgpool2,conv3x3:2,maxpool2,dense:3", epochs=3, lr=0.05, keep="last")

    def spoil(epoch, params, seconds):  # the last epoch's weights become all zeros: never the best on validation
        if epoch == 3:
            for p in params:
                p[...] = 0

    model = train(data, cfg, on_epoch=spoil)
    assert model.best_epoch == 3 and not any(p.any() for p in model.params)
    best = train(data, dataclasses.replace(cfg, keep="best"), on_epoch=spoil)
    assert best.best_epoch < 3 and best.params[0].any()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert "keep" not in TrainConfig().to_dict()  # files that keep the best read as before --keep
    with pytest.raises(ValueError, match="keep must be one of"):
        TrainConfig(keep="first")
