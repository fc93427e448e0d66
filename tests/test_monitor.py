"""`digit51 monitor` against fake boards on 127.0.0.1 (real TCP peers): corruption and
disconnects are counted, never scored; `--send` reports a rejected frame and fails (the
fake board answers frame by frame, request and reply: no sleep needed) and its frames carry
a valid CRC; a `done` line that counts more images than the predictions seen fails the run
(issue 19 item 8); `--show` draws each answer beside its image; bad options are one line."""

import socket
import threading
import time

import numpy as np
import pytest

from digit51.firmware import protocol
from digit51.firmware.app.monitor import Tally
from digit51.firmware.app.textart import text_art
from helpers import PRED, cli, line, monitor, sends

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
    out = cli("monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}", "--send", "--images", "2", "--data", data_dir,
              "--timeout", "20", timeout=120)
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


def test_tally_counts_only_valid_predictions():
    import io

    labels = np.zeros(20, np.uint8)
    labels[12] = 5
    t = Tally(labels, out=io.StringIO(), err=io.StringIO())
    r = protocol.LineReader()
    bad = bytearray(line(PRED))
    bad[20] ^= 4
    for rec in r.feed(line(PRED) + bytes(bad) + line(PRED.replace("img=12", "img=1"))):
        t.show(rec)
    assert (t.seen, t.correct, t.corrupt) == (2, 1, 1)


def test_monitor_cli_over_a_socket_that_sends_corruption_and_disconnects(tmp_path):
    good2 = line(PRED.replace("img=12", "img=13"))
    flipped = bytearray(line(PRED.replace("img=12", "img=14")))
    flipped[flipped.index(b"99")] ^= 0x01  # 99 -> 89: still well-formed, only the CRC can tell
    payload = line(PRED) + bytes(flipped) + b"\x00\xff\xfe garbage\r\n" + good2 + line(PRED)[:25]
    code, out, err = monitor(sends(payload), "--timeout", "10", cwd=tmp_path)
    assert code == 1, err
    assert [l.split()[0] for l in out.splitlines()] == ["img=12", "img=13"]
    assert "checksum mismatch" in err and "disconnected mid-line" in err
    assert "2 predictions" in err and "3 corrupt lines" in err
    assert err.strip().splitlines()[-1] == "digit51: error: the firmware stopped before its 'done' line"


def test_monitor_fails_when_nothing_arrives_or_done_is_missing(tmp_path):
    code, out, err = monitor(sends(b""), cwd=tmp_path)
    assert code == 1 and out == "" and err.strip().splitlines()[-1] == "digit51: error: nothing arrived from the firmware"
    code, out, err = monitor(sends(line("ready mode=selftest model=x images=1") + line(PRED)), cwd=tmp_path)
    assert code == 1 and err.strip().splitlines()[-1] == "digit51: error: the firmware stopped before its 'done' line"


def pred(img: int, digit: int, top: int) -> bytes:
    logits = [0] * 10
    logits[top] = 50
    return line(f"pred img={img} digit={digit} logits={','.join(map(str, logits))} cycles=1000")


def test_monitor_scores_only_what_it_can_and_checks_the_digit_against_the_logits(tmp_path, data_dir, mnist_data):
    label0 = int(mnist_data.test_labels[0])
    clean = pred(0, label0, label0) + pred(20000, 1, 1) + line("done images=2")  # no test image 20000: not scored
    code, out, err = monitor(sends(clean), "--data", str(data_dir), cwd=tmp_path)
    assert code == 0, err
    assert "accuracy=100.00% (1/1)" in out.splitlines()[0] and "not scored" in out.splitlines()[1]
    assert "accuracy 100.00% over 1 scored" in err
    wrong = (label0 + 1) % 10  # says `wrong` while its logits say label0
    code, out, err = monitor(sends(pred(0, wrong, label0) + pred(0, label0, label0) + line("done images=2")),
                             "--data", str(data_dir), cwd=tmp_path)
    assert code == 1
    assert f"INCONSISTENT: the argmax of its logits is {label0}" in out.splitlines()[0]
    assert "accuracy 100.00% over 1 scored, 1 inconsistent predictions" in err


