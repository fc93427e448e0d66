"""Run firmware on a serial port (ucsim or a board), collect its records, and compare
every prediction and logit with the Python integer simulator."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from digit51.firmware import protocol
from digit51.firmware.host.session import NoData, Session
from digit51.trainer.errors import Digit51Error


@dataclass
class Outcome:
    """Everything the firmware said in one run, sorted by kind."""

    predictions: list = field(default_factory=list)
    frame_errors: list = field(default_factory=list)
    bad_lines: list = field(default_factory=list)
    ready: protocol.Ready | None = None
    done: protocol.Done | None = None

    def add(self, rec) -> None:
        if isinstance(rec, protocol.Prediction):
            self.predictions.append(rec)
        elif isinstance(rec, protocol.FrameError):
            self.frame_errors.append(rec)
        elif isinstance(rec, protocol.BadLine):
            self.bad_lines.append(rec)
        elif isinstance(rec, protocol.Ready):
            self.ready = rec
        elif isinstance(rec, protocol.Done):
            self.done = rec


def selftest(session: Session, timeout: float) -> Outcome:
    """Read a self-test run to its `done` line (or EOF)."""
    out = Outcome()
    for rec in session.records(timeout):
        out.add(rec)
        if isinstance(rec, protocol.Done):
            break
    return out


TRIES = 3  # sends of one frame before giving up


def _say(text: str) -> None:
    print(f"digit51: {text}", file=sys.stderr, flush=True)


def _instead(rec, what: str) -> str:
    if isinstance(rec, protocol.FrameError):
        return f"the firmware rejected a frame (reason={rec.reason}) instead of answering {what}"
    if isinstance(rec, protocol.BadLine):
        return f"a corrupted line ({rec.reason}) came instead of the answer to {what}"
    return f"a '{type(rec).__name__.lower()}' record came instead of the answer to {what}"


def ask(session: Session, frame: bytes, what: str, is_answer, timeout: float, on_record,
        tries: int = TRIES, say=_say):
    """Send `frame` until a record that `is_answer` accepts comes back, at most `tries`
    times. A frame is sent again when no byte arrives for `timeout` seconds, or when the
    firmware answers with an error, a corrupted line or anything else that is not the
    answer; each resend is said through `say`. A prediction for another image is a late
    second answer to a frame sent twice: it is dropped. Every other record goes to
    `on_record`."""
    for attempt in range(1, tries + 1):
        session.send(frame)
        try:
            for rec in session.records(timeout):
                if is_answer(rec):
                    on_record(rec)
                    return rec
                if isinstance(rec, protocol.Prediction):
                    say(f"dropped a second answer for image {rec.img} (that frame was sent twice)")
                    continue
                on_record(rec)
                why = _instead(rec, what)
                break
            else:
                raise Digit51Error(f"the firmware closed the connection before answering {what}")
        except NoData:
            why = f"no answer to {what} within {timeout:g} s"
        if attempt < tries:
            say(f"{why}; sending it again (try {attempt + 1} of {tries})")
    raise Digit51Error(f"{why}, {tries} times: check the cable, the baud rate and that the serve firmware runs")


def exchange(session: Session, indices, images: np.ndarray, timeout: float, on_record,
             tries: int = TRIES, say=_say) -> None:
    """Send each image, one frame at a time (sent again if need be, see ask), handing
    each answer to `on_record`; then the quit frame, up to `done`."""
    for idx, image in zip(indices, images):
        idx = int(idx)
        frame = protocol.image_frame(idx, image.astype(np.uint8).tobytes())
        ask(session, frame, f"image {idx}", lambda r, i=idx: isinstance(r, protocol.Prediction) and r.img == i,
            timeout, on_record, tries, say)
    ask(session, protocol.quit_frame(), "the quit frame", lambda r: isinstance(r, protocol.Done),
        timeout, on_record, tries, say)


def serve(session: Session, indices, images: np.ndarray, timeout: float) -> Outcome:
    """Check the `ready` line, then exchange frames and collect the answers."""
    out = Outcome()
    out.add(session.next_record(timeout))
    if out.ready is None:
        raise Digit51Error("the firmware did not announce itself with a 'ready' line; is it the serve firmware?")
    exchange(session, indices, images, timeout, out.add)
    return out


@dataclass(frozen=True)
class Comparison:
    images: int
    mismatches: list  # (index, what) for every image whose answer differs or is missing
    correct: int
    mean_cycles: float
    max_cycles: int = 0  # cycles depend on the image with the sparse kernels: the worst one run

    @property
    def bit_exact(self) -> bool:
        return not self.mismatches

    @property
    def accuracy(self) -> float:
        return self.correct / self.images if self.images else 0.0


def compare(outcome: Outcome, indices, expected_logits: np.ndarray, labels: np.ndarray) -> Comparison:
    """Every expected image must have exactly one prediction with identical logits."""
    got = {}
    mismatches = []
    for p in outcome.predictions:
        if p.img in got:
            mismatches.append((p.img, "answered twice"))
        got[p.img] = p
    correct, cycles = 0, []
    for k, idx in enumerate(indices):
        p = got.pop(int(idx), None)
        want = tuple(int(v) for v in expected_logits[k])
        if p is None:
            mismatches.append((int(idx), "no valid answer"))
            continue
        if p.logits != want:
            mismatches.append((int(idx), f"logits {list(p.logits)} != simulator {list(want)}"))
        elif p.digit != int(np.argmax(expected_logits[k])):
            mismatches.append((int(idx), f"digit {p.digit} is not the argmax of its logits"))
        correct += p.digit == int(labels[k])
        cycles.append(p.cycles)
    for idx in got:
        mismatches.append((idx, "answer for an image that was not asked"))
    return Comparison(len(indices), mismatches, correct, float(np.mean(cycles)) if cycles else 0.0, max(cycles, default=0))
