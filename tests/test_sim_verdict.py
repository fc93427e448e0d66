"""`digit51 sim` says "bit-exact" only for a clean run (issue 19 item 10): when a line came
back corrupted (here one byte flipped on its way from the real firmware in s51), the
resent frame's answer may match the simulator, but the run is not called bit-exact."""

import io

import pytest

from digit51.firmware.host.board import RunResult
from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline
from digit51.firmware.host import run
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.firmware.host.session import Session
from digit51.firmware.sim.ucsim import Ucsim
from digit51.quantize import simulate

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

GENERIC = targets.get("generic-8052")


class NoisyLine:
    """The host's end of a serial line that flips one bit of byte AT of what it reads: past the
    telnet preamble and the ready line (under 50 bytes), inside the first answer."""

    AT = 70

    def __init__(self, port):
        self.port, self.count = port, 0

    def read(self, n: int) -> bytes:
        data = bytearray(self.port.read(n))
        if self.count <= self.AT < self.count + len(data):
            data[self.AT - self.count] ^= 0x01
        self.count += len(data)
        return bytes(data)

    def __getattr__(self, name):
        return getattr(self.port, name)


def test_a_run_with_a_corrupt_line_is_not_called_bit_exact(small_int_model, mnist_data, tmp_path):
    fw = build(small_int_model, BuildSpec.of(small_int_model, GENERIC, "serve"), tmp_path / "fw", "m")
    idx = [0, 1]
    images = mnist_data.test_images[idx]
    with Ucsim(fw.ihx, GENERIC, "socket") as sim:
        outcome = run.serve(Session(NoisyLine(sim.port)), idx, images, 60.0)
    logits, _ = simulate.run(small_int_model, images)
    cmp = run.compare(outcome, idx, logits, mnist_data.test_labels[idx])
    assert cmp.bit_exact and len(outcome.bad_lines) == 1  # every answer matched; one line arrived corrupted
    result = RunResult._from(outcome)
    result.firmware, result.comparison = [fw], cmp
    s = pipeline.summary(result, GENERIC)
    assert s["bit_exact"] is False and s["bad_lines"] == 1 and not pipeline.clean(s)
    out = io.StringIO()
    pipeline.print_summary(s, GENERIC, out)
    first = out.getvalue().splitlines()[0]
    assert "bit-exact" not in out.getvalue() and first.endswith(
        "every answer equal to the integer simulator's, but the serial line was not clean (below): not verified")
    assert "serial     1 corrupt lines, 0 frame errors" in out.getvalue()
