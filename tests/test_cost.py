"""quantize/cost.py: MACs and non-zero-input MACs of a graph, against a plain loop over
every product of every layer."""

import numpy as np

from digit51.quantize.cost import graph_cost, main
from digit51.quantize.model_file import IntModel
from digit51.quantize.simulate import activations
from digit51.trainer import arch

SPEC = "conv3x3:3,maxpool2,dwconv3x3,conv1x1:2,dense:5,dense:4"


def crafted_model(rng) -> IntModel:
    """Random int8 weights and biases around zero, so that a good share of activations is 0."""
    shapes = arch.param_shapes(arch.parse(SPEC), 12, 12)
    weights = [rng.integers(-127, 128, w).astype(np.int8) for w in shapes[0::2]]
    biases = [rng.integers(-3000, 3000, b).astype(np.int32) for b in shapes[1::2]]
    shifts = [np.full(b, 6, np.uint8) for b in shapes[1::2][:-1]]
    return IntModel(weights, biases, shifts, 1, {}, False, SPEC, (12, 12))


def naive_counts(model, image) -> list[tuple[int, int]]:
    """(products, products with a non-zero input) per weighted layer, one product at a time."""
    acts = [a[0] for a in activations(model, image[None])]
    out = []
    for L, x in zip(arch.parse(SPEC), acts):
        n = m = 0
        if L.kind in ("conv3x3", "dwconv3x3"):
            c, h, w = x.shape
            outs = range(L.n) if L.kind == "conv3x3" else [None]
            for o in outs:
                for y in range(h - 2):
                    for xx in range(w - 2):
                        for ci in range(c):
                            for ky in range(3):
                                for kx in range(3):
                                    n += 1
                                    m += int(x[ci, y + ky, xx + kx] != 0)
        elif L.kind == "conv1x1":
            n, m = L.n * x.size, L.n * int(np.count_nonzero(x))
        elif L.kind == "dense":
            n, m = L.n * x.size, L.n * int(np.count_nonzero(x))
        else:
            continue
        out.append((n, m))
    return out


def test_every_layers_macs_match_a_loop_over_its_products():
    rng = np.random.default_rng(3)
    model = crafted_model(rng)
    images = rng.integers(0, 256, (6, 12, 12)).astype(np.uint8)
    images[images < 150] = 0  # sparse, as ink is
    rows, per_image = graph_cost(model, images, batch=4)  # two batches, the second short
    counts = [naive_counts(model, im) for im in images]
    assert [r["op"] for r in rows] == ["conv3x3:3", "dwconv3x3", "conv1x1:2", "dense:5", "dense:4"]
    for k, r in enumerate(rows):
        effective = [c[k][1] for c in counts]
        assert r["macs"] == counts[0][k][0]
        assert r["effective_mean"] == np.mean(effective) and r["effective_max"] == max(effective)
    assert per_image.tolist() == [sum(m for _, m in c) for c in counts]
    assert model.n_macs == sum(n for n, _ in counts[0])  # a conv's MACs are not its weight count
    assert 0 < sum(per_image) < sum(r["macs"] for r in rows) * len(images)  # some inputs were zero


def test_input_zero_share_is_counted_over_all_images():
    rng = np.random.default_rng(4)
    model = crafted_model(rng)
    images = np.zeros((3, 12, 12), np.uint8)
    images[0, 2:9, 4] = 200
    rows, _ = graph_cost(model, images, batch=2)
    assert rows[0]["input_zero"] == 1 - 7 / (3 * 144)


def test_the_command_prints_one_row_per_weighted_layer_and_a_total(tmp_path, capsys):
    from digit51.quantize import model_file
    from digit51.trainer import mnist

    rng = np.random.default_rng(5)
    model = crafted_model(rng)
    path = tmp_path / "m.q51"
    model_file.save(path, model)
    folder = tmp_path / "set"
    folder.mkdir()
    from helpers import idx_file

    imgs = rng.integers(0, 256, (20, 12, 12)).astype(np.uint8)
    for stem in ("train", "t10k"):
        idx_file(folder / f"{stem}-images-idx3-ubyte.gz", imgs)
        idx_file(folder / f"{stem}-labels-idx1-ubyte.gz", (np.arange(20) % 4).astype(np.uint8))
    main([str(path), "--data", str(folder)])
    lines = capsys.readouterr().out.splitlines()
    rows, per_image = graph_cost(model, mnist.load(folder).test_images)
    assert [ln.split()[0] for ln in lines[2:]] == [r["op"] for r in rows] + ["total"]
    assert lines[-1].split()[-1] == f"{int(per_image.max()):,d}"
