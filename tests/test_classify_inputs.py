"""`digit51 classify` on hostile inputs (issue 19 item 5): a huge picture in a small file is
refused from its header before any pixel is decoded, FIFOs and devices are refused without
waiting, file names with control characters stay on one output line, and a picture with
more than one frame is refused instead of being read by its first frame."""

import json
import os
import struct
import zlib

import numpy as np
import pytest

from digit51.firmware.app import classify
from digit51.quantize import simulate
from helpers import cli


def run_classify(*args, timeout=120):
    return cli("classify", *map(os.fsencode, map(str, args)), timeout=timeout)


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height grey pixels (its data holds one row)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(width + 1))) + chunk(b"IEND", b"")


def test_the_pixel_bound_is_checked_in_the_header_before_decoding(small_qmodel, tmp_path):
    side = int(classify.MAX_PIXELS ** 0.5) + 1
    for w, h in ((side, side), (13000, 13000), (classify.MAX_PIXELS + 1, 1)):
        f = tmp_path / f"{w}x{h}.png"
        f.write_bytes(png_claiming(w, h))
        out = run_classify(f, "--model", small_qmodel)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr == f"digit51: error: {f}: {w}x{h} pixels is more than the {classify.MAX_PIXELS:,} classify reads; " \
                             "scale the picture down (a digit needs a few hundred pixels across)\n"


def test_a_picture_at_the_bound_is_read(tmp_path):
    from PIL import Image

    side = int(classify.MAX_PIXELS ** 0.5)
    Image.new("L", (side, classify.MAX_PIXELS // side), 255).save(tmp_path / "edge.png")
    assert classify.read_grey(tmp_path / "edge.png").shape == (classify.MAX_PIXELS // side, side)


def test_fifos_devices_and_folders_are_refused_without_waiting(small_qmodel, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for f in (fifo, "/dev/zero", tmp_path):
        out = run_classify(f, "--model", small_qmodel, timeout=60)  # the old code waited for ever on the FIFO
        assert out.returncode == 1 and out.stderr == \
            f"digit51: error: {f}: not a regular file (a folder, FIFO or device); name a PNG or JPEG file\n", out.stderr


def test_an_animated_gif_is_refused_not_read_by_its_first_frame(small_qmodel, mnist_data, tmp_path):
    from PIL import Image

    frames = [Image.fromarray(mnist_data.test_images[k]) for k in (0, 1)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(tmp_path / "one.gif")
    out = run_classify(tmp_path / "two.gif", "--model", small_qmodel)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"digit51: error: {tmp_path / 'two.gif'}: has more than one frame (an animation or a multi-page file); " \
                         "save the frame you mean as a PNG\n"
    assert classify.read_grey(tmp_path / "one.gif").shape == (28, 28)


@pytest.mark.toolchain
def test_control_characters_and_non_utf8_bytes_in_names_keep_one_line_per_image(small_qmodel, small_int_model, mnist_data, tmp_path):
    from PIL import Image

    bad = tmp_path / "bad\nname.png"
    bad.write_bytes(b"not a picture")
    out = run_classify(bad, "--model", small_qmodel)
    assert out.returncode == 1 and out.stderr == f"digit51: error: {str(bad)!r}: not an image Pillow can read " \
                                                 "(UnidentifiedImageError); use a PNG or JPEG\n"
    names = [tmp_path / "two\nlines.png", tmp_path / "esc\x1b[2J.png", tmp_path / os.fsdecode(b"latin\xe9.png"), tmp_path / "plain.png"]
    for f in names:
        Image.fromarray(mnist_data.test_images[0]).save(os.fsencode(f), format="PNG")
    out = run_classify(*names, "--model", small_qmodel)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(names)
    digit = int(np.argmax(simulate.run(small_int_model, mnist_data.test_images[:1])[0][0]))
    for line, f in zip(lines, names):
        shown = str(f) if f.name == "plain.png" else repr(str(f))
        assert line.startswith(f"{shown}: digit {digit} ") and line.isprintable(), line
    out = run_classify(*names, "--model", small_qmodel, "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["image"] for r in rows] == [str(f) for f in names]
