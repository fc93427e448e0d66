"""`digit51 monitor --send` against a fake board on 127.0.0.1 that answers frame by frame
(request and reply: no sleep needed): a rejected frame must be reported and make the exit
status 1, even when every line is valid; the frames it sends must carry a valid CRC."""

import socket
import subprocess
import sys
import threading

from digit51.firmware import protocol
from helpers import line

IMAGE_FRAME = 1 + 3 + protocol.IMAGE_BYTES + 2
QUIT_FRAME = 1 + 3 + 2


def recv_exactly(conn, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("monitor closed the connection mid-frame")
        data += chunk
    return data


def test_monitor_send_reports_a_rejected_frame_and_fails(data_dir, mnist_data):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    frames = []

    def board():  # rejects the first frame once, answers its resend and every other frame
        conn, _ = srv.accept()
        with conn:
            rejected = False
            while True:
                head = recv_exactly(conn, 2)
                if head[1] == protocol.KIND_QUIT:
                    frames.append(head + recv_exactly(conn, QUIT_FRAME - 2))
                    conn.sendall(line("done images=2"))
                    return
                frame = head + recv_exactly(conn, IMAGE_FRAME - 2)
                frames.append(frame)
                img = frame[2] | frame[3] << 8
                if not rejected:
                    rejected = True
                    conn.sendall(line(f"error img={img} reason=crc"))
                    continue
                label = int(mnist_data.test_labels[img])
                logits = ",".join("50" if k == label else "0" for k in range(10))  # consistent: the digit is their argmax
                conn.sendall(line(f"pred img={img} digit={label} logits={logits} cycles=1234"))

    t = threading.Thread(target=board, daemon=True)
    t.start()
    out = subprocess.run(
        [sys.executable, "-m", "digit51.firmware.app.cli", "monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}",
         "--send", "--images", "2", "--data", str(data_dir), "--timeout", "20"],
        capture_output=True, text=True, timeout=120,
    )
    t.join(5)
    srv.close()
    image = bytes([protocol.FRAME_MAGIC, protocol.KIND_IMAGE])
    assert [f[:4] for f in frames] == [image + b"\0\0", image + b"\0\0", image + b"\1\0",
                                       bytes([protocol.FRAME_MAGIC, protocol.KIND_QUIT, 0, 0])]  # frame 0 sent again
    assert all(protocol.crc16(f[1:]) == 0 for f in frames)
    assert frames[2][4:-2] == mnist_data.test_images[1].tobytes()
    assert out.returncode == 1, out.stderr
    assert [ln.split()[0] for ln in out.stdout.splitlines()] == ["img=0", "img=1"]
    assert "firmware rejected a frame (reason=crc; img=0 as it read it)" in out.stderr and "1 rejected frames" in out.stderr
    assert "0 corrupt lines" in out.stderr and "Traceback" not in out.stderr
    assert "INCONSISTENT" not in out.stdout  # the rejected frame alone makes the exit status 1
