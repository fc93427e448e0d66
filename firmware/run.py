"""Run firmware on a serial port (ucsim or a board), collect its records, and compare
every prediction and logit with the Python integer simulator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digit51.firmware import protocol
from digit51.firmware.session import Session
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


def exchange(session: Session, indices, images: np.ndarray, timeout: float, on_record) -> None:
    """Send each image, one frame at a time, handing each answer to `on_record`; then
    the quit frame, handing on records up to `done`."""
    for idx, image in zip(indices, images):
        session.send_image(int(idx), image)
        on_record(session.next_record(timeout))
    session.send_quit()
    while True:
        rec = session.next_record(timeout)
        on_record(rec)
        if isinstance(rec, protocol.Done):
            return


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
