"""Stream mode: the firmware that buffers no image (at89s52: 256 B of internal RAM, no XRAM)
runs bit-exact in s51, folds layer widths that are not a multiple of the fold step, and
refuses the asm kernel and models that do not fit. Its 24-bit layer-0 accumulators (codegen/templates/program/infer_stream.c.j2, the spec
ops.dense_acc24): the bound that lets 3 bytes hold every sum, the build's refusal of a model
past it, and the firmware in s51 on sums at the very edge of 24 bits, bit for bit."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline, run
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.firmware.builder.fit import check_fit
from digit51.firmware.host.session import Session
from digit51.firmware.sim.ucsim import Ucsim
from digit51.quantize import ops, simulate
from digit51.quantize.model_file import IntModel
from digit51.trainer.errors import Digit51Error
from helpers import check

GENERIC = targets.get("generic-8052")
TINY = targets.get("at89s52")
N = 196  # pool 2: the first layer of every at89s52 model of the frontier
EDGE = ops.ACC24_MAX - N * 127 * 255  # the largest |bias| that keeps an all-127 neuron within 24 bits
SHIFT = 16


def test_the_products_of_196_inputs_leave_room_for_the_bias_in_24_bits():
    assert N * 127 * 255 == 6_347_460 < 2**23 and EDGE == 2_041_147


def test_dense_acc24_wraps_like_3_bytes_and_equals_dense_within_the_bound():
    x = np.full((1, N), 255, np.uint8)
    w = np.full((2, N), 127, np.int8)
    w[1] = -127
    inside = np.array([EDGE, -EDGE], np.int32)
    assert ops.acc24_fits(w, inside).all()
    assert ops.dense_acc24(x, w, inside).tolist() == ops.dense(x, w, inside).tolist() == [[ops.ACC24_MAX, -ops.ACC24_MAX]]
    outside = inside + np.array([1, -2], np.int32)  # one past +2^23 - 1, one past -2^23
    assert ops.acc24_fits(w, outside).tolist() == [False, False]
    assert ops.dense_acc24(x, w, outside).tolist() == [[ops.ACC24_MIN, ops.ACC24_MAX]]  # wrapped, as 3 bytes do


@pytest.mark.toolchain
def test_the_stream_build_refuses_a_model_whose_layer0_sums_can_leave_24_bits(tmp_path):
    w0 = np.full((2, N), 127, np.int8)
    model = IntModel([w0, np.ones((10, 2), np.int8)], [np.array([0, EDGE + 1], np.int32), np.zeros(10, np.int32)],
                     [np.full(2, SHIFT, np.uint8)], 2)
    with pytest.raises(Digit51Error, match=r"layer 0 neuron 1 .* does not fit the 24-bit accumulators of stream mode"):
        build(model, BuildSpec.of(model, TINY, "stream"), tmp_path / "x", "m")
    assert not (tmp_path / "x").exists()


def test_at89s52_fits_196_20_10_in_stream_mode_and_refuses_wider():
    """The checks before compiling: 8 KB of code is the limit for pool 2 (the 24-bit accumulators
    leave internal RAM to spare); 49-31-10 shows the internal-RAM refusal, 784-16-10 the
    refusal of more layer-0 work per received byte than 9600 baud leaves time for."""
    need = check_fit(BuildSpec(tuple([196, 20, 10]), 2, False, TINY, "stream"))
    assert need.code <= 8192 and need.xram == 0
    with pytest.raises(Digit51Error, match="of code memory but at89s52 has 8192 B"):
        check_fit(BuildSpec(tuple([196, 21, 10]), 2, False, TINY, "stream"))
    with pytest.raises(Digit51Error, match="internal RAM in stream mode but at89s52 has 256 B"):
        check_fit(BuildSpec(tuple([49, 31, 10]), 4, False, TINY, "stream"))
    # 784 inputs: one pooled value per byte, so a step would fold all 16 neurons per byte
    with pytest.raises(Digit51Error, match="folds 16 layer-0 neurons per received byte, more than the 5"):
        check_fit(BuildSpec(tuple([784, 16, 10]), 1, False, targets.get("at89c51ed2"), "stream"))


def edge_model() -> IntModel:
    """196-4-10 whose layer-0 sums reach the ends of 24 bits on an all-255 image: neuron 0
    (every weight +127) exactly 2^23 - 1, neuron 1 (every weight -127) exactly -(2^23 - 1);
    neuron 2 alternates +-127, so its partial sums cross zero (carries and borrows through
    the top byte) on every image; neuron 3 has random weights. Every layer-1 weight is
    non-zero, so each hidden activation shows in the logits."""
    rng = np.random.default_rng(24)
    w0 = np.zeros((4, N), np.int8)
    w0[0], w0[1] = 127, -127
    w0[2, 0::2], w0[2, 1::2] = 127, -127
    w0[3] = rng.integers(-127, 128, N)
    b0 = np.array([EDGE, -EDGE, 3 << SHIFT, 1 << 20], np.int32)
    w1 = rng.integers(1, 128, (10, 4)).astype(np.int8) * rng.choice([-1, 1], (10, 4)).astype(np.int8)
    return IntModel([w0, w1], [b0, rng.integers(-5000, 5000, 10).astype(np.int32)], [np.full(4, SHIFT, np.uint8)], 2)


def edge_images(mnist_data) -> np.ndarray:
    full = np.full((28, 28), 255, np.uint8)
    noise = np.random.default_rng(5).integers(0, 256, (28, 28)).astype(np.uint8)
    return np.stack([full, noise, mnist_data.test_images[0]])


def test_the_edge_model_reaches_the_ends_of_24_bits(mnist_data):
    """What the firmware test relies on, checked on the spec so that it cannot silently weaken."""
    model, images = edge_model(), edge_images(mnist_data)
    assert ops.acc24_fits(model.weights[0], model.biases[0]).all()
    x = ops.pool(images, 2)
    exact = x.astype(np.int64) @ model.weights[0].T.astype(np.int64) + model.biases[0]
    assert exact[0, 0] == ops.ACC24_MAX and exact[0, 1] == -ops.ACC24_MAX
    hidden = simulate.activations(model, images, stream=True)[1]
    assert hidden[0, :2].tolist() == [127, 0] and (hidden[:, 2:] > 0).all()
    # a read-back without sign extension would turn -(2^23 - 1) into +2^23 + 1: activation 128, not 0
    assert (((1 << 24) - ops.ACC24_MAX) >> SHIFT) == 128


@pytest.mark.toolchain
def test_stream_firmware_on_24_bit_edge_sums_is_bit_exact(mnist_data, tmp_path):
    model, images = edge_model(), edge_images(mnist_data)
    fw = build(model, BuildSpec.of(model, TINY, "stream"), tmp_path / "fw", "edge")
    indices = list(range(len(images)))
    with Ucsim(fw.ihx, TINY, "socket") as sim:
        outcome = run.serve(Session(sim.port), indices, images, 60)
    logits, pred = simulate.run(model, images, stream=True)
    comparison = run.compare(outcome, indices, logits, np.zeros(len(images), np.uint8))
    assert comparison.mismatches == [] and not outcome.bad_lines and not outcome.frame_errors
    assert [p.digit for p in outcome.predictions] == pred.tolist()
    assert fw.memory["iram"]["stack_free"] >= 34 and "printf_fast" in (fw.folder / "src" / "runtime.h").read_text()


@pytest.mark.toolchain
def test_the_widest_at89s52_model_streams_bit_exact(mnist_data, tmp_path):
    """196-20-10 (the widest that fits 8 KB): FOLD_STEP 5 and one fold step per received byte
    keep the queue of pooled values within one block row. Random weights, 2 MNIST images."""
    rng = np.random.default_rng(20)
    model = IntModel([rng.integers(-60, 61, (20, N)).astype(np.int8), rng.integers(-127, 128, (10, 20)).astype(np.int8)],
                     [rng.integers(-20000, 20000, 20).astype(np.int32), np.zeros(10, np.int32)], [np.full(20, 9, np.uint8)], 2)
    indices = [0, 1]
    assert (simulate.activations(model, mnist_data.test_images[indices], stream=True)[1] > 0).sum() >= 15
    fw = build(model, BuildSpec.of(model, TINY, "stream"), tmp_path / "fw", "wide")
    assert fw.memory["code"]["used"] <= 8192 and "#define FOLD_STEP 5" in (fw.folder / "src" / "infer.c").read_text()
    with Ucsim(fw.ihx, TINY, "socket") as sim:
        outcome = run.serve(Session(sim.port), indices, mnist_data.test_images[indices], 60)
    logits, _ = simulate.run(model, mnist_data.test_images[indices], stream=True)
    comparison = run.compare(outcome, indices, logits, mnist_data.test_labels[indices])
    assert comparison.mismatches == [] and not outcome.bad_lines and not outcome.frame_errors
    assert len(outcome.predictions) == 2


@pytest.mark.toolchain
def test_stream_mode_on_a_chip_with_256_bytes_of_ram_and_no_xram(small_int_model, mnist_data, tmp_path):
    """at89s52: 8 KB flash, 256 B internal RAM, no XRAM. Nothing buffers the image."""
    target = targets.get("at89s52")
    idx = list(range(30, 42))
    result = pipeline.simulate_firmware(small_int_model, BuildSpec.of(small_int_model, target, "stream"), mnist_data, idx, tmp_path, "m", link="socket")
    check(result, 12, 143_344)
    m = result.firmware[0].memory
    assert m["xram"]["used"] == 0 and m["iram"]["used"] <= 256 and m["code"]["used"] <= 8192
    assert result.stack_peak is not None and result.stack_peak < 0xFF  # the stack never wrapped
    src = (result.firmware[0].folder / "src" / "infer.c").read_text()
    assert "__xdata" not in src and "IMAGE_BYTES]" not in src


@pytest.mark.toolchain
def test_stream_mode_folds_a_layer_width_that_is_not_a_multiple_of_the_fold_step(mnist_data, tmp_path):
    """Stream mode folds each pooled value into FOLD_STEP (4) layer-0 neurons per step; with 7
    neurons the last step of every input is cut to 3. Random weights, bit-exact on 3 images."""
    from digit51.quantize.model_file import IntModel

    rng = np.random.default_rng(21)
    w0 = rng.integers(-127, 128, (7, 49)).astype(np.int8)
    w0[4:] = np.abs(w0[4:]) // 4  # the neurons of the cut step: positive, so that they show in the logits
    model = IntModel([w0, rng.integers(-127, 128, (10, 7)).astype(np.int8)],
                     [rng.integers(-3000, 3000, 7).astype(np.int32), np.zeros(10, np.int32)], [np.full(7, 10, np.uint8)], 4)
    assert (simulate.activations(model, mnist_data.test_images[[7, 8, 9]])[1][:, 4:] > 0).all()
    # timeout 30 s (the run takes ~2 s): a fold that never ends hangs the firmware, not the test for long
    result = pipeline.simulate_firmware(model, BuildSpec.of(model, targets.get("at89s52"), "stream"), mnist_data, [7, 8, 9], tmp_path, "m", link="socket", timeout=30)
    c = result.comparison
    assert c.images == 3 and c.mismatches == [] and not result.bad_lines and not result.frame_errors


@pytest.mark.toolchain
def test_stream_mode_rejects_the_asm_kernel_and_models_that_do_not_fit(default_int_model, small_int_model, tmp_path):
    from digit51.trainer.errors import Digit51Error

    with pytest.raises(Digit51Error, match="use --kernel c"):
        pipeline.simulate_firmware(small_int_model, BuildSpec.of(small_int_model, GENERIC, "stream", "asm"), None, [0], tmp_path, "m", link="socket")
    with pytest.raises(Digit51Error, match="internal RAM in stream mode but at89c51ed2 has 256 B"):
        build(dataclasses.replace(default_int_model, deskew=False), BuildSpec.of(dataclasses.replace(default_int_model, deskew=False), targets.get("at89c51ed2"), "stream", "c"), tmp_path / "x", "m")
