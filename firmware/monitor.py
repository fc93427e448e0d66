"""`digit51 monitor PORT`: read prediction lines from a board (or ucsim), check each
checksum, print them with running accuracy; with --send, stream test images to a board
running the serve firmware. Data on stdout, status on stderr (pyserial miniterm style).

    python -m digit51.firmware.monitor /dev/ttyUSB0 --data ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import sys

import serial

from digit51.firmware import protocol
from digit51.firmware.run import exchange
from digit51.firmware.session import Session
from digit51.firmware.textart import beside
from digit51.trainer.errors import Digit51Error


class Tally:
    """Running accuracy over valid predictions; corrupt lines are counted, never scored."""

    def __init__(self, labels=None, out=sys.stdout, err=sys.stderr):
        self.labels, self.out, self.err = labels, out, err
        self.seen = self.correct = self.corrupt = self.frame_errors = 0
        self.images = None  # test images to draw beside each answer (--show)

    def show(self, rec) -> None:
        if isinstance(rec, protocol.Prediction):
            self.seen += 1
            line = f"img={rec.img} digit={rec.digit} cycles={rec.cycles}"
            if self.labels is not None and rec.img < len(self.labels):
                label = int(self.labels[rec.img])
                self.correct += rec.digit == label
                line += f" label={label} {'ok ' if rec.digit == label else 'BAD'} accuracy={100 * self.correct / self.seen:.2f}% ({self.correct}/{self.seen})"
            if self.images is not None and rec.img < len(self.images):  # --show
                line = beside(self.images[rec.img], line)
            print(line, file=self.out, flush=True)
        elif isinstance(rec, protocol.BadLine):
            self.corrupt += 1
            print(f"monitor: corrupt line ignored ({rec.reason}): {rec.text[:80]!r}", file=self.err, flush=True)
        elif isinstance(rec, protocol.FrameError):
            self.frame_errors += 1
            print(f"monitor: firmware rejected frame {rec.img} ({rec.reason})", file=self.err, flush=True)
        elif isinstance(rec, protocol.Ready):
            print(f"monitor: firmware ready: mode={rec.mode} model={rec.model}", file=self.err, flush=True)
        elif isinstance(rec, protocol.Done):
            print(f"monitor: firmware done: {rec.images} images", file=self.err, flush=True)

    def closing(self) -> str:
        acc = f", accuracy {100 * self.correct / self.seen:.2f}%" if self.labels is not None and self.seen else ""
        return f"monitor: {self.seen} predictions{acc}, {self.corrupt} corrupt lines, {self.frame_errors} rejected frames"


def listen(session: Session, tally: Tally, timeout: float, stop_at_done: bool = True) -> None:
    for rec in session.records(timeout):
        tally.show(rec)
        if stop_at_done and isinstance(rec, protocol.Done):
            return


def open_port(url: str, baud: int) -> serial.SerialBase:
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.2)
    except (serial.SerialException, ValueError) as e:
        raise Digit51Error(f"cannot open {url}: {e} (check the device name, or use socket://HOST:PORT)") from None


def cmd_monitor(a: argparse.Namespace) -> int:
    from digit51.trainer import mnist

    labels = data = None
    if a.send or a.data:
        data = mnist.load(a.data)
        labels = data.test_labels
    tally = Tally(labels)
    if a.show:
        if data is None:
            raise Digit51Error("--show draws MNIST test images: give --send or --data DIR")
        tally.images = data.test_images
    port = open_port(a.port, a.baud)
    try:
        session = Session(port)
        if a.send:
            indices = list(range(a.start, min(a.start + a.images, len(data.test_images))))
            exchange(session, indices, data.test_images[indices], a.timeout or 30.0, tally.show)
        else:
            listen(session, tally, a.timeout or float("inf"))
    finally:
        port.close()
        print(tally.closing(), file=sys.stderr)
    return 1 if tally.corrupt or tally.frame_errors else 0


def add_options(p: argparse.ArgumentParser) -> None:
    from digit51.trainer.cli import add_data_option

    p.add_argument("port", metavar="PORT", help="serial port or pyserial URL: /dev/ttyUSB0, COM3, socket://HOST:PORT, loop://")
    p.add_argument("--baud", type=int, default=9600, help="baud rate (default 9600, what the firmware uses)")
    add_data_option(p)
    p.add_argument("--send", action="store_true", help="stream test images to a board running the serve firmware")
    p.add_argument("--images", type=int, default=10, help="with --send: how many test images (default 10)")
    p.add_argument("--start", type=int, default=0, help="with --send: first test-image index (default 0)")
    p.add_argument("--show", action="store_true", help="draw each test image as text art beside its answer (needs --send or --data)")
    p.add_argument("--timeout", type=float, default=0.0, help="give up after this many seconds without data (default: wait for ever; 30 with --send)")
    p.set_defaults(func=cmd_monitor)


def register(sub) -> None:
    p = sub.add_parser("monitor", help="read predictions from a board over serial", description=__doc__.splitlines()[0])
    add_options(p)


def main(argv=None) -> int:
    from digit51.firmware.cli import main as digit51

    return digit51(["monitor", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
