"""`digit51 classify IMAGE... --model QMODEL`: picture files -> MNIST-style 28x28 (the
preprocessing of `digit51 ui`; the model's own H x W, area-resized, for a model trained on
other images) -> the firmware in ucsim or on a board, one line per image beside the integer
simulator's answer. Decoding needs Pillow (pip install '.[images]')."""

from __future__ import annotations

import argparse
import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from digit51.firmware import options
from digit51.firmware.app import mnist_style
from digit51.firmware.chips import targets
from digit51.firmware.host import chip
from digit51.quantize import model_file as int_model_file
from digit51.trainer.errors import Digit51Error


MAX_PIXELS = 4_000_000  # width x height read from the header before any pixel is decoded: a
# 2000x2000 picture (16 MB as RGBA) is far more than a digit needs (MNIST is 28x28); bigger
# files are refused, so that a small compressed file cannot make classify allocate gigabytes.


def shown(name: str) -> str:
    """A file name safe on one output line: names with a newline, other control characters or
    bytes that are not valid UTF-8 are written as a quoted Python string literal ('a\\nb.png')."""
    return name if name.isprintable() else repr(name)


def read_grey(path: Path) -> np.ndarray:
    """An image file as (H, W) uint8 grey, transparency composited on white paper. Refused with
    one line: anything but a regular file (FIFO, device, folder), more than MAX_PIXELS pixels
    (checked in the header, before decoding) and pictures with more than one frame."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise Digit51Error("reading image files needs Pillow: pip install 'digit51[images]'") from None
    name = shown(str(path))
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then says what it is
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Digit51Error(f"{name}: no such file") from None
    except OSError as e:
        raise Digit51Error(f"{name}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Digit51Error(f"{name}: not a regular file (a folder, FIFO or device); name a PNG or JPEG file")
    with os.fdopen(fd, "rb") as f:
        try:
            with warnings.catch_warnings():  # Pillow's own, larger bound warns: ours below refuses in one line
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(f)
            with im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise Digit51Error(f"{name}: {w}x{h} pixels is more than the {MAX_PIXELS:,} classify reads; "
                                       "scale the picture down (a digit needs a few hundred pixels across)")
                if getattr(im, "is_animated", False):  # GIF, APNG, WebP, TIFF pages, MPO: never just the first frame
                    raise Digit51Error(f"{name}: has more than one frame (an animation or a multi-page file); "
                                       "save the frame you mean as a PNG")
                im.load()
                rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, EOFError, Image.DecompressionBombError) as e:
            raise Digit51Error(f"{name}: not an image Pillow can read ({e.__class__.__name__}); use a PNG or JPEG") from None
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = (rgba[..., :3].astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255
    return mnist_style.rgba_to_grey(np.concatenate([rgb.astype(np.uint8), rgba[..., 3:4]], axis=2))


def cmd_classify(a: argparse.Namespace) -> int:
    model = int_model_file.load(a.model)
    target = targets.get(a.target)
    images = []
    shape = tuple(model.input_shape)
    for name in a.images:  # every input checked before the firmware is built
        grey = read_grey(Path(name))
        images.append((name, mnist_style.to_mnist(grey) if shape == (28, 28) else mnist_style.to_shape(grey, *shape)))
    status = 0
    with chip.Chip(model, target, Path(a.model).name, a.port, options.baud_of(a)) as fw:
        for name, image in images:
            if image is None:
                row = {"image": name, "error": "blank: no digit found in the picture"}
                status = 1
            else:
                ans = fw.classify(image)
                row = dict(ans.as_dict(), image=name)
                status |= 0 if ans.match else 1
            if a.json:
                print(json.dumps(row, sort_keys=True), flush=True)
            elif "error" in row:
                print(f"{shown(name)}: {row['error']}", flush=True)
            else:
                same = "= simulator" if row["match"] else f"!= SIMULATOR (digit {row['sim_digit']}, logits {row['sim_logits']})"
                print(f"{shown(name)}: digit {row['digit']}  logits {row['logits']} {same}  "
                      f"{row['cycles']:,} cycles = {speed(row['seconds'], target)}", flush=True)
    return status


def speed(seconds: float | None, target) -> str:
    if seconds is None:  # a 1T chip in ucsim, whose core is 12-clock
        return f"machine cycles of ucsim's 12-clock core ({target.name}'s own time: digit51 fit --target {target.name})"
    return f"{seconds:.3f} s on {target.name}"


def register(sub) -> None:
    p = sub.add_parser("classify", help="classify image files on the firmware (ucsim or a board)",
                       description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", metavar="IMAGE", help=f"PNG or JPEG files (anything Pillow reads: one frame, at most {MAX_PIXELS:,} pixels)")
    p.add_argument("--model", required=True, metavar="QMODEL", help="integer model from `digit51 quantize`")
    chip.add_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.set_defaults(func=cmd_classify)
