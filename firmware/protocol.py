"""The serial protocol between the firmware and the host: one source for both sides.

Firmware -> host: ASCII lines, one record each: `kind key=value ... *CCCC`. CCCC is the
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR; check value
0x29B1 for "123456789") of every byte from the first letter of the kind up to the last
character of the last value: not the " *" nor the CRC nor the line end. It is written as
four upper-case hex digits. Lines end in CR LF; the host ignores CRs, empty lines and
control bytes between lines. A serve-mode session from real firmware (model 49-16-10,
test image 7 sent once with one bit flipped, then intact, then the quit frame):

    ready mode=serve model=49-16-10 *A4B5
    error img=7 reason=crc *B323
    pred img=7 digit=9 logits=-12980,-21436,-16312,-8659,1696,-2500,-4574,-7035,-3386,5878 cycles=91135 *EAA8
    done images=1 *B131

Each key appears once in a line; a line with a key twice is corrupt (which value was meant
cannot be told).

- `ready`: first line after reset; `images=N` only in self-test mode (N embedded images).
- `pred`: `digit` is the argmax of the `logits`, one per class (ten for digits; the first maximum wins); `cycles` are
  machine cycles of this inference, counted by Timer 0.
- `error img=N reason=crc`: a frame failed its CRC. N is read from that same frame, which
  failed its check, so N may be wrong too: the host never trusts it to name an image; it
  sends the frame it sent last again. `crc` is the only reason current firmware sends
  (older firmware also sent `reason=kind` for a frame of unknown kind; now a byte after
  0xA5 that is neither 'I' nor 'Q' is skipped as noise). The host accepts any word.
- `done images=N correct=M`: the self-test ends; M counts digits equal to the embedded
  labels. In serve and stream mode the firmware has no labels: `done images=N`, without
  `correct=`, where N counts the images answered since the last `done`.

Host -> firmware (serve and stream mode), binary frames, answered one at a time:

    0xA5 'I' idx_lo idx_hi pixel[H*W] crc_hi crc_lo   classify one image (784 pixels for 28x28)
    0xA5 'Q' 0x00 0x00 crc_hi crc_lo                   finish: the firmware prints `done`

The frame CRC (same CRC-16) covers every byte between the magic and the CRC: the kind,
both index bytes and (for 'I') the H*W pixels of the model's input shape, row by row. It is sent high byte first.
The quit frame is always `A5 51 00 00 A5 62`. Only 0xA5 followed by 'I' or 'Q' starts a
frame: on any other byte after 0xA5 the firmware goes on hunting for 0xA5 from that byte,
so noise before a frame never costs the frame. The host sends the next frame only after
the reply line, so no flow control is needed on a real UART; a frame that gets no reply
within the timeout, or an `error` line or a corrupted line instead, is sent again (three
tries in all, each one said on stderr); a second reply to a frame sent twice is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FRAME_MAGIC = 0xA5
KIND_IMAGE = ord("I")
KIND_QUIT = ord("Q")
CRC_INIT = 0xFFFF
CRC_POLY = 0x1021
IMAGE_BYTES = 28 * 28  # an MNIST image; a model on other images takes H * W (up to MAX_IMAGE_BYTES)
MAX_IMAGE_BYTES = 64 * 64
MAX_CLASSES = 255


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE, bit by bit as the firmware computes it."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _frame(kind: int, idx: int, payload: bytes) -> bytes:
    body = bytes([kind, idx & 0xFF, idx >> 8]) + payload
    c = crc16(body)
    return bytes([FRAME_MAGIC]) + body + bytes([c >> 8, c & 0xFF])


def image_frame(idx: int, pixels: bytes) -> bytes:
    if not 1 <= len(pixels) <= MAX_IMAGE_BYTES or not 0 <= idx < 0xFFFF:
        raise ValueError(f"an image frame carries a 0..65534 index and 1..{MAX_IMAGE_BYTES} pixels")
    return _frame(KIND_IMAGE, idx, bytes(pixels))


def quit_frame() -> bytes:
    return _frame(KIND_QUIT, 0, b"")


@dataclass(frozen=True)
class Ready:
    mode: str
    model: str
    images: int | None = None


@dataclass(frozen=True)
class Prediction:
    img: int
    digit: int
    logits: tuple[int, ...]
    cycles: int


@dataclass(frozen=True)
class FrameError:
    img: int
    reason: str


@dataclass(frozen=True)
class Done:
    images: int
    correct: int | None = None


@dataclass(frozen=True)
class BadLine:
    """A line that failed its checksum or its grammar, or was cut off: never a result."""

    text: str
    reason: str


_LINE = re.compile(r"^(?P<body>(?P<kind>[a-z]+)(?: [a-z]+=[-0-9A-Za-z,:]+)*) \*(?P<crc>[0-9A-F]{4})$")
_INT = re.compile(r"^-?[0-9]+$")


def _int(v: str, lo: int, hi: int) -> int:
    if not _INT.match(v) or not lo <= int(v) <= hi:
        raise ValueError(v)
    return int(v)


def parse_line(text: str):
    """One record from one line (without CR LF), or BadLine saying why not."""
    m = _LINE.match(text)
    if not m:
        return BadLine(text, "not a digit51 line")
    if crc16(m["body"].encode()) != int(m["crc"], 16):
        return BadLine(text, "checksum mismatch")
    kind = m["kind"]
    pairs = [kv.split("=", 1) for kv in m["body"].split(" ")[1:]]
    fields = dict(pairs)
    if len(fields) != len(pairs):  # a repeated key: which value is meant cannot be told
        return BadLine(text, f"repeated key in a '{kind}' record")
    try:
        if kind == "pred" and set(fields) == {"img", "digit", "logits", "cycles"}:
            logits = tuple(_int(v, -(2**31), 2**31 - 1) for v in fields["logits"].split(","))
            if not 2 <= len(logits) <= MAX_CLASSES:
                raise ValueError("logits")
            return Prediction(_int(fields["img"], 0, 65535), _int(fields["digit"], 0, len(logits) - 1), logits,
                              _int(fields["cycles"], 0, 2**32 - 1))
        if kind == "ready" and {"mode", "model"} <= set(fields) <= {"mode", "model", "images"}:
            images = _int(fields["images"], 0, 65535) if "images" in fields else None
            return Ready(fields["mode"], fields["model"], images)
        if kind == "error" and set(fields) == {"img", "reason"}:
            return FrameError(_int(fields["img"], 0, 65535), fields["reason"])
        if kind == "done" and {"images"} <= set(fields) <= {"images", "correct"}:
            correct = _int(fields["correct"], 0, 65535) if "correct" in fields else None
            return Done(_int(fields["images"], 0, 65535), correct)
    except ValueError:
        pass
    return BadLine(text, f"malformed '{kind}' record")


TELNET_PREAMBLE = bytes([0xFF, 0xFB, 0x01, 0xFF, 0xFB, 0x03, 0x00])  # ucsim's -k socket


MAX_LINE = 4096  # bytes; the longest valid line (a pred with 255 32-bit logits) is under 3,200


class LineReader:
    """Turns a byte stream into records. Feed bytes as they come; call close() at EOF.

    Skips ucsim's telnet preamble (whole or a tail of it: a line starts with a letter),
    CRs, empty lines and control bytes between lines (terminal resets); anything else
    that is not a valid line becomes a BadLine. A line longer than MAX_LINE becomes one
    BadLine and the rest of it is dropped up to its end: memory stays bounded and every
    byte is looked at a bounded number of times, whatever arrives.
    """

    def __init__(self):
        self.buf = bytearray()
        self.started = False
        self.overlong = False  # dropping the rest of a line longer than MAX_LINE

    def feed(self, data: bytes) -> list:
        if not self.started:  # drop the telnet preamble, or what is left of it
            data = bytes(data).lstrip(bytes(set(TELNET_PREAMBLE)))
            if not data:
                return []
            self.started = True
        self.buf += data
        out, start = [], 0
        while (end := self.buf.find(b"\n", start)) >= 0:
            line, start = bytes(self.buf[start:end]), end + 1
            if self.overlong:
                self.overlong = False
                continue
            rec = self._line(line)
            if rec is not None:
                out.append(rec)
        del self.buf[:start]
        if len(self.buf) > MAX_LINE:
            if not self.overlong:
                out.append(BadLine(self.buf[:80].decode("ascii", "replace"), f"line longer than {MAX_LINE} bytes"))
                self.overlong = True
            self.buf.clear()
        return out

    def _line(self, raw: bytes):
        if len(raw) > MAX_LINE:
            return BadLine(raw[:80].decode("ascii", "replace"), f"line longer than {MAX_LINE} bytes")
        raw = raw.replace(b"\r", b"")
        stripped = raw.strip(bytes(range(0, 32)) + b"\x7f")
        if not raw.strip():
            return None
        try:
            text = stripped.decode("ascii")
        except UnicodeDecodeError:
            return BadLine(raw.decode("ascii", "replace"), "non-ASCII bytes")
        if any(not (32 <= b < 127) for b in stripped):
            return BadLine(text, "control bytes inside the line")
        return parse_line(text)

    def close(self) -> list:
        """Records left at EOF: a cut-off line is reported, trailing control bytes are not."""
        rest = bytes(self.buf).replace(b"\r", b"")
        self.buf.clear()
        if self.overlong:
            return []
        printable = bytes(b for b in rest if 32 <= b < 127 and b != 0x1B)
        if rest and (b"*" in rest or len(printable) > 3):
            return [BadLine(rest.decode("ascii", "replace"), "disconnected mid-line")]
        return []
