"""The simulator harness itself, with the real s51: a port taken by somebody else is
never mistaken for s51's, and a slow s51 gets to finish on its own."""

import os
import signal
import socket
import threading

import pytest

from digit51.firmware import protocol
from digit51.firmware.chips import targets
from digit51.firmware.sim import ucsim
from digit51.firmware.host.session import Session
from digit51.firmware.sim.ucsim import Ucsim

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

GENERIC = targets.get("generic-8052")


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
    """s51 frozen for 3 s (as under heavy load) when the host leaves the block after its
    last frame still runs the firmware to its stop, prints its state and exits by its own
    `kill` command, instead of being terminated after a fixed grace."""
    with Ucsim(serve_fw.ihx, GENERIC, "socket") as sim:
        s = Session(sim.port)
        assert isinstance(s.next_record(60), protocol.Ready)
        proc = sim.s51
        os.kill(proc.pid, signal.SIGSTOP)
        threading.Timer(3.0, resume, (proc.pid,)).start()
        s.send_quit()  # the firmware stops only once s51 runs again
    assert proc.returncode == 0
    assert sim.max_sp is not None


def this_machines_address() -> str | None:
    """A non-loopback IPv4 address of this machine: the one a packet to a documentation
    address would leave from (a UDP connect sends nothing), else `hostname -I`'s first."""
    import subprocess

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))
            if not s.getsockname()[0].startswith("127."):
                return s.getsockname()[0]
        except OSError:
            pass
    try:
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout.split()
    except OSError:
        found = []
    return next((a for a in found if "." in a and not a.startswith("127.")), None)


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket process `pid` holds (IPv4 table, /proc)."""
    fds = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:  # closed between the listing and the read (s51 opens and closes files)
            pass
    out = []
    for row in open(f"/proc/{pid}/net/tcp").read().splitlines()[1:]:
        f = row.split()
        if f[3] == "0A" and f"socket:[{f[9]}]" in fds:
            host, port = f[1].split(":")
            out.append((socket.inet_ntoa(bytes.fromhex(host)[::-1]), int(port, 16)))
    return out


def test_no_other_machine_reaches_the_simulated_uart(serve_fw):
    """s51 listens on no socket at all; the only listener, socat's, is on 127.0.0.1 and
    closes once the host connects: a connection to this machine's other address is refused."""
    address = this_machines_address()
    assert address, "this machine has no non-loopback address: test_..._in_a_network_namespace covers that case"
    with Ucsim(serve_fw.ihx, GENERIC, "socket") as sim:
        port = int(sim.port.portstr.rsplit(":", 1)[1])
        assert listening_sockets(sim.s51.pid) == []
        for host in (address, "127.0.0.1"):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, port), timeout=10).close()
        s = Session(sim.port)
        assert isinstance(s.next_record(60), protocol.Ready)
        s.send_quit()
        assert s.next_record(60) == protocol.Done(0)


LISTENER_CHECK = """
import socket, sys
from pathlib import Path
from digit51.firmware.chips import targets
from digit51.firmware.sim.ucsim import Ucsim
sim = Ucsim(Path(sys.argv[1]), targets.get("generic-8052"), "socket")
with sim.children:
    _, port = sim.loopback_listener(sim.children.tmp / "mcu")
    try:
        socket.create_connection((sys.argv[2], port), timeout=10).close()
        print("accepted from", sys.argv[2])
    except ConnectionRefusedError:
        print("refused from", sys.argv[2])
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    print("accepted from 127.0.0.1")
"""


@pytest.mark.parametrize("where", ["this machine", "a network namespace of its own"])
def test_the_uart_listener_answers_this_machine_only(where, serve_fw):
    """While socat waits for the host, a connection to a non-loopback address of the
    machine is refused and one to 127.0.0.1 accepted. Without such an address (or to
    prove it anyway) the check runs in a fresh network namespace given one (unshare -rn)."""
    import shutil
    import subprocess
    import sys

    cmd = [sys.executable, "-c", LISTENER_CHECK, str(serve_fw.ihx)]
    if where == "this machine":
        address = this_machines_address()
        if address is None:
            pytest.skip("this machine has no non-loopback address: the network-namespace case covers it")
    else:
        if not shutil.which("unshare") or not shutil.which("ip"):
            pytest.skip("needs unshare (util-linux) and ip (iproute2) to make a network namespace")
        address = "192.0.2.77"  # TEST-NET-1, on the namespace's own loopback device
        cmd = ["unshare", "-rn", "sh", "-c", f'ip link set lo up && ip addr add {address}/32 dev lo && exec "$0" "$@"', *cmd]
    r = subprocess.run(cmd + [address], capture_output=True, text=True, timeout=120)
    if r.returncode and "unshare" in r.stderr:
        pytest.skip(f"no network namespace here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"refused from {address}", "accepted from 127.0.0.1"]
