"""`digit51 classify IMAGE... --model QMODEL`: picture files -> MNIST-style 28x28 (the
preprocessing of `digit51 ui`) -> the firmware in ucsim or on a board, one line per
image beside the integer simulator's answer. Decoding needs Pillow (pip install '.[images]')."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from digit51.firmware import mnist_style, targets
from digit51.firmware import chip
from digit51.quantize import model_file as int_model_file
from digit51.trainer.errors import Digit51Error


def read_grey(path: Path) -> np.ndarray:
    """An image file as (H, W) uint8 grey, transparency composited on white paper."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise Digit51Error("reading image files needs Pillow: pip install 'digit51[images]'") from None
    try:
        with Image.open(path) as im:
            im.load()
            rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    except FileNotFoundError:
        raise Digit51Error(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise Digit51Error(f"{path}: not an image Pillow can read ({e.__class__.__name__}); use a PNG or JPEG") from None
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = (rgba[..., :3].astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255
    return mnist_style.rgba_to_grey(np.concatenate([rgb.astype(np.uint8), rgba[..., 3:4]], axis=2))


def cmd_classify(a: argparse.Namespace) -> int:
    model = int_model_file.load(a.model)
    target = targets.get(a.target)
    images = []
    for name in a.images:  # every input checked before the firmware is built
        grey = read_grey(Path(name))
        images.append((name, mnist_style.to_mnist(grey)))
    status = 0
    with chip.Chip(model, target, Path(a.model).name, a.port, a.baud) as fw:
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
                print(f"{name}: {row['error']}", flush=True)
            else:
                same = "= simulator" if row["match"] else f"!= SIMULATOR (digit {row['sim_digit']}, logits {row['sim_logits']})"
                print(f"{name}: digit {row['digit']}  logits {row['logits']} {same}  "
                      f"{row['cycles']:,} cycles = {row['seconds']:.3f} s on {target.name}", flush=True)
    return status


def register(sub) -> None:
    p = sub.add_parser("classify", help="classify image files on the firmware (ucsim or a board)",
                       description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files (anything Pillow reads)")
    p.add_argument("--model", required=True, metavar="QMODEL", help="integer model from `digit51 quantize`")
    chip.add_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.set_defaults(func=cmd_classify)
