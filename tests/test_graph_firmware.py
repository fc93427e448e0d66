"""Layer graphs in the firmware: the memory plan, the fit check against the linker, and the
firmware of graphs with every layer kind bit-exact in s51 against the integer simulator, on
MNIST and on a synthetic 16x16 set with 3 classes, with every kernel and on every target
whose XRAM holds the plan (the others refuse in one line before SDCC runs)."""

import json

import numpy as np
import pytest

from digit51.codegen import graph_plan
from digit51.codegen.spec import BuildSpec
from digit51.firmware import protocol
from digit51.firmware.builder.fit import check_fit, estimate
from digit51.firmware.builder.sdcc import build
from digit51.firmware.chips import targets
from digit51.firmware.host import pipeline
from digit51.quantize import simulate
from digit51.quantize.quantizer import QuantConfig, quantize
from digit51.trainer import mnist
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.train import train
from helpers import cli, shapes_set

GENERIC = targets.get("generic-8052")
EVERY_KIND = "conv3x3:4,dwconv3x3,maxpool2,conv1x1:6,avgpool2,dense:5,dense:3"  # 16 -> 14 -> 12 -> 6 -> 6 -> 3
# convs run by windows (graph_plan.WINDOW_MIN): conv3x3:6 on 4 channels (36 inputs) with a pool
# after it, conv1x1:4 on 40 channels alone; conv1x1:40 on 6 channels runs by rows
WINDOWS = "conv3x3:4,conv3x3:6,maxpool2,conv1x1:40,conv1x1:4,dense:3"  # 16 -> 14 -> 12 -> 6 -> 6 -> 6


def test_a_conv_and_its_pool_are_planned_one_channel_at_a_time():
    """conv3x3:16 then maxpool2 on 28x28: one 26x26 plane and the 16 pooled 13x13 maps, never
    the 16 x 26 x 26 conv output; the second conv starts a new segment."""
    p = graph_plan.plan("conv3x3:16,maxpool2,conv3x3:8,maxpool2,dense:32,dense:10", (28, 28))
    seg1, seg2, d1, d2 = p.parts
    assert [s.kind for s in seg1.steps] == ["conv3x3", "maxpool2"] and seg1.channels == 16 and not seg1.windowed
    assert (seg1.src, seg1.dst, seg2.src, seg2.dst) == ("act_in", "act_a", "act_a", "act_b")
    assert (d1.src, d1.dst, d2.src, d2.dst) == ("act_b", "act_a", "act_a", "logits")
    assert graph_plan.plane_names(seg1) == [("act_in", "plane_a"), ("plane_a", "act_a")]
    # the second conv's window holds 9 x 16 = 144 inputs: it runs by windows, all 8 channels into
    # conv_map, then its pool channel by channel
    assert seg2.windowed and graph_plan.plane_names(seg2) == [("act_a", "conv_map"), ("conv_map", "act_b")]
    assert p.buffers == {"act_in": 784, "act_a": 16 * 13 * 13, "act_b": 8 * 5 * 5, "plane_a": 26 * 26, "plane_b": 0, "row_acc": 26,
                         "conv_map": 8 * 11 * 11, "win": 144, "win_out": 8}
    assert p.dense_inputs == [144, 200, 32]


def test_a_leading_avgpool_runs_as_the_pixels_arrive_only_where_it_tiles_a_square_image():
    assert graph_plan.plan("avgpool2,conv3x3:4,maxpool2,dense:10", (28, 28)).pool == 2
    assert graph_plan.plan("avgpool2,conv3x3:4,maxpool2,dense:10", (28, 28)).buffers["act_in"] == 196
    assert graph_plan.plan("avgpool2,conv3x3:4,dense:3", (20, 12)).pool == 1  # not square: a plane op
    assert graph_plan.plan("avgpool8,dense:3", (32, 32)).pool == 1  # the streamed pooling does 2 and 4


def test_stream_mode_and_deskew_on_non_square_images_are_refused_in_one_line():
    with pytest.raises(Digit51Error, match="stream mode folds pixels into the first layer of an MLP on 28x28 images, not conv3x3:4,dense:10"):
        BuildSpec((784, 2704, 10), 1, False, GENERIC, "stream", graph="conv3x3:4,dense:10")
    with pytest.raises(Digit51Error, match="the firmware deskews square images only, not 20x12: train with --no-deskew"):
        BuildSpec((240, 2), 1, True, GENERIC, "serve", graph="dense:2", input_shape=(20, 12))


