"""One firmware in serve mode answering many images (28x28 for MNIST): in ucsim (built on the fly,
one simulator process for the object's lifetime) or on a board on a serial port. Every
answer comes with the integer simulator's logits for the same image. Calls are queued
(a lock); a failed exchange drops the link and the next call opens a new one."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digit51.codegen.spec import BuildSpec
from digit51.firmware.builder.fit import serving_mode
from digit51.firmware.host import pipeline
from digit51.firmware import protocol
from digit51.firmware.builder.sdcc import build
from digit51.firmware.host.board import Board, boot, connect
from digit51.firmware.chips.targets import Target
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel
from digit51.trainer.errors import Digit51Error

class ChipError(Digit51Error):
    """The firmware or its link failed (not the image): worth trying again."""


TIMEOUT = 60.0  # seconds without a byte from the firmware before a request fails


@dataclass(frozen=True)
class Answer:
    image: np.ndarray  # (H, W) uint8 sent: (28, 28) for MNIST
    pooled: np.ndarray  # 2-D uint8 the first layer sees (its first channel for a graph)
    digit: int
    logits: tuple[int, ...]  # the firmware's
    sim_logits: tuple[int, ...]  # the integer simulator's
    cycles: int
    seconds: float | None  # on a board: its Timer 0 at its clock; in ucsim: the cycles at the chip's clock on a
    # 12-clock part, None on a 1T part (ucsim's core is 12-clock: the chip's time is its table's, `digit51 fit`)

    @property
    def sim_digit(self) -> int:
        return int(np.argmax(self.sim_logits))

    @property
    def match(self) -> bool:
        return self.logits == self.sim_logits and self.digit == self.sim_digit

    def as_dict(self) -> dict:
        return {"digit": self.digit, "logits": list(self.logits), "sim_digit": self.sim_digit,
                "sim_logits": list(self.sim_logits), "match": self.match, "cycles": self.cycles,
                "seconds": self.seconds}


def add_options(p) -> None:
    """--port, --baud, --target: where the firmware runs and which chip it stands for."""
    from digit51.firmware import options

    options.add_port(p, help="serial port of a board running the serve firmware (default: ucsim)")
    options.add_baud(p, help="baud rate with --port")
    options.add_firmware_dir(p)
    options.add_target(p, help="chip profile: memory budgets, and the clock for time per digit")


class Chip:
    def __init__(self, model: IntModel, target: Target, source: str, port: str | None = None, baud: int = 9600):
        self.model, self.target, self.source, self.port_name, self.baud = model, target, source, port, baud
        self.mode = serving_mode(model, target)
        self.lock = threading.Lock()
        self.tmp: Path | None = None
        self.fw = None
        self.board: Board | None = None  # the running firmware: in s51, or the board on `port`
        self.next_idx = 0

    @property
    def where(self) -> str:
        return self.port_name or f"ucsim (s51 -t {self.target.s51_type})"

    def __enter__(self) -> "Chip":
        try:
            if not self.port_name:
                self.tmp = Path(tempfile.mkdtemp(prefix="digit51-chip-"))
                self.fw = build(self.model, BuildSpec.of(self.model, self.target, self.mode), self.tmp / "fw", self.source)
            with self.lock:
                self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self) -> None:
        if self.board is not None:
            return
        if self.port_name:
            self.board = connect(self.port_name, self.baud)
            return
        self.board = boot(self.fw, self.target)
        try:
            self.board.wait_ready(TIMEOUT)
        except Digit51Error:
            self._drop()
            raise

    @property
    def procs(self) -> list:
        """The simulator's processes (s51, socat) while the firmware runs in s51."""
        return self.board.procs if self.board is not None else []

    def _drop(self) -> None:
        board, self.board = self.board, None
        if board is None:
            return
        if self.port_name is None:
            try:  # the quit frame makes the firmware stop ucsim itself: a quick, clean exit
                board.send_quit()
            except Exception:
                pass
        try:
            board.close()
        except Exception:
            pass

    def classify(self, image: np.ndarray) -> Answer:
        """Send one uint8 image of the model's input shape (28x28 for MNIST); the firmware's
        answer beside the simulator's."""
        h, w = self.model.input_shape
        if image.shape != (h, w) or image.dtype != np.uint8:
            raise Digit51Error(f"an image for the firmware must be {h}x{w} uint8")
        sim_logits, _ = simulate.run(self.model, image[None])
        first = np.asarray(simulate.activations(self.model, image[None])[0])[0]  # what the first layer sees
        pooled = first[0] if first.ndim == 3 else first.reshape(h // self.model.pool, w // self.model.pool)
        with self.lock:
            try:
                self._open()
                idx = self.next_idx
                self.next_idx = (self.next_idx + 1) % 0xFFFF
                self.board.send_image(idx, image)
                rec = self.board.read(TIMEOUT)
                while isinstance(rec, protocol.Ready):  # a board that was reset says hello again
                    rec = self.board.read(TIMEOUT)
            except Digit51Error as e:
                self._drop()
                raise ChipError(f"{self.where}: {e}") from None
            except (OSError, ValueError) as e:  # pyserial: the port vanished
                self._drop()
                raise ChipError(f"{self.where}: the serial link failed ({e}); reconnect and try again") from None
        if isinstance(rec, protocol.FrameError):
            raise ChipError(f"the firmware rejected the image frame ({rec.reason}); try again")
        if isinstance(rec, protocol.BadLine):
            raise ChipError(f"the firmware's answer was corrupt ({rec.reason}): {rec.text[:60]!r}; try again")
        if not isinstance(rec, protocol.Prediction) or rec.img != idx:
            raise ChipError(f"unexpected reply from the firmware: {rec!r}")
        timed = self.port_name or self.target.timing == "classic12"
        return Answer(image, pooled, rec.digit, rec.logits, tuple(int(v) for v in sim_logits[0]), rec.cycles,
                      pipeline.seconds_per_digit(rec.cycles, self.target) if timed else None)

    def close(self) -> None:
        held = self.lock.acquire(timeout=2)  # a request still waiting on the firmware must not hold up the exit
        try:
            self._drop()
        finally:
            if held:
                self.lock.release()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