def test_monitor_timeout_counts_seconds_without_bytes_not_without_lines(tmp_path):
    """A line that trickles in over about 2 s is data all the way: --timeout 0.6 must not fire."""
    body = line(PRED) + line("done images=1")

    def trickle(conn):
        for k in range(0, len(body), 12):
            conn.sendall(body[k : k + 12])
            time.sleep(0.12)  # the pace of a slow line, not a synchronisation

    code, out, err = monitor(trickle, "--timeout", "0.6", cwd=tmp_path)
    assert code == 0, err
    assert out.split()[0] == "img=12"
    code, out, err = monitor(lambda conn: conn.recv(1), "--timeout", "0.3", cwd=tmp_path)  # silent until we hang up
    assert code == 1 and err.strip().splitlines()[-1].startswith("digit51: error: no data from the firmware for 0.3 s")


@pytest.mark.parametrize("args, says", [
    (["socket://127.0.0.1"], "needs a host and a port number"),
    (["socket://127.0.0.1:1", "--timeout", "nan"], "--timeout nan"),
    (["socket://127.0.0.1:1", "--timeout", "inf"], "--timeout inf"),
    (["socket://127.0.0.1:1", "--timeout", "-2"], "--timeout -2"),
    (["socket://127.0.0.1:1", "--timeout", "0"], "--timeout 0"),
    (["socket://127.0.0.1:1", "--start", "3"], "use them with --send"),
    (["socket://127.0.0.1:1", "--send", "--start", "-5"], "--start -5 --images 10 must select test images within 0..9999"),
    (["socket://127.0.0.1:1", "--send", "--start", "9995"], "--start 9995 --images 10 must select"),
    (["socket://127.0.0.1:1", "--send", "--images", "0"], "--images 0 must select"),
])
def test_monitor_refuses_bad_options_in_one_line(args, says, data_dir, capsys):
    from digit51.firmware.app.cli import main

    assert main(["monitor", *args, "--data", str(data_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("digit51: error: ") and says in err[0], err


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
    out = cli("monitor", f"socket://127.0.0.1:{srv.getsockname()[1]}", "--data", data_dir, "--show", "--timeout", "10", timeout=60)
    srv.close()
    lines = out.stdout.splitlines()
    assert len(lines) == 28, out.stdout
    for block, img in ((lines[:14], 3), (lines[14:], 5)):
        art = text_art(mnist_data.test_images[img])
        assert block[7].startswith(art[7] + "   img=" + str(img) + " digit=")
        assert [b.rstrip() for b in block[:7]] == [a.rstrip() for a in art[:7]]


def test_monitor_show_needs_images():
    out = cli("monitor", "loop://", "--show")
    assert out.returncode == 1 and "--show draws MNIST test images" in out.stderr and "Traceback" not in out.stderr


def test_done_with_more_images_than_predictions_seen_fails(tmp_path):
    code, out, err = monitor(sends(line("done images=65535")), cwd=tmp_path)
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == ("digit51: error: the firmware says it answered 65535 images but 0 predictions "
                                            "arrived (was the monitor started after the firmware?)")
    code, out, err = monitor(sends(line(PRED) + line("done images=2")), cwd=tmp_path)
    assert code == 1 and "answered 2 images but 1 predictions arrived" in err
    code, out, err = monitor(sends(line(PRED) + line(PRED.replace("img=12", "img=13")) + line("done images=1")), cwd=tmp_path)
    assert code == 1 and "answered 1 images but 2 predictions arrived" in err
    code, out, err = monitor(sends(line(PRED) + line("done images=1")), cwd=tmp_path)
    assert code == 0, err