def test_a_graph_too_big_for_the_xram_is_refused_with_its_plan():
    spec = BuildSpec((784, 288, 10), 1, False, targets.get("n76e003"), "serve", "asm", graph="conv3x3:8,maxpool2,maxpool2,dense:10")
    with pytest.raises(Digit51Error, match=r"model conv3x3:8,maxpool2,maxpool2,dense:10 needs 2064 B of XRAM for its buffers but n76e003 has 768 B "
                       r"\(its plan: input map 784, layer outputs 288 \+ 1, one channel's planes 676 \+ 169, row sums 104\): use fewer channels"):
        check_fit(spec)


def test_the_protocol_carries_other_image_sizes_and_class_counts():
    frame = protocol.image_frame(7, bytes(range(256)))
    assert len(frame) == 1 + 3 + 256 + 2
    body = "pred img=7 digit=2 logits=-5,3,9 cycles=100"
    rec = protocol.parse_line(f"{body} *{protocol.crc16(body.encode()):04X}")
    assert rec == protocol.Prediction(7, 2, (-5, 3, 9), 100)
    body = "pred img=7 digit=3 logits=-5,3,9 cycles=100"  # a digit with no logit
    assert isinstance(protocol.parse_line(f"{body} *{protocol.crc16(body.encode()):04X}"), protocol.BadLine)
    body = "ready mode=serve model=avgpool2,conv3x3:4,maxpool2,dense:10"
    assert protocol.parse_line(f"{body} *{protocol.crc16(body.encode()):04X}") == protocol.Ready("serve", "avgpool2,conv3x3:4,maxpool2,dense:10")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = shapes_set(tmp_path_factory.mktemp("d") / "shapes16")
    return folder, mnist.load(folder)


@pytest.fixture(scope="module")
def every_kind(shapes):
    """A 16x16, 3-class graph with every layer kind: conv3x3, dwconv3x3, maxpool2, conv1x1,
    an avgpool inside the graph, a hidden dense and the logits."""
    _, data = shapes
    model = train(data, TrainConfig(arch=EVERY_KIND, epochs=3, lr=0.01, deskew=False))
    return quantize(model, data.train_images[:300], QuantConfig(calibration_images=300))


def check(result, n):
    c = result.comparison
    assert c.images == n and c.mismatches == [] and not result.bad_lines and not result.frame_errors


@pytest.fixture(scope="module")
def by_windows(shapes):
    _, data = shapes
    model = train(data, TrainConfig(arch=WINDOWS, epochs=3, lr=0.01, deskew=False))
    q = quantize(model, data.train_images[:300], QuantConfig(calibration_images=300))
    assert [p.windowed for p in graph_plan.plan(WINDOWS, (16, 16)).parts[:-1]] == [False, True, False, True]
    return q


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel", ["c", "sparse-c", "asm", "sparse-asm"])
@pytest.mark.parametrize("graph", ["every_kind", "by_windows"])
def test_every_layer_kind_is_bit_exact_in_s51_with_every_kernel(request, shapes, tmp_path, kernel, graph):
    _, data = shapes
    model = request.getfixturevalue(graph)
    result = pipeline.simulate_firmware(model, BuildSpec.of(model, GENERIC, "serve", kernel), data, list(range(12)),
                                        tmp_path, "m", link="socket")
    check(result, 12)
    assert result.logits.shape == (12, 3)


@pytest.mark.toolchain
@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_every_target_runs_the_graph_bit_exact_or_refuses_it_in_one_line(every_kind, shapes, tmp_path, name):
    """Each target's kernel variant (ri_page or dptr XRAM addressing, its default kernel) in
    self-test mode; a target whose XRAM cannot hold the plan says so before SDCC runs."""
    _, data = shapes
    t = targets.get(name)
    spec = BuildSpec.of(every_kind, t, "selftest")
    need = estimate(spec)
    if need.xram > t.xram:
        with pytest.raises(Digit51Error, match=rf"needs {need.xram} B of XRAM for its buffers but {name} has {t.xram} B"):
            pipeline.simulate_firmware(every_kind, spec, data, [0, 1], tmp_path, "m", link="socket")
        return
    result = pipeline.simulate_firmware(every_kind, spec, data, list(range(20)), tmp_path, "m", link="socket")
    check(result, 20)
    assert result.firmware[0].memory["xaddr"] == t.xaddr


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel", ["c", "sparse-asm"])
@pytest.mark.parametrize("graph, spec", [("every_kind", EVERY_KIND), ("by_windows", WINDOWS)])
def test_the_xram_estimate_of_a_graph_is_what_the_linker_places(request, tmp_path, kernel, graph, spec):
    model = request.getfixturevalue(graph)
    fw = build(model, BuildSpec.of(model, GENERIC, "serve", kernel), tmp_path / kernel, "m")
    need = estimate(BuildSpec.of(model, GENERIC, "serve", kernel))
    assert fw.memory["xram"]["used"] == need.xram
    assert abs(fw.memory["code"]["used"] - need.code) <= 0.15 * fw.memory["code"]["used"]
    assert fw.memory["model"] == spec


