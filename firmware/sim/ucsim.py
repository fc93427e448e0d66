"""Run firmware in the ucsim 8051 simulator (s51) with its UART on a TCP socket or on a
pseudo-terminal made by socat, for pyserial to open. The processes are always cleaned
up: use Ucsim as a context manager.

`start_s51` is the one way digit51 starts s51: in a Children (own process group, stopped
as a group, parent-death signal, temp folder removed). s51's UART is a file or a
pseudo-terminal, never a network socket: s51 0.6.4's `-k PORT` listens on every address
(0.0.0.0) and has no option to choose one, so the "socket" link is socat listening on
127.0.0.1 only, carrying the bytes to and from s51's pseudo-terminal."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import serial

from digit51.firmware.sim.children import Children
from digit51.firmware.chips.targets import Target
from digit51.trainer.errors import Digit51Error

# UART input needs check_often (else ucsim polls it rarely) and flowctrl (else bytes
# overrun SBUF, and 0x18 would open ucsim's menu); `run` returns when the firmware stops.
SETUP = "expr uart0_check_often=1\nexpr uart0_flowctrl=1\n"
RUN = "run\nstate\nkill\n"
LINKS = ("socket", "pty")
CLOCKS_PER_CYCLE = 12  # s51 models the classic 12-clock core only: `state`'s clks / 12 = machine cycles, on every target
PROBE = b"\x00"  # sent through socat before s51 starts (see Ucsim._start)
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


def start_s51(children: Children, ihx: Path, s51_type: str, uart_args: list[str], **popen_kw) -> subprocess.Popen:
    """s51 on `ihx` with the firmware's stop hook (`xram[0xffff]`) on, started in `children`."""
    s51 = _need("s51", "sdcc-ucsim")
    return children.popen([s51, "-t", s51_type, "-I", "if=xram[0xffff]", *uart_args, str(ihx)], **popen_kw)


def batch(ihx: Path, s51_type: str, commands: str, timeout: float, what: str) -> tuple[str, bytes]:
    """Run s51 on `ihx` with `commands` on stdin and the UART into a file, for
    measurements (breakpoints, disassembly, execution counts): (console text, UART bytes).
    `what` names the job if it times out."""
    with Children("digit51-s51-") as children:
        uart = children.tmp / "uart.txt"
        p = start_s51(children, ihx, s51_type, ["-S", f"in=/dev/null,out={uart}"],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(commands, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Digit51Error(f"ucsim did not finish {what} within {timeout:.0f} s") from None
        return out, uart.read_bytes() if uart.exists() else b""


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
        self.release: threading.Thread | None = None  # closes the pty's s51 side once s51 has exited
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

    def _s51(self, mcu: Path) -> subprocess.Popen:
        with open(self.log, "wb") as log:
            p = self.s51 = start_s51(self.children, self.ihx, self.target.s51_type, ["-S", f"in={mcu},out={mcu}"],
                                     stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        p.stdin.write((SETUP + RUN).encode())  # `run` returns when the firmware stops itself
        p.stdin.close()
        return p

    def _why(self, log: Path) -> str:
        return log.read_text(errors="replace")[-300:].strip()

    def loopback_listener(self, mcu: Path) -> tuple[subprocess.Popen, int]:
        """socat listening on 127.0.0.1 (only) on a port of its own; once a client
        connects it stops listening and makes the pseudo-terminal `mcu` for s51. A port
        taken between the pick and socat's bind: try another."""
        socat = _need("socat", "socat")
        log = self.children.tmp / "socat.log"
        for _ in range(PORT_TRIES):
            port = _free_port()
            # wait-slave: socat does not hold the pty's s51 side open itself (Ucsim holds it while s51
            # runs, see _start), so when s51 exits socat reads what s51 said, sees the hang-up and
            # closes the connection: the host learns at once, as it did from s51's own socket
            with open(log, "wb") as f:
                proc = self.children.popen([socat, f"TCP-LISTEN:{port},bind=127.0.0.1", f"pty,raw,echo=0,wait-slave,pty-interval=0.01,link={mcu}"],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
            deadline = time.monotonic() + START_WAIT
            while True:
                owned = _listens(proc.pid, port)  # True, or None where /proc cannot tell: connect and see
                if proc.poll() is not None:  # checked after: a socat that exited has no /proc to tell
                    if "Address already in use" in log.read_text(errors="replace"):
                        break  # somebody else has the port
                    raise Digit51Error(f"socat did not listen on 127.0.0.1: {self._why(log)}")
                if owned is not False:
                    return proc, port
                if time.monotonic() > deadline:
                    raise Digit51Error(f"socat did not listen on 127.0.0.1 within {START_WAIT:.0f} s")
                time.sleep(0.02)
            self.children.stop(proc)
        raise Digit51Error(f"found no free TCP port on 127.0.0.1 in {PORT_TRIES} tries: {self._why(log)}")

    def _start(self) -> None:
        mcu = self.children.tmp / "mcu"
        if self.link == "socket":
            proc, port = self.loopback_listener(mcu)
            deadline = time.monotonic() + START_WAIT
            while self.port is None:
                try:
                    self.port = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.2)
                except serial.SerialException:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise Digit51Error("socat did not take the connection on 127.0.0.1") from None
                    time.sleep(0.02)
            ready = [mcu]
        else:
            socat = _need("socat", "socat")
            host = self.children.tmp / "host"
            proc = self.children.popen([socat, f"pty,raw,echo=0,link={mcu}", f"pty,raw,echo=0,link={host}"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ready = [mcu, host]
        deadline = time.monotonic() + START_WAIT
        while not all(p.exists() for p in ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Digit51Error("socat did not create the pseudo-terminal for s51")
            time.sleep(0.02)
        if self.link == "pty":
            self.port = serial.Serial(str(host), 9600, timeout=0.2)  # a plain device path, like /dev/ttyUSB0
            self._s51(mcu)  # only now: the host's side is open, nothing s51 says is lost
            return
        # socat starts carrying bytes once it has seen the pty's s51 side open; s51 may open it, print
        # and exit between two of socat's looks: so it is held open here until s51 has exited, and s51
        # starts only once a probe byte written on that side has come through to the host
        held = os.open(mcu, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(held, PROBE)
            deadline = time.monotonic() + START_WAIT
            while (got := self.port.read(1)) != PROBE:
                if got or proc.poll() is not None or time.monotonic() > deadline:
                    raise Digit51Error(f"socat did not carry bytes from the pseudo-terminal (got {got!r})")
            s51 = self._s51(mcu)
        except BaseException:
            os.close(held)
            raise
        self.release = threading.Thread(target=self._release, args=(s51, held), daemon=True)
        self.release.start()

    @staticmethod
    def _release(s51: subprocess.Popen, held: int) -> None:
        s51.wait()
        os.close(held)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def close(self, stopping: bool = False) -> None:
        if stopping and self.s51 is not None:  # the firmware stopped itself: s51 prints `state`, then `kill`s itself
            try:  # before the port closes: socat then closes the pty, and that hangs s51 up
                self.s51.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                pass
        if self.port is not None:
            try:
                self.port.close()
            except Exception:
                pass
        try:
            found = re.findall(r"Max value of stack pointer= 0x([0-9a-fA-F]+)", self.log.read_text(errors="replace"))
            self.max_sp = int(found[-1], 16) if found else None
        except (OSError, AttributeError):
            pass
        self.children.close()
        if self.release is not None:
            self.release.join()  # s51 is gone: it returns at once
