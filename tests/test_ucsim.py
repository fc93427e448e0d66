"""The simulator harness itself, with the real s51: a port taken by somebody else is
never mistaken for s51's, and a slow s51 gets to finish on its own."""

import os
import signal
import socket
import threading

import pytest

from digit51.firmware import protocol, targets, ucsim
from digit51.firmware.build import build
from digit51.firmware.session import Session
from digit51.firmware.ucsim import Ucsim

GENERIC = targets.get("generic-8052")


@pytest.fixture(scope="module")
def serve_fw(small_int_model, tmp_path_factory):
    return build(small_int_model, GENERIC, tmp_path_factory.mktemp("serve"), "serve", "m")


def test_a_port_taken_before_s51_binds_it_is_detected_and_another_tried(serve_fw, monkeypatch):
    squatter = socket.create_server(("127.0.0.1", 0))  # another program listens on the port we pick
    squatter.setblocking(False)
    picks = [squatter.getsockname()[1]]
    real = ucsim._free_port
    monkeypatch.setattr(ucsim, "_free_port", lambda: picks.pop(0) if picks else real())
    with squatter, Ucsim(serve_fw.ihx, GENERIC, "socket") as sim:
        s = Session(sim.port)
        assert isinstance(s.next_record(20), protocol.Ready)  # the firmware's own line: we talk to s51
        with pytest.raises(BlockingIOError):
            squatter.accept()  # nobody connected to the squatter
        s.send_quit()
        assert s.next_record(60) == protocol.Done(0)
    assert not picks


def resume(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:  # already gone: the assertions below say so
        pass


def test_a_slow_s51_finishes_on_its_own_after_the_firmware_stopped(serve_fw):
    """s51 frozen for 3 s after `done` (as under heavy load) still prints its state and
    exits by its own `kill` command, instead of being terminated after a fixed grace."""
    with Ucsim(serve_fw.ihx, GENERIC, "socket") as sim:
        s = Session(sim.port)
        assert isinstance(s.next_record(60), protocol.Ready)
        s.send_quit()
        assert s.next_record(60) == protocol.Done(0)
        proc = sim.s51
        os.kill(proc.pid, signal.SIGSTOP)
        threading.Timer(3.0, resume, (proc.pid,)).start()
    assert proc.returncode == 0
    assert sim.max_sp is not None