@pytest.mark.toolchain
def test_an_mlp_on_20x12_images_with_2_classes_runs_bit_exact(tmp_path):
    """Any images: an MLP whose images are not 28x28 runs as the graph avgpool2,dense,dense."""
    folder = shapes_set(tmp_path / "s", h=20, w=12, classes=2, n_train=200, n_test=20)
    data = mnist.load(folder)
    model = train(data, TrainConfig(hidden=(8,), pool=2, epochs=2, lr=0.01, deskew=False))
    q = quantize(model, data.train_images[:200], QuantConfig(calibration_images=200))
    assert graph_plan.deployed_graph(q) == "avgpool2,dense:8,dense:2"
    result = pipeline.simulate_firmware(q, BuildSpec.of(q, GENERIC, "serve", "sparse-asm"), data, list(range(10)), tmp_path / "fw", "m")
    check(result, 10)


@pytest.mark.toolchain
def test_the_issue_graph_from_the_command_line_on_mnist(data_dir, tmp_path):
    """The acceptance line: train avgpool2,conv3x3:4,maxpool2,dense:10 for one epoch, quantize,
    sim --images 10: bit-exact; then a deskew model of it on the ch559 (1T, ri_page)."""
    spec = "avgpool2,conv3x3:4,maxpool2,dense:10"
    r = cli("train", "--data", str(data_dir), "--arch", spec, "--epochs", "1", "-o", str(tmp_path / "m.d51"))
    assert r.returncode == 0, r.stderr
    r = cli("quantize", str(tmp_path / "m.d51"), "--data", str(data_dir), "-o", str(tmp_path / "m.q51"))
    assert r.returncode == 0, r.stderr
    for target in ("generic-8052", "ch559"):
        r = cli("sim", str(tmp_path / "m.q51"), "--data", str(data_dir), "--images", "10", "--target", target,
                "--out", str(tmp_path / target), "--json")
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout)
        assert s["bit_exact"] and s["images"] == 10 and s["mismatches"] == 0 and s["memory"]["model"] == spec


