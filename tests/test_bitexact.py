"""run.compare, the bit-exactness check every firmware test relies on, must report each
kind of planted mismatch (and nothing on a clean run)."""

import numpy as np

from digit51.firmware import protocol
from digit51.firmware.host import run

LOGITS = np.array([[5, -3, 9, 0, 1, 2, 3, 4, 6, 7], [-1, 8, 0, 0, 0, 0, 0, 0, 0, 0]], np.int32)
LABELS = np.array([2, 0], np.uint8)


def outcome(*preds) -> run.Outcome:
    out = run.Outcome()
    for p in preds:
        out.add(p)
    return out


def pred(img, logits, digit=None, cycles=1000):
    logits = tuple(int(v) for v in logits)
    return protocol.Prediction(img, int(np.argmax(logits)) if digit is None else digit, logits, cycles)


def test_clean_run_counts_correct_and_cycles():
    c = run.compare(outcome(pred(7, LOGITS[0], cycles=100), pred(9, LOGITS[1], cycles=300)), [7, 9], LOGITS, LABELS)
    assert c.mismatches == [] and c.bit_exact
    assert (c.images, c.correct, c.mean_cycles) == (2, 1, 200.0)


def test_a_logit_off_by_one_with_the_same_digit_is_a_mismatch():
    planted = LOGITS[1].copy()
    planted[5] += 1  # argmax unchanged: only the logits can tell
    c = run.compare(outcome(pred(7, LOGITS[0]), pred(9, planted)), [7, 9], LOGITS, LABELS)
    assert [m[0] for m in c.mismatches] == [9] and "logits" in c.mismatches[0][1] and not c.bit_exact


def test_a_digit_that_is_not_the_argmax_is_a_mismatch():
    c = run.compare(outcome(pred(7, LOGITS[0], digit=8)), [7], LOGITS[:1], LABELS[:1])
    assert c.mismatches == [(7, "digit 8 is not the argmax of its logits")]


def test_missing_duplicate_and_unasked_answers_are_mismatches():
    c = run.compare(outcome(pred(7, LOGITS[0])), [7, 9], LOGITS, LABELS)
    assert c.mismatches == [(9, "no valid answer")]
    c = run.compare(outcome(pred(7, LOGITS[0]), pred(7, LOGITS[0]), pred(9, LOGITS[1])), [7, 9], LOGITS, LABELS)
    assert c.mismatches == [(7, "answered twice")]
    c = run.compare(outcome(pred(7, LOGITS[0]), pred(9, LOGITS[1]), pred(3, LOGITS[1])), [7, 9], LOGITS, LABELS)
    assert c.mismatches == [(3, "answer for an image that was not asked")]
