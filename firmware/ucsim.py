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

from digit51.firmware.targets import Target
from digit51.trainer.errors import Digit51Error

# UART input needs check_often (else ucsim polls it rarely) and flowctrl (else bytes
# overrun SBUF, and 0x18 would open ucsim's menu); `run` returns when the firmware stops.
SETUP = "expr uart0_check_often=1\nexpr uart0_flowctrl=1\n"
RUN = "run\nstate\nkill\n"
LINKS = ("socket", "pty")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise Digit51Error(f"'{tool}' not found: install it with `apt-get install {package}` (or run `bash .ci/setup`)")
    return path


class Ucsim:
    """s51 running `ihx`; `.port` is an open pyserial port on its UART."""

    def __init__(self, ihx: Path, target: Target, link: str = "socket"):
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}")
        if not Path(ihx).is_file():
            raise Digit51Error(f"{ihx}: no such firmware; build it with `digit51 build`")
        self.ihx, self.target, self.link = Path(ihx), target, link
        self.procs: list[subprocess.Popen] = []
        self.port: serial.SerialBase | None = None
        self.tmp = tempfile.mkdtemp(prefix="digit51-ucsim-")
        self.log = Path(self.tmp) / "s51.log"
        self.max_sp: int | None = None  # highest stack pointer ucsim saw, once it has stopped

    def __enter__(self) -> "Ucsim":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _s51(self, uart_args: list[str], run_now: bool) -> subprocess.Popen:
        s51 = _need("s51", "sdcc-ucsim")
        cmd = [s51, "-t", self.target.s51_type, "-I", "if=xram[0xffff]", *uart_args, str(self.ihx)]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        p.stdin.write(SETUP.encode())
        p.stdin.flush()
        self.procs.append(p)
        if run_now:
            self._run(p)
        return p

    @staticmethod
    def _run(p: subprocess.Popen) -> None:
        p.stdin.write(RUN.encode())
        p.stdin.close()

    def _start(self) -> None:
        deadline = time.monotonic() + 10
        if self.link == "socket":
            port = _free_port()
            proc = self._s51(["-k", str(port)], run_now=False)
            while True:
                try:
                    self.port = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.2)
                    # only now `run`: pyserial's open() discards input that arrived before it returned
                    self._run(proc)
                    return
                except serial.SerialException:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise Digit51Error(
                            f"ucsim did not open its UART socket: {self.log.read_text(errors='replace')[-300:]}"
                        ) from None
                    time.sleep(0.05)
        socat = _need("socat", "socat")
        mcu, host = os.path.join(self.tmp, "mcu"), os.path.join(self.tmp, "host")
        self.procs.append(subprocess.Popen(
            [socat, f"pty,raw,echo=0,link={mcu}", f"pty,raw,echo=0,link={host}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        while not (os.path.exists(mcu) and os.path.exists(host)):
            if time.monotonic() > deadline:
                raise Digit51Error("socat did not create the pseudo-terminal pair")
            time.sleep(0.02)
        self.port = serial.Serial(host, 9600, timeout=0.2)  # a plain device path, like /dev/ttyUSB0
        self._s51(["-S", f"in={mcu},out={mcu}"], run_now=True)  # the host side is open already

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception:
                pass
        for p in self.procs[-1:]:  # s51: let it finish `state` after the firmware stopped itself
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()
        try:
            found = re.findall(r"Max value of stack pointer= 0x([0-9a-fA-F]+)", self.log.read_text(errors="replace"))
            self.max_sp = int(found[-1], 16) if found else None
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)
