"""digit51's pytest plugin as a user meets it: pytester runs small outside test suites
that use only `import digit51` and the plugin's fixtures and marker, with real SDCC
builds booted in s51."""

import os
import re
from pathlib import Path

import pytest

import digit51

CONFTEST = '''
import pytest
import digit51

@pytest.fixture(scope="session")
def digit51_model():
    return digit51.load_model({model!r})
'''

OUTSIDE_SUITE = '''
import dataclasses

import pytest

import digit51

pytestmark = pytest.mark.digit51_toolchain


def test_firmware_is_bit_exact(digit51_firmware, digit51_model, digit51_data):
    result = digit51.assert_bit_exact(digit51_firmware, digit51_model, digit51_data.test_images[:6])
    assert result.indices == list(range(6)) and (result.cycles > 0).all()


def test_session_sends_frames_and_reads_checked_lines(digit51_board, digit51_model, digit51_data):
    assert digit51_board.wait_ready().mode == "serve"
    image = digit51_data.test_images[42]
    frame = bytearray(digit51.image_frame(42, image))
    frame[100] ^= 0x01
    digit51_board.send_frame(frame)
    assert digit51_board.read() == digit51.FrameError(42, "crc")
    digit51_board.send_image(42, image)
    answer = digit51_board.read()
    logits, digits = digit51.simulate(digit51_model, image[None])
    assert isinstance(answer, digit51.Prediction)
    assert answer.logits == tuple(logits[0].tolist()) and answer.digit == digits[0]
    digit51_board.send_quit()
    assert digit51_board.read() == digit51.Done(1)


def test_takes_a_prebuilt_firmware_file(digit51_boot, digit51_firmware, digit51_model, digit51_data):
    board = digit51_boot(str(digit51_firmware.hex))  # the Intel HEX file, as it would be flashed
    digit51.assert_bit_exact(board, digit51_model, digit51_data.test_images[10:13], [10, 11, 12])


def test_firmware_of_an_altered_model_is_caught(digit51_build, digit51_model, digit51_data):
    biases = [b.copy() for b in digit51_model.biases]
    biases[-1][3] += 1000  # the deliberate change: logit 3 of every image is 1000 too high
    altered = dataclasses.replace(digit51_model, biases=biases)
    digit51.assert_bit_exact(digit51_build(altered), digit51_model, digit51_data.test_images[:3])
'''


@pytest.fixture
def outside(pytester, small_int_model, tmp_path):
    model = tmp_path / "small.q51"
    digit51.save_model(model, small_int_model)
    pytester.makeconftest(CONFTEST.format(model=str(model)))
    return pytester


@pytest.mark.toolchain
def test_outside_suite_passes_and_catches_an_altered_model(outside, data_dir, small_int_model, mnist_data):
    outside.makepyfile(test_outside=OUTSIDE_SUITE)
    result = outside.runpytest(f"--digit51-data={data_dir}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "FAILED test_outside.py::test_firmware_of_an_altered_model_is_caught*",
    ])
    result.stdout.fnmatch_lines([
        "E*AssertionError: firmware is not bit-exact with the integer simulator: 3 of 3 images differ, "
        "0 corrupt lines, 0 rejected frames",
    ])
    # the right reason: the diff shows image 0, class 3 off by exactly the +1000 put in
    logits, _ = digit51.simulate(small_int_model, mnist_data.test_images[:1])
    want = [int(v) for v in logits[0]]
    out = result.stdout.str()
    assert "first mismatch: image 0" in out
    assert re.search(rf"\b3\s+{want[3] + 1000}\s+{want[3]}\s+\+1000\s+<--", out), out
    for c in (0, 9):  # unchanged classes show equal logits and no diff
        assert re.search(rf"\n[E ]\s+{c}\s+{want[c]}\s+{want[c]}\s*\n", out), out
    assert "other images that differ: 1, 2" in out


@pytest.mark.toolchain
def test_outside_suite_runs_a_layer_graph_the_same_way(pytester, data_dir, mnist_data, tmp_path):
    """The plugin's fixtures know layer graphs: the same outside suite on a CNN's firmware."""
    model = digit51.quantize(digit51.train(mnist_data, arch="avgpool2,conv3x3:2,maxpool2,dense:10", epochs=1), mnist_data)
    digit51.save_model(tmp_path / "cnn.q51", model)
    pytester.makeconftest(CONFTEST.format(model=str(tmp_path / "cnn.q51")))
    pytester.makepyfile(test_outside=OUTSIDE_SUITE)
    result = pytester.runpytest(f"--digit51-data={data_dir}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_outside.py::test_firmware_of_an_altered_model_is_caught*"])


def simulator_children() -> list[int]:
    """Process ids of s51 and socat processes whose parent is this process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            comm, fields = rest.rsplit(") ", 1)
        except (OSError, ValueError):
            continue
        if comm in ("s51", "socat") and int(fields.split()[1]) == os.getpid():
            found.append(int(pid))
    return found


TEARDOWN_SUITE = '''
import os
import signal

import pytest

import digit51
from procs_helper import simulator_children


@pytest.mark.parametrize("link", ["socket", "pty"])
def test_fails_while_booted(digit51_boot, digit51_firmware, link):
    board = digit51_boot(digit51_firmware, link=link)
    assert board.wait_ready().mode == "serve"
    assert len(simulator_children()) == 2  # s51 and socat (the UART carrier) on both links
    assert False, "deliberate failure while " + link + " board is up"


def test_read_times_out(digit51_board):
    digit51_board.wait_ready()
    digit51_board.read(timeout=1)  # the serve firmware waits for a frame that never comes


def test_interrupted_by_a_timeout_signal(digit51_board):
    def expire(signum, frame):
        pytest.fail("timed out (SIGALRM)")

    old = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        digit51_board.wait_ready()
        digit51_board.read(timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
'''


@pytest.mark.toolchain
def test_no_simulator_is_left_behind_when_a_test_fails_or_times_out(outside, data_dir):
    import inspect

    outside.makepyfile(procs_helper="import os\nfrom pathlib import Path\n\n" + inspect.getsource(simulator_children),
                       test_teardown=TEARDOWN_SUITE)
    assert simulator_children() == []
    result = outside.runpytest(f"--digit51-data={data_dir}", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines_random([
        "*AssertionError: deliberate failure while socket board is up",
        "*AssertionError: deliberate failure while pty board is up",
        "*no data from the firmware for 1 s*",
        "*Failed: timed out (SIGALRM)",
    ])
    assert simulator_children() == []


@pytest.mark.toolchain
def test_marker_skips_without_the_toolchain_and_fails_in_ci(pytester, monkeypatch, tmp_path):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.digit51_toolchain
        def test_needs_sdcc_and_s51():
            pass
    """)
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)  # the tools are here
    monkeypatch.setenv("CI", "true")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sdcc, packihx, s51, socat
    result = pytester.runpytest("-p", "no:cacheprovider", "-rfs")
    result.assert_outcomes(errors=1)  # failed in setup, before any fixture tries to build
    result.stdout.fnmatch_lines(["*sdcc, packihx, s51, socat not found on PATH*CI is set, so this fails instead of skipping*"])
    monkeypatch.delenv("CI")
    result = pytester.runpytest("-p", "no:cacheprovider", "-rfs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*digit51: sdcc, packihx, s51, socat not found on PATH (install with `apt-get install sdcc sdcc-ucsim socat`)"])


def test_model_fixture_left_undefined_says_what_to_do(pytester):
    pytester.makepyfile("def test_x(digit51_firmware):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `digit51_model` fixture in your conftest.py*"])
