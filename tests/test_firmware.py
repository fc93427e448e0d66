"""The firmware, built with SDCC and run in ucsim (s51), against the Python integer
simulator, logit for logit, on real MNIST test images. Nothing here is faked: a missing
sdcc, s51 or socat fails these tests. Tests that talk to a booted firmware get it from
the plugin's fixtures (digit51_build, digit51_boot); the others run the `sim` pipeline.
Cleanup of s51 on failures and timeouts is tested in test_plugin.py."""

import dataclasses
import json

import numpy as np
import pytest

import digit51
from digit51.firmware.host import pipeline
from digit51.firmware import protocol
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.firmware.host.session import Session
from digit51.quantize import simulate
from helpers import cli

GENERIC = targets.get("generic-8052")
# Cycle figures below are what SDCC 4.2's code took in ucsim when written (default kernel:
# sparse-asm); a test accepts 25 % either way. Counting the UART waits of serve mode adds
# ~960 cycles a byte (9600 baud, 11.0592 MHz), far outside; the small model here stays
# under one Timer 0 overflow (65,536), so tests/test_cycles.py checks the overflow count on
# a bigger one. A firmware change that moves the figures more than that updates them here.
CYCLES_MARGIN = 0.25


def near(cycles: float, expected: int) -> bool:
    return abs(cycles / expected - 1) < CYCLES_MARGIN


def check(result, n, cycles: int):
    """`n` images bit-exact with no protocol errors, `cycles` per image (mean) within the margin."""
    c = result.comparison
    assert c.images == n
    assert c.mismatches == [], c.mismatches[:3]
    assert not result.bad_lines and not result.frame_errors
    assert near(c.mean_cycles, cycles), c.mean_cycles


@pytest.mark.parametrize("kernel, cycles", [("asm", 1_119_237), ("c", 4_330_192)])
def test_selftest_50_images_bit_exact_over_socket(default_int_model, mnist_data, tmp_path, kernel, cycles):
    idx = list(range(100, 150))
    result = pipeline.simulate_firmware(default_int_model, GENERIC, mnist_data, idx, "selftest", "socket", tmp_path, "m", kernel)
    check(result, 50, cycles)
    assert len(result.firmware) >= 2  # 50 images do not fit next to the weights in one build
    # the firmware's own count, from embedded labels, agrees with the host's
    assert sum(o.done.correct for o in result.outcomes) == result.comparison.correct
    logits, pred = simulate.run(default_int_model, mnist_data.test_images[idx])
    assert result.comparison.correct == int((pred == mnist_data.test_labels[idx]).sum())


@pytest.mark.parametrize("kernel", ["asm", "c"])
def test_serve_10_images_bit_exact_over_socket(default_int_model, mnist_data, digit51_build, digit51_boot, kernel):
    board = digit51_boot(digit51_build(default_int_model, mode="serve", kernel=kernel))
    idx = list(range(9990, 10000))
    result = digit51.assert_bit_exact(board, default_int_model, mnist_data.test_images[idx], idx)
    assert result.done == protocol.Done(10) and not result.bad_lines and (result.cycles > 0).all()


def test_serve_over_a_pty_opened_as_a_serial_device(small_int_model, mnist_data, tmp_path):
    idx = [7, 8, 9, 10]
    result = pipeline.simulate_firmware(small_int_model, GENERIC, mnist_data, idx, "serve", "pty", tmp_path, "m")
    check(result, 4, 52_275)


def test_selftest_over_a_pty(small_int_model, mnist_data, tmp_path):
    result = pipeline.simulate_firmware(small_int_model, GENERIC, mnist_data, [0, 1, 2], "selftest", "pty", tmp_path, "m")
    check(result, 3, 32_613)


def test_firmware_rejects_a_corrupted_frame_and_recovers(small_int_model, mnist_data, digit51_build, digit51_boot):
    board = digit51_boot(digit51_build(small_int_model, mode="serve"))
    img = mnist_data.test_images[5]
    logits, _ = simulate.run(small_int_model, mnist_data.test_images[[5]])
    assert isinstance(board.read(), protocol.Ready)
    frame = bytearray(protocol.image_frame(5, img.tobytes()))
    frame[300] ^= 0x40
    board.send_frame(b"\x00\x13noise" + bytes(frame))  # junk before the magic is skipped
    assert board.read() == protocol.FrameError(5, "crc")
    board.send_image(5, img)
    rec = board.read()
    assert isinstance(rec, protocol.Prediction) and rec.logits == tuple(int(v) for v in logits[0])
    board.send_quit()
    assert board.read() == protocol.Done(1)


def test_timer0_cycle_count_is_stable_and_plausible(small_int_model, mnist_data, tmp_path):
    """Cycles come from Timer 0 on the chip (they overflow it once here): two images, counts
    within 5 % of each other and near the figure measured (test_cycles.py checks them
    against ucsim's own clock)."""
    result = pipeline.simulate_firmware(small_int_model, GENERIC, mnist_data, [0, 0 + 1], "selftest", "socket", tmp_path, "m")
    cycles = [p.cycles for p in result.outcomes[0].predictions]
    assert all(near(c, 33_745) for c in cycles), cycles
    assert max(cycles) - min(cycles) < 0.05 * max(cycles)