@pytest.mark.toolchain
def test_the_16x16_set_from_the_command_line_in_serve_mode(shapes, every_kind, tmp_path):
    from digit51.quantize import model_file

    folder, data = shapes
    model_file.save(tmp_path / "m.q51", every_kind)
    r = cli("sim", str(tmp_path / "m.q51"), "--data", str(folder), "--images", "10", "--mode", "serve",
            "--out", str(tmp_path / "fw"), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["bit_exact"] and s["images"] == 10
    want = (simulate.run(every_kind, data.test_images[:10])[1] == data.test_labels[:10]).mean()
    assert s["firmware_accuracy"] == pytest.approx(want)


def test_the_graph_firmware_sources_are_the_same_bytes_each_time(every_kind):
    from digit51.codegen.render import render

    a = render(every_kind, "serve", "m", kernel="sparse-asm")
    b = render(every_kind, "serve", "m", kernel="sparse-asm")
    assert a == b and "conv1x1_channel(" in a["infer.c"] and "avgpool_plane(" in a["infer.c"]
    assert np.array_equal(every_kind.weights[0].reshape(4, -1)[0], np.array([int(v) for v in a["weights.c"].split("W0[36] = {")[1].split("}")[0].replace("\n", "").split(",") if v.strip()][:9]))


@pytest.fixture(scope="module")
def mnist_graph(mnist_data):
    """The issue's small CNN on MNIST, one epoch: avgpool2,conv3x3:4,maxpool2,dense:10 (deskew)."""
    model = train(mnist_data, TrainConfig(arch="avgpool2,conv3x3:4,maxpool2,dense:10", epochs=1))
    return quantize(model, mnist_data.train_images[:2000])


@pytest.mark.toolchain
def test_the_api_trains_builds_and_checks_a_graph(shapes, tmp_path):
    import digit51

    folder, _ = shapes
    data = digit51.load_data(folder)
    model = digit51.train(data, arch="conv3x3:2,maxpool2,dense:3", epochs=2, lr=0.01, deskew=False)
    q = digit51.quantize(model, data)
    fw = digit51.build_firmware(q, tmp_path / "fw", "ch559")
    result = digit51.assert_bit_exact(fw, q, data.test_images[:6], target="ch559")
    assert result.logits.shape == (6, 3) and fw.memory["model"] == "conv3x3:2,maxpool2,dense:3"


@pytest.mark.toolchain
def test_classify_sends_a_picture_to_a_graph_and_to_a_16x16_model(mnist_graph, every_kind, mnist_data, tmp_path):
    from PIL import Image

    from digit51.quantize import model_file

    model_file.save(tmp_path / "g.q51", mnist_graph)
    model_file.save(tmp_path / "s.q51", every_kind)
    Image.fromarray(255 - mnist_data.test_images[0]).save(tmp_path / "seven.png")  # ink dark on white, as drawn
    for qmodel, classes in (("g.q51", 10), ("s.q51", 3)):
        r = cli("classify", str(tmp_path / "seven.png"), "--model", str(tmp_path / qmodel), "--json")
        assert r.returncode == 0, r.stderr
        row = json.loads(r.stdout)
        assert row["match"] and len(row["logits"]) == classes and row["logits"] == row["sim_logits"]


def test_the_page_refuses_a_model_of_other_images_in_one_line(every_kind, tmp_path):
    from digit51.quantize import model_file
    from helpers import one_line_error

    model_file.save(tmp_path / "s.q51", every_kind)
    one_line_error(cli("ui", str(tmp_path / "s.q51"), "--no-browser"), "the page draws 28x28 digits but this model takes 16x16 images")


@pytest.mark.toolchain
def test_the_report_times_each_part_of_a_graph(mnist_graph, data_dir, tmp_path):
    """One row per part of the plan (conv + pool segment, dense), its MACs counted from the
    shapes, and the parts' cycles (between the marks classify() places) summing to Timer 0."""
    from digit51.quantize import model_file

    model_file.save(tmp_path / "g.q51", mnist_graph)
    r = cli("report", str(tmp_path / "g.q51"), "--data", str(data_dir), "-o", str(tmp_path / "rep"), "--images", "3", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    seg, dense = s["layers"]
    assert seg["layer"] == "0: conv3x3:4 + maxpool2" and seg["macs"] == 4 * 12 * 12 * 9 and seg["outputs"] == "4x6x6"
    assert dense["layer"] == "1: dense:10" and dense["macs"] == 144 * 10 and dense["inputs"] == "4x6x6"
    assert seg["cycles_mean"] > 0 and dense["cycles_mean"] > 0 and s["cycles"]["worst_gap"] < 1e-3
    assert s["accuracy"]["firmware_bit_exact"] and s["model"] == "avgpool2,conv3x3:4,maxpool2,dense:10"
    assert {x["segment"] for x in s["other_segments"]} == {"input", "deskew", "argmax"}


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel", ["sparse-asm", "c"])
def test_a_graph_on_the_whole_deskewed_image(mnist_data, tmp_path, kernel):
    """No leading pool: the firmware deskews all 784 pixels into the input map (deskew's
    assembly shear feeding the unpooled image with the asm kernels), then the convs."""
    model = train(mnist_data, TrainConfig(arch="conv3x3:2,maxpool2,maxpool2,dense:10", epochs=1))
    q = quantize(model, mnist_data.train_images[:1000])
    assert graph_plan.plan(q.graph, q.input_shape).pool == 1 and q.deskew
    for mode in ("serve", "selftest"):
        result = pipeline.simulate_firmware(q, BuildSpec.of(q, GENERIC, mode, kernel), mnist_data, list(range(6)), tmp_path / mode, "m")
        check(result, 6)


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["stc8h8k64u", "efm8bb3"])
def test_a_small_deskewed_graph_links_on_the_movx_dptr_chips(mnist_data, tmp_path, name):
    """Streamed pooling, deskew and the MOVX @DPTR kernel state fill the internal RAM below
    0x80: with the dense layers' parameters there too this graph did not link (DSEG)."""
    model = train(mnist_data, TrainConfig(arch="avgpool4,conv3x3:2,dense:10", epochs=1))
    q = quantize(model, mnist_data.train_images[:1000])
    result = pipeline.simulate_firmware(q, BuildSpec.of(q, targets.get(name), "selftest"), mnist_data, list(range(4)), tmp_path, "m")
    check(result, 4)
    assert result.firmware[0].memory["xaddr"] == "dptr"


@pytest.mark.toolchain
def test_build_times_a_16x16_model_on_random_pixels_of_its_shape(every_kind, tmp_path):
    from digit51.quantize import model_file

    model_file.save(tmp_path / "s.q51", every_kind)
    r = cli("build", str(tmp_path / "s.q51"), "-o", str(tmp_path / "fw"), "--target", "ch559")
    assert r.returncode == 0, r.stderr
    assert "time per digit on ch559 at 48 MHz" in r.stderr and "[random pixels" in r.stderr
