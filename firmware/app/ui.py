"""`digit51 ui QMODEL`: a local web page to draw a digit (or drop a PNG/JPEG) and watch the
8051 firmware answer, in ucsim or on a board. Standard-library HTTP server on 127.0.0.1,
Jinja2 page, one static script; nothing is fetched from the network.

    POST /api/classify  {"width": W, "height": H, "rgba": base64(W*H*4 bytes)}
                        -> {"image": [784], "deskewed": [784] or null, "pooled": [...], "digit", "logits",
                            "sim_logits", ...}
                           or {"blank": true, "message"} or HTTP 400/503 {"error"}
    POST /api/bye       the page is closing: stop unless another page shows up soon

Every POST must come from the page itself: a browser names the page that sent a request
(Origin, Sec-Fetch-Site), and a request another site's page sends is refused (403).

Load: at most MAX_CONNECTIONS connections are served at once, the rest wait in the listen
queue (LISTEN_QUEUE deep), never reset; a connection idle for IDLE_TIMEOUT seconds, or a
body not received within BODY_TIMEOUT, is closed. Memory: the width and height are checked
(at most MAX_SIDE) before anything is decoded; at most DECODING requests decode an image,
or read a body over SMALL_BODY, at once. So bodies in flight take at most
MAX_CONNECTIONS x SMALL_BODY + DECODING x MAX_BODY, and decoding DECODING x ~150 MB (a
2048x2048 request; tests/bench_ui_memory.py measures the whole server). Answers go to the client that asked: one request at a time reaches
the chip (its lock), and each is answered on its own connection.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import ctypes
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jinja2
import numpy as np

from digit51.firmware import options
from digit51.firmware.app import mnist_style
from digit51.firmware.chips import targets
from digit51.firmware.host.chip import Chip, ChipError
from digit51.firmware.host.chip import add_options as add_chip_options
from digit51.quantize import model_file as int_model_file
from digit51.quantize import simulate
from digit51.trainer import preprocess
from digit51.trainer.errors import Digit51Error

WEB = Path(__file__).with_name("web")
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
MAX_SIDE = 2048
MAX_BODY = MAX_SIDE * MAX_SIDE * 4 * 4 // 3 + 4096
BYE_GRACE = 3.0  # seconds a closed page has to come back (a reload) before the server stops
MAX_CONNECTIONS = 32  # connections served at once (one thread each)
LISTEN_QUEUE = 512  # connections waiting for a thread (the kernel caps it at net.core.somaxconn)
IDLE_TIMEOUT = 10.0  # seconds a connection may wait between requests or bytes
BODY_TIMEOUT = 30.0  # seconds to receive a whole request body
DECODING = 2  # requests decoding their image (and reading a body over SMALL_BODY) at once (memory)
SMALL_BODY = 1 << 20  # bytes: the pad's image; a bigger body is read in a decoding slot
BLANK = "The canvas is blank: draw a digit (or drop a PNG/JPEG of one) first."


def decode_request(body: bytes) -> np.ndarray:
    """A classify request body -> (H, W) grey pixels, or Digit51Error saying what is wrong."""
    try:
        req = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Digit51Error("the request body is not JSON") from None
    except RecursionError:
        raise Digit51Error("the request body is JSON nested too deep: send one flat object") from None
    if not isinstance(req, dict) or not {"width", "height", "rgba"} <= set(req):
        raise Digit51Error("the request needs 'width', 'height' and 'rgba' (base64 RGBA bytes)")
    w, h, data = req["width"], req["height"], req["rgba"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in (w, h)):
        raise Digit51Error(f"width and height must be whole numbers from 1 to {MAX_SIDE}")
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None:
        raise Digit51Error("'rgba' must be a base64 string")
    if len(raw) != w * h * 4:
        raise Digit51Error(f"'rgba' holds {len(raw)} bytes but {w}x{h} RGBA needs {w * h * 4}")
    return mnist_style.rgba_to_grey(np.frombuffer(raw, np.uint8).reshape(h, w, 4))


def first_side(model) -> int:
    """Side of what the first layer sees (the pooled image; a graph's input map), on 28x28."""
    first = np.asarray(simulate.activations(model, np.zeros((1, 28, 28), np.uint8))[0])
    return int(first.shape[-1]) if first.ndim == 4 else 28 // model.pool


class App:
    """What the handler threads share: the page, the chip, the shutdown timer."""

    def __init__(self, chip: Chip, model_name: str):
        self.chip, self.model_name = chip, model_name
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(WEB)), autoescape=True,
                                 undefined=jinja2.StrictUndefined)
        t = chip.target
        self.page = env.get_template("index.html.j2").render(
            model=model_name, target=t.name, target_description=t.description, where=chip.where,
            mode=chip.mode, clock_mhz=f"{t.clock_hz / 1e6:.4f}", side=first_side(chip.model),
            logit_scale=(chip.model.meta.get("layers") or [{}])[-1].get("logit_scale", ""),  # a logit step in float units
        ).encode()
        self.done = threading.Event()  # set by a closed page or a signal: the main thread then stops the server
        self.signum: int | None = None
        self.bye: threading.Timer | None = None
        self.bye_lock = threading.Lock()
        self.decoding = threading.BoundedSemaphore(DECODING)

    @staticmethod
    def image(body: bytes) -> np.ndarray | None:
        """The request's 28x28 MNIST-style image (None: blank)."""
        return mnist_style.to_mnist(decode_request(body))

    def classify(self, image: np.ndarray | None) -> dict:
        if image is None:
            return {"blank": True, "message": BLANK}
        ans = self.chip.classify(image)
        return dict(ans.as_dict(), image=ans.image.reshape(-1).tolist(), pooled=ans.pooled.reshape(-1).tolist(),
                    side=int(ans.pooled.shape[0]), deskewed=self.deskewed(ans.image))

    def deskewed(self, image: np.ndarray) -> list[int] | None:
        """The 28x28 the chip pools when the model deskews (the integer spec), else None."""
        return preprocess.deskew(image[None])[0].reshape(-1).tolist() if self.chip.model.deskew else None

    def seen(self) -> None:
        """Any request: a page is (still or again) open."""
        with self.bye_lock:
            if self.bye is not None:
                self.bye.cancel()
                self.bye = None

    def page_closed(self) -> None:
        with self.bye_lock:
            if self.bye is not None:
                self.bye.cancel()
            self.bye = threading.Timer(BYE_GRACE, self.stop)
            self.bye.daemon = True
            self.bye.start()

    def stop(self) -> None:
        print("digit51 ui: the page was closed; stopping", file=sys.stderr, flush=True)
        self.done.set()

    def on_signal(self, signum, frame) -> None:
        # Only a flag: an exception raised from a signal handler is lost when it lands in a
        # finalizer (__del__ of a dropped serial port), which once left the server running.
        self.signum = signum
        self.done.set()


