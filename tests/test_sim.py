"""The firmware, built with SDCC and run in ucsim (s51), against the Python integer
simulator, logit for logit, on real MNIST test images. Nothing here is faked: a missing
sdcc, s51 or socat fails these tests. Tests that talk to a booted firmware get it from
the plugin's fixtures (digit51_build, digit51_boot); the others run the `sim` pipeline.
Stream mode is in test_stream.py, the `demo` command in test_demo.py, the cycle count in
test_cycle_count.py; cleanup of s51 on failures and timeouts is tested in test_plugin.py."""

import numpy as np
import pytest

import digit51
from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline
from digit51.firmware import protocol
from digit51.firmware.chips import targets
from digit51.firmware.host.session import Session
from digit51.quantize import simulate
from helpers import check

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

GENERIC = targets.get("generic-8052")


@pytest.mark.parametrize("kernel, cycles", [("asm", 1_119_237), ("c", 4_330_192)])
def test_selftest_50_images_bit_exact_over_socket(default_int_model, mnist_data, tmp_path, kernel, cycles):
    idx = list(range(100, 150))
    result = pipeline.simulate_firmware(default_int_model, BuildSpec.of(default_int_model, GENERIC, "selftest", kernel), mnist_data, idx, tmp_path, "m", link="socket")
    check(result, 50, cycles)
    assert len(result.firmware) >= 2  # 50 images do not fit next to the weights in one build
    # the firmware's own count, from embedded labels, agrees with the host's
    assert result.done.correct == result.comparison.correct
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
    result = pipeline.simulate_firmware(small_int_model, BuildSpec.of(small_int_model, GENERIC, "serve"), mnist_data, idx, tmp_path, "m", link="pty")
    check(result, 4, 52_275)


def test_selftest_over_a_pty(small_int_model, mnist_data, tmp_path):
    result = pipeline.simulate_firmware(small_int_model, BuildSpec.of(small_int_model, GENERIC, "selftest"), mnist_data, [0, 1, 2], tmp_path, "m", link="pty")
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
    carries into its upper bytes are driven in test_kernels.py.)"""
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
        result = pipeline.simulate_firmware(model, BuildSpec.of(model, GENERIC, "selftest", kernel), mnist_data, idx, tmp_path / kernel, "m", link="socket")
        check(result, 3, cycles)
