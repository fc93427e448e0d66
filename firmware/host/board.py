"""A running firmware seen from the host: in ucsim (s51) or on a board behind any
pyserial URL. One class for both, so a test written against the simulator runs
unchanged against a chip. The public face of this module is `digit51.Board`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digit51.firmware import protocol
from digit51.firmware.host import run
from digit51.firmware.chips import targets
from digit51.firmware.builder.artifacts import read_memory
from digit51.firmware.builder.sdcc import Firmware
from digit51.firmware.host.session import Session, open_port
from digit51.firmware.chips.targets import Target
from digit51.firmware.sim.ucsim import Ucsim
from digit51.trainer.errors import Digit51Error

DEFAULT_TIMEOUT = 30.0  # seconds without a byte from the firmware before giving up


@dataclass
class RunResult:
    """What the firmware answered, in the order it answered.

    `indices[k]` is the image index the firmware echoed with `logits[k]` (int32, one
    per class), `digits[k]` and `cycles[k]` (machine cycles of that inference, Timer 0).
    Lines that failed their checksum are in `bad_lines`, rejected frames in
    `frame_errors`; neither is ever counted as an answer.
    """

    indices: list[int]
    logits: np.ndarray
    digits: np.ndarray
    cycles: np.ndarray
    predictions: list[protocol.Prediction] = field(default_factory=list)
    ready: protocol.Ready | None = None
    done: protocol.Done | None = None
    bad_lines: list[protocol.BadLine] = field(default_factory=list)
    frame_errors: list[protocol.FrameError] = field(default_factory=list)
    stack_peak: int | None = None  # highest stack pointer s51 saw (simulated runs; internal RAM address)
    firmware: list = field(default_factory=list)  # the builds that ran (digit51 sim: one per self-test batch)
    comparison: run.Comparison | None = None  # set when the run was compared with the integer simulator
    wall_seconds: float = 0.0

    @classmethod
    def merged(cls, parts: list["RunResult"], **extra) -> "RunResult":
        """One result of several runs (self-test batches), in order; `done` sums theirs."""
        out = cls._from(run.Outcome(predictions=[p for r in parts for p in r.predictions],
                                    frame_errors=[e for r in parts for e in r.frame_errors],
                                    bad_lines=[b for r in parts for b in r.bad_lines],
                                    ready=parts[0].ready if parts else None))
        dones = [r.done for r in parts]
        if dones and all(d is not None for d in dones):
            correct = [d.correct for d in dones]
            out.done = protocol.Done(sum(d.images for d in dones), None if None in correct else sum(correct))
        out.stack_peak = max((r.stack_peak for r in parts if r.stack_peak is not None), default=None)
        for k, v in extra.items():
            setattr(out, k, v)
        return out

    @classmethod
    def _from(cls, outcome: run.Outcome) -> "RunResult":
        p = outcome.predictions
        return cls(
            [r.img for r in p],
            np.array([r.logits for r in p], np.int32).reshape(len(p), len(p[0].logits) if p else 0),
            np.array([r.digit for r in p], np.int64),
            np.array([r.cycles for r in p], np.int64),
            list(p), outcome.ready, outcome.done, list(outcome.bad_lines), list(outcome.frame_errors),
        )


def firmware_path(firmware: Firmware | str | Path) -> Path:
    """The .ihx (or Intel .hex) file of a Firmware or a path to one."""
    return firmware.ihx if isinstance(firmware, Firmware) else Path(firmware)


def target_of(firmware: Firmware | str | Path, target: Target | str | None) -> Target:
    """The target asked for, else the one the build recorded (memory.json), else the default."""
    if isinstance(target, Target):
        return target
    if target is not None:
        return targets.get(target)
    name = _record(firmware).get("target")
    return targets.get(name if isinstance(name, str) and name in targets.TARGETS else targets.DEFAULT_TARGET)


def _record(firmware: Firmware | str | Path) -> dict:
    """What the build recorded (memory.json beside the firmware file), or {} without one."""
    if isinstance(firmware, Firmware):
        return firmware.memory
    try:
        record = read_memory(Path(firmware).parent)
    except Digit51Error:
        return {}
    return record if isinstance(record, dict) else {}


class Board:
    """A firmware to talk to: read checked records, send image frames, classify images.

    Get one from `digit51.boot` (s51) or `digit51.connect` (any pyserial URL); use it as
    a context manager, or call `close()`, which stops the simulator processes.
    """

    def __init__(self, port, sim: Ucsim | None = None, stops_itself: bool = True):
        self.port = port  # the pyserial port, for raw writes (corrupted frames, noise)
        self._sim = sim
        self._stops_itself = stops_itself  # a simulator build stops s51 after `done`; a --hardware one never does
        self._session = Session(port)
        self.ready: protocol.Ready | None = None  # the firmware's `ready` line, once read
        self.done: protocol.Done | None = None  # its `done` line, once read

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the port; for a simulated board, stop s51 (and socat) for good. A firmware
        that said `done` stops s51 itself: s51 then gets the time to print its state (the
        stack peak) and exit; otherwise it is stopped at once."""
        if self._sim is not None:
            self._sim.close(stopping=self.done is not None and self._stops_itself)
        else:
            self.port.close()

    @property
    def procs(self) -> list:
        """The simulator's processes (s51, socat), none for a real board."""
        return list(self._sim.procs) if self._sim is not None else []

    @property
    def stack_peak(self) -> int | None:
        """Highest stack pointer s51 saw (internal RAM address); known after close()."""
        return self._sim.max_sp if self._sim is not None else None

    def read(self, timeout: float = DEFAULT_TIMEOUT):
        """The next record: Ready, Prediction, FrameError, Done, or BadLine for a line
        that failed its checksum or grammar. Raises Digit51Error after `timeout`
        seconds of silence or when the firmware goes away."""
        rec = self._session.next_record(timeout)
        if isinstance(rec, protocol.Ready):
            self.ready = rec
        elif isinstance(rec, protocol.Done):
            self.done = rec
        return rec

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT) -> protocol.Ready:
        """Read the firmware's `ready` line (it must be the first record)."""
        if self.ready is None:
            rec = self.read(timeout)
            if not isinstance(rec, protocol.Ready):
                raise Digit51Error(f"expected the firmware's 'ready' line, got {rec!r}; is it digit51 firmware?")
        return self.ready

    def send_image(self, index: int, image: np.ndarray) -> None:
        """Send one 28x28 uint8 image in a checksummed frame (serve and stream modes)."""
        self._session.send_image(int(index), np.asarray(image))

    def send_frame(self, frame: bytes) -> None:
        """Send raw bytes, e.g. a deliberately corrupted `digit51.image_frame`."""
        self.port.write(bytes(frame))
        self.port.flush()

    def send_quit(self) -> None:
        """Ask the serve firmware to finish; it answers with `done`."""
        self._session.send_quit()

    def classify(self, images: np.ndarray, indices: Sequence[int] | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> RunResult:
        """Send each image, one frame per answer, then the quit frame; collect up to `done`.

        `indices` (default 0..N-1) are echoed by the firmware with each answer. A
        simulated board first reads its `ready` line (the firmware ignores the UART
        before it); a real board is assumed to be up already.
        """
        images = np.asarray(images)
        indices = list(range(len(images))) if indices is None else [int(i) for i in indices]
        if len(indices) != len(images):
            raise Digit51Error(f"{len(indices)} indices for {len(images)} images")
        outcome = run.Outcome()
        if self._sim is not None:
            outcome.ready = self.wait_ready(timeout)
        run.exchange(self._session, indices, images, timeout, outcome.add)
        self.done = outcome.done or self.done
        return RunResult._from(outcome)

    def selftest(self, timeout: float = DEFAULT_TIMEOUT) -> RunResult:
        """Read a self-test firmware's run up to its `done` line."""
        outcome = run.selftest(self._session, timeout)
        self.ready = outcome.ready or self.ready
        self.done = outcome.done or self.done
        outcome.ready = self.ready
        return RunResult._from(outcome)

    def run(self, images: np.ndarray | None = None, indices: Sequence[int] | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> RunResult:
        """All the answers of one run: a simulated self-test firmware (its `ready` line
        says so) runs the images built into it; otherwise `images` are classified."""
        if self._sim is not None and self.wait_ready(timeout).mode == "selftest":
            return self.selftest(timeout)
        if images is None:
            raise Digit51Error("a serve or stream firmware needs the images to send")
        return self.classify(images, indices, timeout)


def boot(firmware: Firmware | str | Path, target: Target | str | None = None, link: str = "socket") -> Board:
    """Start s51 on the firmware with its UART on a TCP socket on 127.0.0.1 or a pty (both made by socat)."""
    sim = Ucsim(firmware_path(firmware), target_of(firmware, target), link)
    sim.__enter__()
    return Board(sim.port, sim, stops_itself=not _record(firmware).get("hardware", False))  # --hardware: no stop hook


def run_firmware(firmware: Firmware | str | Path, images: np.ndarray | None = None,
                 indices: Sequence[int] | None = None,
                 target: Target | str | None = None, link: str = "socket",
                 timeout: float = DEFAULT_TIMEOUT) -> RunResult:
    """Boot the firmware in s51 and collect its answers: a serve or stream firmware
    classifies `images` (sent one frame at a time), a self-test firmware runs the images
    built into it (`images` is not needed). s51 is stopped before this returns."""
    with boot(firmware, target, link) as board:
        result = board.run(images, indices, timeout)
    result.stack_peak = board.stack_peak
    return result


def connect(url: str, baud: int = 9600) -> Board:
    """A board on a serial port or pyserial URL: /dev/ttyUSB0, COM3, socket://HOST:PORT, loop://."""
    return Board(open_port(url, baud))
