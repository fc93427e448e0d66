"""Behaviours a planted bug once slipped past (issue 19 item 9), each pinned here and by a
mutant in tests/mutations.py: how many times the host sends a frame before it gives up, a
late second answer to a frame sent twice, ties in the logits, the running accuracy around
unscored predictions, a prediction for the image one past the last label, the checksum of
an older-version model file, and a neuron's shift at the edge of int8."""

import io
import json
import time

import numpy as np
import pytest

from digit51.firmware import protocol, run
from digit51.firmware.monitor import Tally
from digit51.firmware.session import Session
from digit51.quantize import model_file, quantizer
from digit51.trainer import artifact
from digit51.trainer.errors import Digit51Error
from helpers import line


class Board:
    """A serial port whose far end answers the k-th frame written with replies[k] (bytes, or
    None for silence); what it says is read like a real port, in pieces."""

    def __init__(self, replies):
        self.replies, self.writes, self.buf = list(replies), [], bytearray()

    def write(self, frame: bytes) -> None:
        self.writes.append(bytes(frame))
        reply = self.replies[len(self.writes) - 1] if len(self.writes) <= len(self.replies) else None
        self.buf += reply or b""

    def flush(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        return len(self.buf)

    def read(self, n: int) -> bytes:
        if not self.buf:
            time.sleep(0.01)  # a port's read timeout, shortened
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def pred(img: int, logits, digit=None, cycles=1000) -> bytes:
    digit = int(np.argmax(logits)) if digit is None else digit
    return line(f"pred img={img} digit={digit} logits={','.join(map(str, logits))} cycles={cycles}")


IMAGES = np.zeros((2, 28, 28), np.uint8)


@pytest.mark.parametrize("tries", [1, 3, 5])
def test_the_host_sends_a_frame_exactly_as_many_times_as_it_says_before_giving_up(tries):
    board = Board([])  # never answers
    said = []
    with pytest.raises(Digit51Error) as e:
        run.exchange(Session(board), [7], IMAGES[:1], 0.05, lambda r: None, tries=tries, say=said.append)
    assert len(board.writes) == tries and all(w == board.writes[0] for w in board.writes)
    assert str(e.value) == f"no answer to image 7 within 0.05 s, {tries} times: check the cable, the baud rate and that the serve firmware runs"
    assert said == [f"no answer to image 7 within 0.05 s; sending it again (try {k} of {tries})" for k in range(2, tries + 1)]


def test_the_default_is_three_sends():
    board = Board([])
    with pytest.raises(Digit51Error, match=", 3 times: "):
        run.exchange(Session(board), [0], IMAGES[:1], 0.05, lambda r: None, say=lambda s: None)
    assert len(board.writes) == 3


LOG5 = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
LOG6 = [2, 7, 1, 8, 2, 8, 1, 8, 2, 8]  # ties: 7 wins at index 3, as the simulator's first maximum


def test_a_late_second_answer_to_a_frame_sent_twice_is_neither_recorded_nor_scored():
    """Image 5's first frame gets no answer in time; after the resend both answers arrive. The
    second one comes while image 6 is asked for (and once more before `done`): dropped, said."""
    board = Board([None, pred(5, LOG5) + pred(5, LOG5), pred(6, LOG6) + pred(5, LOG5), line("done images=4")])
    labels = np.array([0, 0, 0, 0, 0, 5, 3])
    out = io.StringIO()
    tally = Tally(labels, out=out, err=io.StringIO())
    tally.sending = True
    outcome, said = run.Outcome(), []

    def record(rec):
        outcome.add(rec)
        tally.show(rec)

    run.exchange(Session(board), [5, 6], IMAGES, 0.3, record, say=said.append)
    assert [(p.img, p.digit) for p in outcome.predictions] == [(5, 5), (6, 3)]
    assert said == ["no answer to image 5 within 0.3 s; sending it again (try 2 of 3)",
                    "dropped a second answer for image 5 (that frame was sent twice)",
                    "dropped a second answer for image 5 (that frame was sent twice)"]
    assert (tally.seen, tally.scored, tally.correct) == (2, 2, 2) and tally.problem() is None
    cmp = run.compare(outcome, [5, 6], np.array([LOG5, LOG6]), labels[[5, 6]])
    assert cmp.bit_exact and cmp.correct == 2
    assert len(board.writes) == 4  # image 5 twice, image 6 once, the quit frame once


def test_a_tie_resolved_as_the_simulator_does_is_consistent_and_scored():
    labels = np.array([3, 3])
    out = io.StringIO()
    t = Tally(labels, out=out, err=io.StringIO())
    for rec in protocol.LineReader().feed(pred(0, LOG6, digit=3) + pred(1, LOG6, digit=5)):
        t.show(rec)
    first, second = out.getvalue().splitlines()
    assert first == "img=0 digit=3 cycles=1000 label=3 ok  accuracy=100.00% (1/1)"
    assert second == "img=1 digit=5 cycles=1000 INCONSISTENT: the argmax of its logits is 3; not scored"
    assert (t.inconsistent, t.scored) == (1, 1)
    assert int(np.argmax(LOG6)) == 3  # the simulator's rule (quantize/ops.py argmax: first maximum)


def test_the_running_accuracy_counts_only_scored_predictions():
    labels = np.array([5, 3, 3])
    out = io.StringIO()
    t = Tally(labels, out=out, err=io.StringIO())
    stream = pred(0, LOG5) + pred(1, LOG6, digit=5) + pred(40000, LOG5) + pred(2, LOG6) + pred(1, LOG5)
    for rec in protocol.LineReader().feed(stream):
        t.show(rec)
    assert [l.split(" ", 3)[-1] for l in out.getvalue().splitlines()] == [
        "label=5 ok  accuracy=100.00% (1/1)",
        "INCONSISTENT: the argmax of its logits is 3; not scored",
        "(no test image 40000: not scored)",
        "label=3 ok  accuracy=100.00% (2/2)",
        "label=3 BAD accuracy=66.67% (2/3)",
    ]
    assert t.closing() == "monitor: 5 predictions, accuracy 66.67% over 3 scored, 1 inconsistent predictions, 0 corrupt lines, 0 rejected frames"


def test_a_prediction_for_the_image_one_past_the_last_label_is_not_scored():
    labels = np.array([5, 3])
    out = io.StringIO()
    t = Tally(labels, out=out, err=io.StringIO())
    t.images = np.zeros((2, 28, 28), np.uint8)  # --show: no picture for it either
    for rec in protocol.LineReader().feed(pred(1, LOG6) + pred(2, LOG5)):
        t.show(rec)
    assert out.getvalue().splitlines()[-1] == "img=2 digit=5 cycles=1000 (no test image 2: not scored)"
    assert (t.seen, t.scored) == (2, 1)


def older_version(model, path, flip: bool):
    """`model` written as version 2 of the int-model format (no deskew key, with a checksum)."""
    model_file.save(path, model)
    data = path.read_bytes()
    (hlen,) = np.frombuffer(data[8:12], "<u4")
    header = json.loads(data[12:12 + hlen])
    header["version"] = 2
    del header["meta"]["deskew"], header["sha256"]
    body = bytearray(data[12 + hlen:])
    packed = artifact.pack(header, bytes(body))
    if flip:
        packed = packed[:-50] + bytes([packed[-50] ^ 0x01]) + packed[-49:]
    path.write_bytes(packed)
    return path


def test_an_older_version_model_file_is_checksum_checked(small_int_model, tmp_path):
    assert 2 in model_file.OLDER
    good = model_file.load(older_version(small_int_model, tmp_path / "v2.q51", flip=False))
    assert good.deskew is False and all(np.array_equal(a, b) for a, b in zip(good.biases, small_int_model.biases))
    bad = older_version(small_int_model, tmp_path / "v2bad.q51", flip=True)
    with pytest.raises(Digit51Error) as e:
        model_file.load(bad)
    assert str(e.value) == f"{bad}: checksum mismatch, the file is corrupt (changed after it was written); {model_file.HINT}"


@pytest.mark.parametrize("ratio", [127.0, 126.99, 127.01, 127.5, 127.99, 128.0, 254.0, 254.5])
def test_a_neurons_shift_is_the_largest_that_keeps_its_weights_within_int8(ratio):
    """Weights with max |W| = ratio / 2^5 (s_in = s_out = 1): |W / s_w| = ratio * 2^(sh - 5).
    The chosen shift must keep it <= 127 and the next one up must not."""
    W = np.array([[ratio / 32, -0.001], [-ratio / 64, 0.0]])
    sh = quantizer._shifts(W, 1.0, 1.0, per_tensor=False).astype(int)
    top = np.abs(W).max(axis=1) * 2.0 ** sh
    assert np.all(top <= 127) and np.all(top * 2 > 127), (ratio, sh, top)
    assert sh[0] == (5 if ratio <= 127 else 4 if ratio <= 254 else 3)
