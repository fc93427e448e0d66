"""`digit51 ui` and `digit51 classify` without a browser: bad requests, a port that
vanishes, image files. The browser test is tests/test_browser.py."""

import base64
import json
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from digit51.quantize import simulate
from helpers import cli, ui_start, ui_stop, ui_wait_exit


def post(url, body: bytes, headers=None):
    headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url + "api/classify", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def rgba_body(grey: np.ndarray) -> bytes:
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return json.dumps({"width": grey.shape[1], "height": grey.shape[0],
                       "rgba": base64.b64encode(rgba.tobytes()).decode()}).encode()


class VanishingPort:
    """A TCP 'serial port' that takes the image frame and then disconnects, every time."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                got = 0
                while got < 790:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    got += len(chunk)


def test_server_answers_bad_requests_clearly_and_keeps_serving(small_qmodel, small_int_model, mnist_data):
    port = VanishingPort()
    proc, url = ui_start(small_qmodel, "--port", port.url)
    try:
        cases = [
            (b"not json", 400, "not JSON"),
            (b'{"width": 28}', 400, "needs 'width', 'height' and 'rgba'"),
            (json.dumps({"width": 28, "height": 28, "rgba": "AAAA"}).encode(), 400, "needs 3136"),
            (json.dumps({"width": 0, "height": 28, "rgba": ""}).encode(), 400, "whole numbers"),
            (json.dumps({"width": 2, "height": 2, "rgba": "!!"}).encode(), 400, "base64"),
        ]
        for body, status, text in cases:
            code, reply = post(url, body)
            assert code == status and text in reply["error"], (body, reply)
        code, reply = post(url, b"{}", {"Content-Type": "text/plain"})
        assert code == 415 and "application/json" in reply["error"]
        req = urllib.request.Request(url, headers={"Host": "evil.example:80"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(req, timeout=10)
        code, reply = post(url, b"x" * 10, {"Content-Length": "999999999"})
        assert code == 413 and "request body must be" in reply["error"]
        code, reply = post(url, rgba_body(np.zeros((280, 280), np.uint8)))
        assert code == 200 and reply["blank"] and "blank" in reply["message"]
        for _ in range(2):  # the port vanishes mid-request, twice: a clear error each time, no hang
            code, reply = post(url, rgba_body(mnist_data.test_images[0]))
            assert code == 503 and "closed the connection" in reply["error"], reply
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"<canvas id=\"pad\"" in r.read()
    finally:
        rc = ui_stop(proc)
        port.sock.close()
    assert rc == 128 + signal.SIGTERM


@pytest.mark.toolchain
def test_queued_requests_a_killed_simulator_and_ctrl_c(small_qmodel, small_int_model, mnist_data):
    proc, url = ui_start(small_qmodel)
    try:
        images = mnist_data.test_images[:4]
        want = simulate.run(small_int_model, images)[0].tolist()
        replies = [None] * 4

        def ask(k):
            replies[k] = post(url, rgba_body(images[k]))

        threads = [threading.Thread(target=ask, args=(k,)) for k in range(4)]  # at once: the server queues them
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for k, (code, reply) in enumerate(replies):
            assert code == 200 and reply["logits"] == reply["sim_logits"] == want[k] and reply["image"] == images[k].reshape(-1).tolist()

        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        s51 = subprocess.run(["pgrep", "-P", str(proc.pid), "-x", "s51"], capture_output=True, text=True).stdout.split()
        assert len(children) == 2 and len(s51) == 1, "one simulator (s51, and socat carrying its UART) for the server's lifetime"
        subprocess.run(["kill", "-9", s51[0]], check=True)  # the simulator dies under the server
        code, reply = post(url, rgba_body(images[0]))
        assert code == 503 and "ucsim" in reply["error"], reply
        code, reply = post(url, rgba_body(images[1]))  # the next request starts a new one
        assert code == 200 and reply["logits"] == want[1]
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        proc.send_signal(signal.SIGINT)
        assert ui_wait_exit(proc) == 130
    finally:
        ui_stop(proc)
    for pid in children:
        assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0, f"s51 {pid} outlived the server"


@pytest.mark.toolchain
def test_classify_image_files(small_qmodel, small_int_model, mnist_data, tmp_path):
    from PIL import Image

    files, expect = [], []
    for k in (0, 1, 2):
        im = mnist_data.test_images[k]
        Image.fromarray(im).save(tmp_path / f"{k}.png")
        files.append(tmp_path / f"{k}.png")
        expect.append(simulate.run(small_int_model, im[None])[0][0].tolist())
    # dark ink on white paper, three times larger, as a JPEG
    Image.fromarray(255 - np.pad(np.kron(mnist_data.test_images[3], np.ones((3, 3), np.uint8)), 20)).save(tmp_path / "3.jpg", quality=95)
    files.append(tmp_path / "3.jpg")
    out = cli("classify", *files, "--model", small_qmodel, "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["image"] for r in rows] == [str(f) for f in files]
    for r, want in zip(rows, expect):  # MNIST images pass through the preprocessing unchanged here
        assert r["logits"] == r["sim_logits"] == want and r["match"]
    assert rows[3]["digit"] == int(np.argmax(simulate.run(small_int_model, mnist_data.test_images[3:4])[0]))


@pytest.mark.toolchain
def test_classify_in_ucsim_gives_no_1t_chips_time(small_qmodel, mnist_data, tmp_path):
    """ucsim runs a 12-clock core: on a 12-clock part the time is its cycles at the chip's clock,
    on a 1T part (CH559) the answer carries no time of the chip's (it was the cycles at one
    clock each) and the line says where the chip's own time is."""
    from PIL import Image

    Image.fromarray(mnist_data.test_images[0]).save(tmp_path / "0.png")
    rows = {}
    for name in ("generic-8052", "ch559"):
        out = cli("classify", tmp_path / "0.png", "--model", small_qmodel, "--target", name, "--json")
        assert out.returncode == 0, out.stderr
        rows[name] = json.loads(out.stdout)
    classic = rows["generic-8052"]
    assert classic["seconds"] == pytest.approx(classic["cycles"] * 12 / 11_059_200)
    assert rows["ch559"]["seconds"] is None and rows["ch559"]["logits"] == classic["logits"]
    out = cli("classify", tmp_path / "0.png", "--model", small_qmodel, "--target", "ch559")
    assert out.returncode == 0 and "cycles of ucsim's 12-clock core (ch559's own time: digit51 fit --target ch559)" in out.stdout


