"""Layer graphs in the float trainer: the spec and its shape checks, and every layer
type's backward pass against float64 finite differences on tiny shapes."""

import numpy as np
import pytest

from digit51.trainer import arch, layers
from digit51.trainer.graph import Graph


def numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


LAYERS = [arch.Layer("conv3x3", 3), arch.Layer("dwconv3x3"), arch.Layer("conv1x1", 4), arch.Layer("dense", 5),
          arch.Layer("maxpool2"), arch.Layer("avgpool", 2)]


@pytest.mark.parametrize("layer", LAYERS, ids=str)
@pytest.mark.parametrize("relu", [True, False])
def test_backward_matches_finite_differences(layer, relu):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 2))  # NHWC, odd width: pools drop a column
    impl = layers.make(layer)
    params = [rng.standard_normal(shape) for shape in arch.param_shapes([layer], 6, 5, channels=2)]
    y, _ = impl.forward(params, x, relu)
    r = rng.standard_normal(y.shape)  # loss = sum(r * y): dloss/dy = r

    def loss():
        return float((impl.forward(params, x, relu)[0] * r).sum())

    _, cache = impl.forward(params, x, relu)
    dx, grads = impl.backward(params, cache, r)
    assert np.allclose(dx, numeric_grad(loss, x), atol=1e-6)
    assert len(grads) == len(params)
    for p, g in zip(params, grads):
        assert np.allclose(g, numeric_grad(loss, p), atol=1e-6)


def test_graph_gradients_through_every_layer_type():
    g = Graph("conv3x3:3,dwconv3x3,maxpool2,conv1x1:2,avgpool2,dense:4,dense:3")
    rng = np.random.default_rng(2)
    params = [p + 0.05 * rng.standard_normal(p.shape) for p in g.init_params((12, 13), rng, np.float64)]
    x = rng.random((3, 1, 12, 13))
    labels = np.array([0, 2, 1])

    def loss():
        return g.loss_and_grads(params, x, labels)[0]

    _, grads, logits = g.loss_and_grads(params, x, labels)
    assert logits.shape == (3, 3)
    for p, grad in zip(params, grads):
        assert np.allclose(grad, numeric_grad(loss, p), atol=1e-6)


def test_conv3x3_forward_is_the_textbook_sum():
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((1, 5, 4, 2)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    y, _ = layers.Conv3x3(3).forward([W, b], x, relu=False)
    for o in range(3):
        for r in range(3):
            for c in range(2):
                want = b[o] + sum(W[o, ch, ky, kx] * x[0, r + ky, c + kx, ch] for ch in range(2) for ky in range(3) for kx in range(3))
                assert y[0, r, c, o] == pytest.approx(want)


def test_parameter_shapes_of_each_weighted_layer():
    layers = arch.parse("conv3x3:4,dwconv3x3,maxpool2,conv1x1:6,dense:3")
    assert arch.param_shapes(layers, 16, 16) == [(4, 1, 3, 3), (4,), (4, 3, 3), (4,), (6, 4), (6,), (3, 216), (3,)]


def test_shapes_of_a_cnn():
    got = arch.shapes(arch.parse("avgpool2,conv3x3:8,maxpool2,dense:10"), 28, 28, 10)
    assert got == [(1, 28, 28), (1, 14, 14), (8, 12, 12), (8, 6, 6), (10,)]
    got = arch.shapes(arch.parse("conv3x3:4,dwconv3x3,maxpool2,conv1x1:6,dense:3"), 16, 16, 3)
    assert got == [(1, 16, 16), (4, 14, 14), (4, 12, 12), (4, 6, 6), (6, 6, 6), (3,)]


@pytest.mark.parametrize("spec, hw, classes, words", [
    ("avgpool4,maxpool2,maxpool2,conv3x3:4,dense:10", (28, 28), 10, "layer 4 conv3x3:4 needs a map of at least 3x3, it gets 1x1"),
    ("avgpool8,conv3x3:4,dense:10", (16, 16), 10, "it gets 2x2"),
    ("dense:0", (28, 28), 10, "dense needs 1 to 4096"),
    ("conv3x3:8,dense:9", (28, 28), 10, "gives 9 outputs but the data has 10 classes"),
    ("conv3x3:8,pool,dense:10", (28, 28), 10, "layer 2 'pool' is not a layer"),
    ("conv3x3:8,maxpool2", (28, 28), 10, "not dense:N"),
    ("avgpool3,dense:10", (28, 28), 10, "avgpool needs K in"),
    ("dense:20,conv1x1:4,dense:10", (28, 28), 10, "follows a dense layer"),
    ("", (28, 28), 10, "the architecture is empty"),
])
def test_a_spec_that_cannot_work_is_refused_with_one_line(spec, hw, classes, words):
    with pytest.raises(ValueError) as e:
        arch.shapes(arch.parse(spec), *hw, classes)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_mlp_shorthand_is_recognised():
    assert arch.mlp_form(arch.parse("avgpool2,dense:192,dense:64,dense:10")) == (2, (192, 64))
    assert arch.mlp_form(arch.parse("dense:128,dense:10")) == (1, (128,))
    assert arch.mlp_form(arch.parse("avgpool8,dense:10")) is None
    assert arch.mlp_form(arch.parse("avgpool2,conv3x3:4,dense:10")) is None


def test_maxpool_sends_a_tied_blocks_gradient_to_its_first_maximum_only():
    x = np.zeros((1, 2, 2, 1))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 3.0  # top-right and bottom-left tie
    impl = layers.MaxPool2()
    y, cache = impl.forward([], x)
    dx, _ = impl.backward([], cache, np.ones_like(y))
    assert y[0, 0, 0, 0] == 3.0 and dx[0, :, :, 0].tolist() == [[0.0, 1.0], [0.0, 0.0]]
