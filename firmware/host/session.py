"""Talk to running firmware over any pyserial port: read records, send image frames.
Used alike for ucsim and real boards."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import numpy as np
import serial

from digit51.firmware import protocol
from digit51.trainer.errors import Digit51Error


def open_port(url: str, baud: int) -> serial.SerialBase:
    if url.startswith("socket://"):
        try:
            parts = urlsplit(url)
            ok = bool(parts.hostname) and parts.port is not None and 0 < parts.port
        except ValueError:
            ok = False
        if not ok:
            raise Digit51Error(f"{url}: a socket:// URL needs a host and a port number, e.g. socket://127.0.0.1:7777")
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.2)
    except (serial.SerialException, ValueError) as e:
        raise Digit51Error(f"cannot open {url}: {e} (check the device name, or use socket://HOST:PORT)") from None


class NoData(Digit51Error):
    """Nothing at all arrived for the timeout."""


class Session:
    def __init__(self, port: serial.SerialBase):
        self.port = port
        self.reader = protocol.LineReader()
        self.pending: list = []
        self.eof = False

    def _fill(self) -> bool:
        """Read what is there; whether any byte came."""
        try:
            # never ask for more than is there: a socket that closes drops what read(n) held
            data = self.port.read(self.port.in_waiting or 1)
        except (serial.SerialException, OSError):
            data, self.eof = b"", True
        if data:
            self.pending += self.reader.feed(data)
        elif self.eof:
            self.pending += self.reader.close()
        return bool(data)

    def records(self, timeout: float):
        """Yield records as they arrive until EOF, or NoData after `timeout` seconds in
        which not a single byte arrived (bytes that do not make a line yet count as data)."""
        last = time.monotonic()
        while True:
            while self.pending:
                last = time.monotonic()
                yield self.pending.pop(0)
            if self.eof:
                return
            if time.monotonic() - last > timeout:
                raise NoData(f"no data from the firmware for {timeout:g} s (is it running, at 9600 baud?)")
            if self._fill():
                last = time.monotonic()

    def next_record(self, timeout: float):
        """The next record (BadLines included); an error if the firmware goes away."""
        for rec in self.records(timeout):
            return rec
        raise Digit51Error("the firmware closed the connection before answering")

    def send(self, frame: bytes) -> None:
        self.port.write(frame)
        self.port.flush()

    def send_image(self, idx: int, image: np.ndarray) -> None:
        self.send(protocol.image_frame(idx, image.astype(np.uint8).tobytes()))

    def send_quit(self) -> None:
        self.send(protocol.quit_frame())