def handler(app: App):
    class Handler(BaseHTTPRequestHandler):
        server_version = "digit51"
        timeout = IDLE_TIMEOUT  # the socket's: a connection that sends nothing for this long is closed

        def log_message(self, *args) -> None:  # quiet: the terminal shows what matters
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page went away; nothing to tell it

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _foreign(self) -> bool:
            """Refuse requests addressed to another host name (DNS rebinding): only 127.0.0.1 and localhost."""
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if host in ("127.0.0.1", "localhost"):
                return False
            self._send(HTTPStatus.FORBIDDEN, b"digit51 ui answers on 127.0.0.1 only\n", "text/plain")
            return True

        def _cross_site(self) -> bool:
            """Refuse a POST another page sent: a browser names the sender in Origin and
            Sec-Fetch-Site on every POST, even `mode: 'no-cors'` ones; a client that is no
            browser sends neither, and no web page can make it send anything."""
            origin, site = self.headers.get("Origin"), self.headers.get("Sec-Fetch-Site")
            if (origin is None or origin == f"http://{self.headers.get('Host')}") and site in (None, "same-origin", "none"):
                return False
            self.close_connection = True
            self._json(HTTPStatus.FORBIDDEN, {"error": "digit51 ui takes POST requests from its own page only"})
            return True

        def _body(self, n: int) -> bytes | None:
            """The n-byte body, or None when it does not arrive within BODY_TIMEOUT."""
            deadline = time.monotonic() + BODY_TIMEOUT
            parts, got = [], 0
            while got < n and time.monotonic() < deadline:
                part = self.rfile.read1(min(n - got, 1 << 16))
                if not part:
                    break
                parts.append(part)
                got += len(part)
            return b"".join(parts) if got == n else None

        def do_GET(self) -> None:
            if self._foreign():
                return
            app.seen()
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, app.page, "text/html; charset=utf-8")
            elif path.startswith("/static/") and path[8:] in STATIC:
                self._send(200, (WEB / path[8:]).read_bytes(), STATIC[path[8:]])
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if self._foreign() or self._cross_site():
                return
            if path == "/api/bye":
                app.page_closed()
                self._send(204, b"", "text/plain")
                return
            app.seen()
            if path != "/api/classify":
                self._json(404, {"error": f"no such endpoint {path}"})
                return
            if self.headers.get_content_type() != "application/json":  # other pages cannot send this without asking (CORS)
                self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send the image as Content-Type: application/json"})
                return
            try:
                n = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "the request needs a Content-Length"})
                return
            if not 0 < n <= MAX_BODY:
                self.close_connection = True
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if n > 0 else HTTPStatus.BAD_REQUEST,
                           {"error": f"the request body must be 1 to {MAX_BODY} bytes, not {n}"})
                return
            try:
                # a small body (the pad) is read freely; a big one (a dropped photo) only in a decoding
                # slot, so slow senders of small bodies hold up nobody and memory stays bounded
                body = self._body(n) if n <= SMALL_BODY else None
                with app.decoding:
                    if n > SMALL_BODY:
                        body = self._body(n)
                    if body is None:
                        self.close_connection = True
                        self._json(HTTPStatus.REQUEST_TIMEOUT, {"error": f"the request body did not arrive within {BODY_TIMEOUT:.0f} s"})
                        return
                    image = app.image(body)
                del body
                self._json(200, app.classify(image))
            except ChipError as e:
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(e)})
            except Digit51Error as e:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            except (TimeoutError, ConnectionError):
                self.close_connection = True  # the client went quiet or away mid-body

    return Handler


