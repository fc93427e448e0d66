"""The public Python API (`import digit51`) on its own terms: what it exports, model
files of both kinds, errors a user can fix, and a board behind a pyserial URL. Its
firmware paths run in test_plugin.py, test_sim.py and the README example
(test_packaging.py)."""

import inspect

import numpy as np
import pytest

import digit51
from digit51.firmware import protocol


def test_only_the_public_names_are_exported_each_documented_and_typed():
    assert sorted(dir(digit51)) == sorted(digit51.__all__)
    for name in digit51.__all__:
        obj = getattr(digit51, name)
        if callable(obj):
            assert inspect.getdoc(obj), f"digit51.{name} has no docstring"
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, f"digit51.{name}: no return type"
            for p in sig.parameters.values():
                assert p.annotation is not inspect.Parameter.empty or p.kind is p.VAR_KEYWORD, \
                    f"digit51.{name}({p.name}): no type hint"


def test_models_of_both_kinds_round_trip_and_simulate(small_int_model, mnist_data, tmp_path):
    digit51.save_model(tmp_path / "m.q51", small_int_model)
    q = digit51.load_model(tmp_path / "m.q51")
    assert isinstance(q, digit51.IntModel) and q.sizes == [49, 16, 10]
    logits, digits = digit51.simulate(q, mnist_data.test_images[:50])
    assert logits.dtype == np.int32 and logits.shape == (50, 10)
    assert (digits == logits.argmax(axis=1)).all() and (digits == mnist_data.test_labels[:50]).mean() > 0.6
    float_model = digit51.train(mnist_data, hidden=[8], pool=4, epochs=1, augment=0)
    digit51.save_model(tmp_path / "m.d51", float_model)
    assert isinstance(digit51.load_model(tmp_path / "m.d51"), digit51.FloatModel)
    (tmp_path / "junk").write_bytes(b"nothing")
    with pytest.raises(digit51.Digit51Error, match="not a digit51 artifact"):
        digit51.load_model(tmp_path / "junk")


def test_bad_options_raise_one_clear_error(small_int_model, mnist_data, tmp_path):
    with pytest.raises(digit51.Digit51Error, match="bad training option: .*pool must be one of"):
        digit51.train(mnist_data, pool=3)
    with pytest.raises(digit51.Digit51Error, match="bad training option: .*unexpected keyword argument 'layers'"):
        digit51.train(mnist_data, layers=2)
    with pytest.raises(digit51.Digit51Error, match="unknown target 'z80'"):
        digit51.build_firmware(small_int_model, tmp_path, target="z80")
    with pytest.raises(digit51.Digit51Error, match="selftest mode builds images into the firmware"):
        digit51.build_firmware(small_int_model, tmp_path, mode="selftest")
    with pytest.raises(digit51.Digit51Error, match="no such firmware"):
        digit51.run_in_ucsim(tmp_path / "none.ihx", mnist_data.test_images[:1])
    with pytest.raises(digit51.Digit51Error, match="cannot open /nonexistent/tty"):
        digit51.connect("/nonexistent/tty")


def test_connect_reads_checked_lines_from_any_pyserial_url():
    """loop:// echoes what is written: a valid line comes back as its record, a line
    with a broken checksum as a BadLine, an image frame (not a line) is never a result."""
    body = "pred img=3 digit=7 logits=" + ",".join(str(v) for v in range(-5, 5)) + " cycles=90000"
    line = f"{body} *{protocol.crc16(body.encode()):04X}\r\n".encode()
    with digit51.connect("loop://") as board:
        board.send_frame(line)
        assert board.read(5) == digit51.Prediction(3, 7, tuple(range(-5, 5)), 90000)
        board.send_frame(line.replace(b"digit=7", b"digit=1"))
        rec = board.read(5)
        assert isinstance(rec, digit51.BadLine) and rec.reason == "checksum mismatch"
        board.send_frame(b"ready mode=serve model=49-16-10 *0000\r\n")
        assert isinstance(board.read(5), digit51.BadLine) and board.ready is None
        assert len(digit51.image_frame(1, np.zeros((28, 28), np.uint8))) == 1 + 3 + 784 + 2


@pytest.mark.toolchain
def test_selftest_firmware_runs_its_built_in_images(small_int_model, mnist_data, digit51_build, digit51_boot):
    idx = [5, 6, 7]
    images, labels = mnist_data.test_images[idx], mnist_data.test_labels[idx]
    fw = digit51_build(small_int_model, mode="selftest", images=images, labels=labels, indices=idx)
    result = digit51.assert_bit_exact(digit51_boot(fw), small_int_model, images, idx)
    assert result.indices == idx and result.ready.mode == "selftest"
    assert result.done.correct == int((result.digits == labels).sum())
    with pytest.raises(AssertionError, match="first mismatch: image 5\n"):  # other images than those built in
        digit51.assert_bit_exact(digit51_boot(fw), small_int_model, mnist_data.test_images[[8, 9, 10]], idx)
