"""`digit51 monitor PORT`: read prediction lines from a board (or ucsim), check each
checksum, print them with running accuracy; with --send, stream test images to a board
running the serve firmware. Data on stdout, status on stderr (pyserial miniterm style).
Exit status 0 only for a run that reached its `done` line with no corrupt line, no
rejected frame, no prediction whose digit is not the argmax of its logits, and as many
predictions as the `done` line counts (with --send, not more: a frame sent twice may be
answered twice, and the second answer is dropped).

    digit51 monitor /dev/ttyUSB0 --data ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import math
import sys

from digit51.firmware import protocol
from digit51.firmware import options
from digit51.firmware.options import selected
from digit51.firmware.host.run import exchange
from digit51.firmware.host.session import Session, open_port
from digit51.firmware.app.textart import beside
from digit51.trainer.errors import Digit51Error


class Tally:
    """Running accuracy over valid predictions; corrupt lines are counted, never scored.
    A prediction is scored only if its image has a label and its digit is the argmax of
    its logits (the first maximum, as the firmware and the simulator pick it)."""

    def __init__(self, labels=None, out=sys.stdout, err=sys.stderr):
        self.labels, self.out, self.err = labels, out, err
        self.seen = self.scored = self.correct = self.corrupt = self.frame_errors = self.inconsistent = 0
        self.done: protocol.Done | None = None
        self.images = None  # test images to draw beside each answer (--show)
        self.sending = False  # --send: the host drops a second answer to a frame it sent twice

    def _say(self, text: str) -> None:
        print(f"monitor: {text}", file=self.err, flush=True)

    def show(self, rec) -> None:
        if isinstance(rec, protocol.Prediction):
            self.seen += 1
            line = f"img={rec.img} digit={rec.digit} cycles={rec.cycles}"
            top = max(range(len(rec.logits)), key=rec.logits.__getitem__)
            if rec.digit != top:
                self.inconsistent += 1
                line += f" INCONSISTENT: the argmax of its logits is {top}; not scored"
            elif self.labels is not None and rec.img < len(self.labels):
                label = int(self.labels[rec.img])
                self.scored += 1
                self.correct += rec.digit == label
                line += f" label={label} {'ok ' if rec.digit == label else 'BAD'} accuracy={100 * self.correct / self.scored:.2f}% ({self.correct}/{self.scored})"
            elif self.labels is not None:
                line += f" (no test image {rec.img}: not scored)"
            if self.images is not None and rec.img < len(self.images):  # --show
                line = beside(self.images[rec.img], line)
            print(line, file=self.out, flush=True)
        elif isinstance(rec, protocol.BadLine):
            self.corrupt += 1
            self._say(f"corrupt line ignored ({rec.reason}): {rec.text[:80]!r}")
        elif isinstance(rec, protocol.FrameError):
            self.frame_errors += 1
            self._say(f"firmware rejected a frame (reason={rec.reason}; img={rec.img} as it read it)")
        elif isinstance(rec, protocol.Ready):
            self._say(f"firmware ready: mode={rec.mode} model={rec.model}")
        elif isinstance(rec, protocol.Done):
            self.done = rec
            self._say(f"firmware done: {rec.images} images")

    def closing(self) -> str:
        acc = f", accuracy {100 * self.correct / self.scored:.2f}% over {self.scored} scored" if self.scored else ""
        odd = f", {self.inconsistent} inconsistent predictions" if self.inconsistent else ""
        return f"monitor: {self.seen} predictions{acc}{odd}, {self.corrupt} corrupt lines, {self.frame_errors} rejected frames"

    def problem(self) -> str | None:
        """Why the run does not count as clean, or None."""
        if self.done is None:
            return ("nothing arrived from the firmware" if not (self.seen or self.corrupt or self.frame_errors)
                    else "the firmware stopped before its 'done' line")
        if self.corrupt or self.frame_errors or self.inconsistent:
            return "corrupt lines, rejected frames or inconsistent predictions (see above)"
        # listening, every answer must have arrived; sending, a frame sent twice may be answered twice
        if self.done.images < self.seen or (self.done.images != self.seen and not self.sending):
            return (f"the firmware says it answered {self.done.images} images but {self.seen} predictions arrived "
                    "(was the monitor started after the firmware?)")
        return None


def listen(session: Session, tally: Tally, timeout: float, stop_at_done: bool = True) -> None:
    for rec in session.records(timeout):
        tally.show(rec)
        if stop_at_done and isinstance(rec, protocol.Done):
            return


def _seconds(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise Digit51Error(f"--timeout {value}: give a positive, finite number of seconds")
    return value


def cmd_monitor(a: argparse.Namespace) -> int:
    from digit51.trainer import mnist

    timeout = _seconds(a.timeout)
    if not a.send and (a.start is not None or a.images is not None):
        raise Digit51Error("--start and --images choose the images to send: use them with --send")
    a.start = 0 if a.start is None else a.start
    a.images = 10 if a.images is None else a.images
    if a.show and not (a.send or a.data):
        raise Digit51Error("--show draws MNIST test images: give --send or --data DIR")
    labels = data = indices = None
    if a.send or a.data:
        data = mnist.load(a.data)
        labels = data.test_labels
    if a.send:
        indices = selected(a, len(data.test_images))
    tally = Tally(labels)
    tally.sending = a.send
    if a.show:
        tally.images = data.test_images
    port = open_port(a.port, options.baud_of(a))
    print(f"monitor: listening on {a.port} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        session = Session(port)
        if a.send:
            exchange(session, indices, data.test_images[indices], timeout or 30.0, tally.show, say=tally._say)
        else:
            listen(session, tally, timeout or float("inf"))
    except Digit51Error:
        print(tally.closing(), file=sys.stderr)
        raise
    finally:
        port.close()
    print(tally.closing(), file=sys.stderr)
    problem = tally.problem()
    if problem:
        raise Digit51Error(problem)
    return 0


def add_options(p: argparse.ArgumentParser) -> None:
    from digit51.trainer.cli import add_data_option

    options.add_port(p, positional=True, help="serial port or pyserial URL: /dev/ttyUSB0, COM3, socket://HOST:PORT, loop://")
    options.add_baud(p)
    options.add_firmware_dir(p)
    options.add_target(p, default=None, help="chip profile of the board (its default baud rate)")
    add_data_option(p)
    p.add_argument("--send", action="store_true", help="stream test images to a board running the serve firmware")
    options.add_images(p, None, help="with --send: how many test images (default 10)")
    p.add_argument("--show", action="store_true", help="draw each test image as text art beside its answer (needs --send or --data)")
    p.add_argument("--timeout", type=float, help="give up after this many seconds in which no byte arrives "
                   "(default: wait for ever; with --send 30, then the frame is sent again, up to 3 times)")
    p.set_defaults(func=cmd_monitor)


def register(sub) -> None:
    p = sub.add_parser("monitor", help="read predictions from a board over serial", description=__doc__.splitlines()[0])
    add_options(p)

