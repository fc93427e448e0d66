"""Serve-mode framing against the real firmware in s51: noise before a frame never costs
the frame (the firmware resynchronises), and a frame lost on the line is sent again by
the host. Answers are compared logit for logit with the integer simulator."""


import numpy as np
import pytest

from digit51.firmware import protocol
from digit51.firmware.host import run
from digit51.firmware.chips import targets
from digit51.firmware.host.session import Session
from digit51.firmware.sim.ucsim import Ucsim
from digit51.quantize import simulate

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

GENERIC = targets.get("generic-8052")

# Each is sent just before a valid frame; none holds 0xA5 'I' or 0xA5 'Q' (a real frame start).
NOISE = [
    b"\xa5X",                              # the magic, then a bad kind, right before the frame
    b"\xa5",                               # a lone magic: the frame's own 0xA5 arrives as the "kind"
    b"\x00\xa5\xa5\xa5Z\x01\x02 line noise \xa5",
    b"\xa5\x00\x00\x00\x00",               # a bad kind followed by what looks like idx and CRC
]


def no_magic(mnist_data, n):
    """Test images without a 0xA5 pixel, so that no frame start hides in their pixels."""
    return [int(i) for i in np.flatnonzero(~(mnist_data.test_images == 0xA5).reshape(10000, -1).any(axis=1))[:n]]


def test_noise_with_the_magic_and_a_bad_kind_never_costs_the_next_frame(serve_fw, small_int_model, mnist_data):
    idx = no_magic(mnist_data, len(NOISE))
    logits, _ = simulate.run(small_int_model, mnist_data.test_images[idx])
    with Ucsim(serve_fw.ihx, GENERIC, "socket") as sim:
        s = Session(sim.port)
        assert isinstance(s.next_record(60), protocol.Ready)
        for k, (i, noise) in enumerate(zip(idx, NOISE)):
            s.send(noise + protocol.image_frame(i, mnist_data.test_images[i].tobytes()))
            rec = s.next_record(60)
            assert isinstance(rec, protocol.Prediction), (noise, rec)
            assert rec.img == i and rec.logits == tuple(int(v) for v in logits[k])
        s.send(b"\xa5\xa5" + protocol.quit_frame())
        assert s.next_record(60) == protocol.Done(len(NOISE))


class LossyLine:
    """The host's end of a serial line that loses bytes 100..199 of the first frame sent."""

    def __init__(self, port):
        self.port, self.writes = port, 0

    def write(self, data: bytes) -> None:
        if self.writes == 0:
            data = data[:100] + data[200:]
        self.writes += 1
        self.port.write(data)

    def __getattr__(self, name):
        return getattr(self.port, name)


def test_host_sends_a_lost_frame_again_and_says_so(serve_fw, small_int_model, mnist_data):
    """The cut frame leaves the firmware waiting (no answer: timeout, resend); the resend
    completes the cut frame, whose CRC fails (error line: resend); the third copy is
    answered. The next image goes through once."""
    idx = no_magic(mnist_data, 2)
    logits, _ = simulate.run(small_int_model, mnist_data.test_images[idx])
    said, records = [], []
    with Ucsim(serve_fw.ihx, GENERIC, "socket") as sim:
        s = Session(LossyLine(sim.port))
        assert isinstance(s.next_record(60), protocol.Ready)
        run.exchange(s, idx, mnist_data.test_images[idx], 5.0, records.append, tries=5, say=said.append)
    preds = [r for r in records if isinstance(r, protocol.Prediction)]
    assert [(p.img, p.logits) for p in preds] == [(i, tuple(int(v) for v in l)) for i, l in zip(idx, logits)]
    assert records[-1] == protocol.Done(2)
    assert said[0] == f"no answer to image {idx[0]} within 5 s; sending it again (try 2 of 5)", said
    assert said[1] == f"the firmware rejected a frame (reason=crc) instead of answering image {idx[0]}; sending it again (try 3 of 5)", said
    assert protocol.FrameError(idx[0], "crc") in records