def test_classify_bad_files(small_qmodel, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for f in ("junk.png", "empty.jpg", "missing.png"):
        out = cli("classify", tmp_path / f, "--model", small_qmodel)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert out.stderr.startswith("digit51: error: ") and f in out.stderr, out.stderr


def raw_post(port: int, body: bytes, headers: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    """One POST on a fresh connection: (status, JSON reply); a reset or a closed connection raises."""
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/api/classify", body, {"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


@pytest.mark.toolchain
def test_a_hundred_clients_at_once_each_get_their_own_answer(small_qmodel, small_int_model, mnist_data):
    """100 connections opened at once (past the old listen queue of 5) are all queued and
    answered, each with the answer for its own image (a different MNIST image per client)."""
    proc, url = ui_start(small_qmodel)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    from digit51.firmware.app.mnist_style import to_mnist

    n = 100
    images = mnist_data.test_images[:n]
    shown = np.stack([to_mnist(im) for im in images])  # the host's preprocessing: a few pixels move by one
    want = simulate.run(small_int_model, shown)[0].tolist()
    replies: list = [None] * n
    go = threading.Barrier(n)

    def ask(k):
        go.wait()
        try:
            replies[k] = raw_post(port, rgba_body(images[k]), timeout=600)
        except OSError as e:
            replies[k] = e

    try:
        threads = [threading.Thread(target=ask, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
        failed = [(k, r) for k, r in enumerate(replies) if not isinstance(r, tuple) or r[0] != 200]
        assert failed == [], f"{len(failed)} of {n} not answered: {failed[:3]}"
        for k, (_, reply) in enumerate(replies):
            assert reply["image"] == shown[k].reshape(-1).tolist(), f"client {k} got another client's image"
            assert reply["logits"] == reply["sim_logits"] == want[k], k
    finally:
        rc = ui_stop(proc)
    assert rc == 128 + signal.SIGTERM


def threads_of(pid: int) -> int:
    return int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("Threads:")).split()[1])


@pytest.mark.toolchain
def test_idle_connections_are_bounded_and_timed_out(small_qmodel, mnist_data):
    """Connections that send nothing, or stop halfway through a body, hold at most
    MAX_CONNECTIONS threads and are closed after IDLE_TIMEOUT; then requests are answered."""
    from digit51.firmware.app.ui import IDLE_TIMEOUT, MAX_CONNECTIONS

    proc, url = ui_start(small_qmodel)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    held = []
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # the server's own threads are all up
            assert r.status == 200
        time.sleep(0.5)
        base = threads_of(proc.pid)
        for k in range(MAX_CONNECTIONS + 8):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if k % 2:  # headers, then a body that never arrives in full
                s.sendall(b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 5000\r\n\r\n{\"wid")
            held.append(s)
        time.sleep(2)
        assert threads_of(proc.pid) <= base + MAX_CONNECTIONS
        t0 = time.monotonic()
        for s in held:  # every one is closed by the server (an answer or a plain close), none left hanging
            s.settimeout(3 * IDLE_TIMEOUT + 30)
            while s.recv(4096):
                pass
        assert time.monotonic() - t0 < 3 * IDLE_TIMEOUT + 30
        code, reply = raw_post(port, rgba_body(mnist_data.test_images[0]))
        assert code == 200 and reply["logits"] == reply["sim_logits"]
    finally:
        for s in held:
            s.close()
        ui_stop(proc)


@pytest.mark.toolchain
def test_hostile_bodies_and_cross_site_posts_are_refused(small_qmodel):
    proc, url = ui_start(small_qmodel)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    try:
        deep = b"[" * 100_000 + b"]" * 100_000
        code, reply = raw_post(port, deep)
        assert code == 400 and "nested too deep" in reply["error"]
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"},
                        {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}):
            code, reply = raw_post(port, b"{}", headers)
            assert code == 403 and "own page only" in reply["error"], headers
        code, reply = raw_post(port, b"{}", {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"})
        assert code == 400 and "needs 'width'" in reply["error"]  # the page's own request gets through
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
    finally:
        rc = ui_stop(proc)
    err = proc.stderr.read()
    assert rc == 128 + signal.SIGTERM and "Traceback" not in err, err


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_a_port_that_is_no_port_is_one_line(port, small_qmodel):
    r = cli("ui", small_qmodel, "--no-browser", "--http-port", port, timeout=60)
    assert (r.returncode, r.stderr.splitlines()) == (1, [f"digit51: error: --http-port {port} is not a TCP port: give 1 to 65535, or 0 for any free one"])