class Server(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS at once: the next connection is
    accepted when one ends, and until then waits in the listen queue."""

    request_queue_size = LISTEN_QUEUE
    daemon_threads = True

    def __init__(self, address):
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.stopping = threading.Event()
        super().__init__(address, None)

    def shutdown(self) -> None:
        self.stopping.set()  # a wait for a free slot must not hold up the stop
        super().shutdown()

    def process_request(self, request, client_address) -> None:
        while not self.slots.acquire(timeout=0.2):
            if self.stopping.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _exit_watchdog(chip: Chip, seconds: float = 10.0) -> None:
    """Whatever happens while stopping, the process ends: after `seconds` it prints every
    thread's stack (to find what held it up), kills the simulator and exits."""
    def fire():
        print(f"digit51 ui: still stopping after {seconds:.0f} s; thread stacks follow, exiting", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for p in chip.procs:
            p.kill()
        os._exit(1)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def _give_back_big_buffers() -> None:
    """glibc raises its mmap threshold after a big buffer is freed, then keeps big buffers in
    per-thread heaps: the server's memory grew with every thread that had decoded a big
    image (8 clients sending 2048x2048 at once: 631 MB peak, 2 decoding at a time). A fixed
    1 MiB threshold maps every buffer that big and unmaps it when freed (the same: 359 MB)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD (<malloc.h>)
        except (OSError, AttributeError):  # a C library without mallopt: only the bound on decoding holds
            pass


def cmd_ui(a: argparse.Namespace) -> int:
    if not 0 <= a.http_port <= 65535:
        raise Digit51Error(f"--http-port {a.http_port} is not a TCP port: give 1 to 65535, or 0 for any free one")
    model = int_model_file.load(a.qmodel)
    if tuple(model.input_shape) != (28, 28):
        raise Digit51Error(f"the page draws 28x28 digits but this model takes {model.input_shape[0]}x{model.input_shape[1]} images: "
                           "use `digit51 classify` for it")
    target = targets.get(a.target)
    _give_back_big_buffers()
    name = model.name
    try:
        server = Server(("127.0.0.1", a.http_port))
    except OSError as e:
        raise Digit51Error(f"cannot listen on 127.0.0.1:{a.http_port} ({e.strerror}); choose another --http-port, or 0 for any free one") from None
    try:
        if not a.port:
            print(f"digit51 ui: building the serve firmware for {target.name} and starting ucsim", file=sys.stderr, flush=True)
        with Chip(model, target, Path(a.qmodel).name, a.port, options.baud_of(a)) as chip:
            app = App(chip, name)
            server.RequestHandlerClass = handler(app)
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            print(f"digit51 ui: model {name} on {chip.where} ({target.name}); open {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
            if not a.no_browser:
                threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
            old = {s: signal.signal(s, app.on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            serving.start()
            try:
                while not app.done.wait(0.5):
                    pass
            finally:
                _exit_watchdog(chip)
                for s, h in old.items():
                    signal.signal(s, h)
                server.shutdown()
    finally:
        server.server_close()
    if app.signum is not None:
        print(f"digit51 ui: stopped by signal {app.signum}", file=sys.stderr)
        return 128 + app.signum
    return 0


def register(sub) -> None:
    p = sub.add_parser("ui", help="web page: draw a digit, the 8051 (ucsim or a board) answers",
                       description="Serve a local web page on 127.0.0.1 where you draw a digit (mouse, pen or touch) "
                                   "or drop a PNG/JPEG; the firmware classifies it in ucsim or on the board on --port, "
                                   "beside the integer simulator's answer.")
    p.add_argument("qmodel", metavar="QMODEL", help="integer model from `digit51 quantize`")
    add_chip_options(p)
    p.add_argument("--http-port", type=int, default=0, metavar="N", help="port of the page on 127.0.0.1 (default: any free one)")
    p.add_argument("--no-browser", action="store_true", help="print the address only; do not open a browser")
    p.set_defaults(func=cmd_ui)
