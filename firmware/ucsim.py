"""Run firmware in the ucsim 8051 simulator (s51) with its UART on a TCP socket or on a
pseudo-terminal made by socat, for pyserial to open. The processes are always cleaned
up: use Ucsim as a context manager."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import serial

from digit51.firmware.children import Children
from digit51.firmware.targets import Target
from digit51.trainer.errors import Digit51Error

# UART input needs check_often (else ucsim polls it rarely) and flowctrl (else bytes
# overrun SBUF, and 0x18 would open ucsim's menu); `run` returns when the firmware stops.
SETUP = "expr uart0_check_often=1\nexpr uart0_flowctrl=1\n"
RUN = "run\nstate\nkill\n"
LINKS = ("socket", "pty")
PORT_TRIES = 5     # ports tried when another process takes the picked one first
START_WAIT = 60.0  # seconds for s51 or socat to come up: only reached if they hang
STOP_WAIT = 60.0   # seconds for s51 to print its state and exit after the firmware stopped


def _free_port() -> int:
    """A port nobody listens on now; it may be taken before s51 binds it (checked after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listens(pid: int, port: int) -> bool | None:
    """Whether process `pid` itself holds a listening TCP socket on `port` (Linux /proc);
    None where /proc cannot tell."""
    try:
        fds = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        tables = [Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except OSError:
        return None
    for table in tables:
        for row in table.splitlines()[1:]:
            f = row.split()  # sl local_address rem_address st ... inode
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port and f"socket:[{f[9]}]" in fds:
                return True
    return False


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise Digit51Error(f"'{tool}' not found: install it with `apt-get install {package}` (or run `bash .ci/setup`)")
    return path


def batch(ihx: Path, s51_type: str, commands: str, timeout: float, what: str) -> tuple[str, bytes]:
    """Run s51 on `ihx` with `commands` on stdin and the UART into a file, no socket, for
    measurements (breakpoints, disassembly, execution counts): (console text, UART bytes).
    The firmware's stop hook (`xram[0xffff]`) is on; `what` names the job if it times out."""
    s51 = _need("s51", "sdcc-ucsim")
    with tempfile.TemporaryDirectory(prefix="digit51-s51-") as tmp:
        uart = Path(tmp) / "uart.txt"
        try:
            p = subprocess.run([s51, "-t", s51_type, "-I", "if=xram[0xffff]", "-S", f"in=/dev/null,out={uart}", str(ihx)],
                               input=commands, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Digit51Error(f"ucsim did not finish {what} within {timeout:.0f} s") from None
        return p.stdout + p.stderr, uart.read_bytes() if uart.exists() else b""


class Ucsim:
    """s51 running `ihx`; `.port` is an open pyserial port on its UART.

    Leaving the block normally means the firmware has stopped itself (after its `done`
    line): s51 then gets up to STOP_WAIT seconds to print its state and exit. Leaving it
    by an exception (or a signal) stops s51 and socat at once. Either way their process
    groups and the temp folder are gone afterwards."""

    def __init__(self, ihx: Path, target: Target, link: str = "socket"):
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}")
        if not Path(ihx).is_file():
            raise Digit51Error(f"{ihx}: no such firmware; build it with `digit51 build`")
        self.ihx, self.target, self.link = Path(ihx), target, link
        self.children = Children("digit51-ucsim-")
        self.procs = self.children.procs
        self.port: serial.SerialBase | None = None
        self.log: Path | None = None
        self.s51: subprocess.Popen | None = None
        self.max_sp: int | None = None  # highest stack pointer ucsim saw, once it has stopped

    def __enter__(self) -> "Ucsim":
        try:
            self.children.__enter__()
            self.log = self.children.tmp / "s51.log"
            self._start()
        except BaseException:
            self.close(stopping=False)
            raise
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(stopping=exc_type is None)

    def _s51(self, uart_args: list[str]) -> subprocess.Popen:
        s51 = _need("s51", "sdcc-ucsim")
        cmd = [s51, "-t", self.target.s51_type, "-I", "if=xram[0xffff]", *uart_args, str(self.ihx)]
        with open(self.log, "wb") as log:
            p = self.s51 = self.children.popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        p.stdin.write(SETUP.encode())
        p.stdin.flush()
        return p

    @staticmethod
    def _run(p: subprocess.Popen) -> None:
        p.stdin.write(RUN.encode())
        p.stdin.close()

    def _why(self) -> str:
        return self.log.read_text(errors="replace")[-300:].strip()

    def _listening_s51(self) -> tuple[subprocess.Popen, int]:
        """s51 listening on a port of its own. A port taken between the pick and s51's
        bind makes s51 say `bind: ...` (and carry on unbound): then try another port."""
        for _ in range(PORT_TRIES):
            port = _free_port()
            proc = self._s51(["-k", str(port)])
            deadline = time.monotonic() + START_WAIT
            while True:
                owned = _listens(proc.pid, port)
                if owned is not False:  # listening, or /proc cannot tell: connect and see
                    return proc, port
                if "bind:" in self.log.read_text(errors="replace"):
                    break  # somebody else has the port
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise Digit51Error(f"ucsim did not open its UART socket: {self._why()}")
                time.sleep(0.02)
            self.children.stop(proc)
        raise Digit51Error(f"ucsim found no free TCP port in {PORT_TRIES} tries: {self._why()}")

    def _start(self) -> None:
        if self.link == "socket":
            proc, port = self._listening_s51()
            deadline = time.monotonic() + START_WAIT
            while self.port is None:
                try:
                    self.port = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.2)
                except serial.SerialException:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise Digit51Error(f"ucsim did not open its UART socket: {self._why()}") from None
                    time.sleep(0.02)
            self._run(proc)  # only now: pyserial's open() discards input that arrived before it returned
            return
        socat = _need("socat", "socat")
        mcu, host = self.children.tmp / "mcu", self.children.tmp / "host"
        proc = self.children.popen([socat, f"pty,raw,echo=0,link={mcu}", f"pty,raw,echo=0,link={host}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_WAIT
        while not (mcu.exists() and host.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Digit51Error("socat did not create the pseudo-terminal pair")
            time.sleep(0.02)
        self.port = serial.Serial(str(host), 9600, timeout=0.2)  # a plain device path, like /dev/ttyUSB0
        self._run(self._s51(["-S", f"in={mcu},out={mcu}"]))  # the host side is open already

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def close(self, stopping: bool = False) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception:
                pass
        if stopping and self.s51 is not None:  # the firmware stopped itself: s51 prints `state`, then `kill`s itself
            try:
                self.s51.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                pass
        try:
            found = re.findall(r"Max value of stack pointer= 0x([0-9a-fA-F]+)", self.log.read_text(errors="replace"))
            self.max_sp = int(found[-1], 16) if found else None
        except (OSError, AttributeError):
            pass
        self.children.close()
