"""`digit51 monitor --show`: each answer beside its image as text art."""

import socket
import subprocess
import sys
import threading
import time

import numpy as np

from digit51.firmware import protocol
from digit51.firmware.app.textart import RAMP, text_art


def test_text_art_shape_and_levels():
    img = np.zeros((28, 28), np.uint8)
    img[4:8, 10:12] = 255
    img[20:22, :] = 128
    art = text_art(img)
    assert len(art) == 14 and all(len(r) == 28 for r in art)
    assert art[2][10:12] == art[3][10:12] == "@@" and art[2][9] == " "
    assert set(art[10]) == {RAMP[5]}  # 128 -> the middle of the ramp
    assert art[0] == " " * 28


def pred_line(img, digit):
    body = f"pred img={img} digit={digit} logits={','.join(['0'] * 10)} cycles=1234"
    return f"{body} *{protocol.crc16(body.encode()):04X}\r\n".encode()


def test_monitor_show_draws_each_image_beside_its_answer(mnist_data, data_dir):
    srv = socket.create_server(("127.0.0.1", 0))

    def board():
        conn, _ = srv.accept()
        time.sleep(0.5)  # pyserial's socket:// open() discards input that arrives before it returns
        with conn:
            conn.sendall(pred_line(3, 0) + pred_line(5, 1))

    threading.Thread(target=board, daemon=True).start()
    out = subprocess.run([sys.executable, "-m", "digit51.firmware.app.cli", "monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}",
                          "--data", str(data_dir), "--show", "--timeout", "10"], capture_output=True, text=True, timeout=60)
    srv.close()
    lines = out.stdout.splitlines()
    assert len(lines) == 28, out.stdout
    for block, img in ((lines[:14], 3), (lines[14:], 5)):
        art = text_art(mnist_data.test_images[img])
        assert block[7].startswith(art[7] + "   img=" + str(img) + " digit=")
        assert [b.rstrip() for b in block[:7]] == [a.rstrip() for a in art[:7]]


def test_monitor_show_needs_images():
    out = subprocess.run([sys.executable, "-m", "digit51.firmware.app.cli", "monitor", "loop://", "--show"], capture_output=True, text=True)
    assert out.returncode == 1 and "--show draws MNIST test images" in out.stderr and "Traceback" not in out.stderr