def test_demo_command_end_to_end(tmp_path, data_dir, mnist_data):
    """The README's main command, with a reused small float model to keep it short."""
    from digit51.trainer import model_file
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    model = tmp_path / "m.d51"
    model_file.save(model, train(mnist_data, TrainConfig(hidden=(16,), pool=4, epochs=1, augment=0, deskew=False)))
    out = cli("demo", "--data", data_dir, "--model", model, "--out", tmp_path / "out", "--images", "4", "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["bit_exact"] is True and s["images"] == 4 and s["mismatches"] == 0
    assert s["model"] == "49-16-10" and near(s["cycles_per_inference"], 33_702)
    assert (tmp_path / "out" / "model.q51").is_file()


def test_stream_mode_on_a_chip_with_256_bytes_of_ram_and_no_xram(small_int_model, mnist_data, tmp_path):
    """at89s52: 8 KB flash, 256 B internal RAM, no XRAM. Nothing buffers the image."""
    target = targets.get("at89s52")
    idx = list(range(30, 42))
    result = pipeline.simulate_firmware(small_int_model, target, mnist_data, idx, "stream", "socket", tmp_path, "m")
    check(result, 12, 143_344)
    m = result.firmware[0].memory
    assert m["xram"]["used"] == 0 and m["iram"]["used"] <= 256 and m["code"]["used"] <= 8192
    assert result.max_sp is not None and result.max_sp < 0xFF  # the stack never wrapped
    src = (result.firmware[0].folder / "src" / "infer.c").read_text()
    assert "__xdata" not in src and "IMAGE_BYTES]" not in src


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
    result = pipeline.simulate_firmware(model, targets.get("at89s52"), mnist_data, [7, 8, 9], "stream", "socket", tmp_path, "m",
                                        timeout=30)
    c = result.comparison
    assert c.images == 3 and c.mismatches == [] and not result.bad_lines and not result.frame_errors


def test_stream_mode_rejects_the_asm_kernel_and_models_that_do_not_fit(default_int_model, small_int_model, tmp_path):
    from digit51.trainer.errors import Digit51Error

    with pytest.raises(Digit51Error, match="use --kernel c"):
        pipeline.simulate_firmware(small_int_model, GENERIC, None, [0], "stream", "socket", tmp_path, "m", "asm")
    with pytest.raises(Digit51Error, match="internal RAM in stream mode but at89c51ed2 has 256 B"):
        build(dataclasses.replace(default_int_model, deskew=False), targets.get("at89c51ed2"), tmp_path / "x", "stream", "m", kernel="c")


def test_monitor_send_streams_images_to_the_serve_firmware(small_int_model, mnist_data, digit51_build, digit51_boot):
    """The monitor's --send path against real firmware in ucsim, over the socket."""
    import io

    from digit51.firmware.app.monitor import Tally
    from digit51.firmware.host.run import exchange

    board = digit51_boot(digit51_build(small_int_model, mode="serve"))
    idx = [20, 21, 22, 23]
    out, err = io.StringIO(), io.StringIO()
    tally = Tally(mnist_data.test_labels, out=out, err=err)
    s = Session(board.port)
    tally.show(s.next_record(30))
    exchange(s, idx, mnist_data.test_images[idx], 30, tally.show)
    _, pred = simulate.run(small_int_model, mnist_data.test_images[idx])
    lines = out.getvalue().splitlines()
    assert [int(l.split()[1].split("=")[1]) for l in lines] == pred.tolist()
    assert (tally.seen, tally.corrupt) == (4, 0)
    assert tally.correct == int((pred == mnist_data.test_labels[idx]).sum())
    assert "firmware done: 4 images" in err.getvalue()


def test_asm_kernel_on_page_crossings_odd_lengths_and_extreme_weights(mnist_data, tmp_path):
    """784 inputs cross 256-byte XRAM pages (segments up to 256 long); 7 hidden gives an
    odd-length layer; weights at +-127 and saturated activations. (The accumulator's
    carries into its upper bytes are driven in test_kernel_extremes.py.)"""
    from digit51.quantize.model_file import IntModel

    rng = np.random.default_rng(11)
    w0 = rng.integers(-127, 128, (7, 784)).astype(np.int8)
    w0[0] = 127
    w0[1] = -127
    w1 = rng.integers(-127, 128, (10, 7)).astype(np.int8)
    model = IntModel([w0, w1], [rng.integers(-5000, 5000, 7).astype(np.int32), np.zeros(10, np.int32)],
                     [np.array([0, 14, 9, 10, 11, 12, 13], np.uint8)], 1)
    idx = [3, 4, 5]
    for kernel, cycles in (("asm", 209_933), ("c", 526_870)):
        result = pipeline.simulate_firmware(model, GENERIC, mnist_data, idx, "selftest", "socket", tmp_path / kernel, "m", kernel)
        check(result, 3, cycles)
