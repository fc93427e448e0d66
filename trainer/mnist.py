"""Find, download (with sha256 checks) and load MNIST, or another grayscale image set.

Data folder resolution: `--data DIR`, then $DIGIT51_DATA, then the user cache folder
($XDG_CACHE_HOME/digit51/mnist, default ~/.cache/digit51/mnist), then a download from
the mirrors (or the space-separated URLs in $DIGIT51_MNIST_MIRRORS) into that cache.

Downloaded and cached files must be the standard MNIST (sha256). A folder the user names
may hold any set in the same four IDX files (HxW uint8 images, sides 2..64, uint8 labels): it gets
the structural checks and a one-line note on stderr when it is not the standard MNIST.
The number of classes is the largest training label + 1.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import atomic_write
from digit51.trainer.idx import load_bytes, load_file, read_header

# file stem -> (IDX dimensions, sha256 of the uncompressed bytes)
FILES = {
    "train-images-idx3-ubyte": (3, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (1, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (3, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (1, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
VALIDATION_SIZE = 5000
MAX_SIDE = 64  # image sides up to 64 pixels (trainer/arch.py)
MAX_CLASSES = 255


@dataclass(frozen=True)
class Mnist:
    train_images: np.ndarray  # (60000, 28, 28) uint8 for MNIST; (N, H, W) for another set
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8

    @property
    def classes(self) -> int:
        """Number of classes: the largest training label + 1 (10 for MNIST)."""
        return int(self.train_labels.max()) + 1

    def split(self):
        """(train, validation) pairs: validation is the last 5,000 training images
        (the last tenth for a set of fewer than 50,000)."""
        n = len(self.train_images) - min(VALIDATION_SIZE, len(self.train_images) // 10)
        return (
            (self.train_images[:n], self.train_labels[:n]),
            (self.train_images[n:], self.train_labels[n:]),
        )


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "digit51" / "mnist"


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete(folder: Path) -> bool:
    return all(_find(folder, stem) for stem in FILES)


def mirrors() -> tuple[str, ...]:
    env = os.environ.get("DIGIT51_MNIST_MIRRORS", "").split()
    return tuple(env) or MIRRORS


def download(folder: Path, mirrors: tuple[str, ...], timeout: float = 30.0) -> None:
    """Fetch every missing file into `folder`, check its sha256, rename it into place."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (ndim, sha) in FILES.items():
        if _find(folder, stem):
            continue
        problems = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + stem + ".gz"
            print(f"digit51: downloading {url}", file=sys.stderr)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    data = r.read()
            except (urllib.error.URLError, OSError) as e:
                problems.append(f"{url}: {getattr(e, 'reason', e)}")
                continue
            try:
                _, raw = load_bytes(data, url, ndim)
            except Digit51Error as e:
                problems.append(str(e))
                continue
            if hashlib.sha256(raw).hexdigest() != sha:
                problems.append(f"{url}: sha256 mismatch (corrupt download)")
                continue
            atomic_write(folder / (stem + ".gz"), data)
            break
        else:
            raise Digit51Error(
                f"could not download {stem}: {'; '.join(problems)}. "
                "Pass --data DIR with the four MNIST IDX files, or set DIGIT51_DATA"
            )


def resolve(data: str | os.PathLike | None) -> tuple[Path, bool]:
    """(folder holding the data, whether the user named it), downloading into the cache
    when nothing else has it."""
    for source, value in (("--data", data), ("DIGIT51_DATA", os.environ.get("DIGIT51_DATA"))):
        if value:
            folder = Path(value)
            if not folder.is_dir():
                raise Digit51Error(f"{source} {folder}: no such folder (it should hold the four MNIST IDX files)")
            missing = [s for s in FILES if not _find(folder, s)]
            if missing:
                raise Digit51Error(
                    f"{source} {folder}: missing {', '.join(m + '[.gz]' for m in missing)}; "
                    "put the four MNIST IDX files there or leave the option out to download them"
                )
            return folder, True
    folder = cache_dir()
    if not _complete(folder):
        download(folder, mirrors())
    return folder, False


def check(m: Mnist, where) -> None:
    """Structural checks of a data set: HxW images (sides 2..64, the same in both sets),
    one label each, 2 to 255 classes, test labels in range."""
    h, w = m.train_images.shape[1:]
    if not (2 <= h <= MAX_SIDE and 2 <= w <= MAX_SIDE):
        raise Digit51Error(f"{where}: the images are {h}x{w}; digit51 takes sides of 2 to {MAX_SIDE} pixels (resize the set)")
    for images, labels, what in ((m.train_images, m.train_labels, "train"), (m.test_images, m.test_labels, "test")):
        if images.shape[1:] != (h, w) or len(images) != len(labels):
            raise Digit51Error(
                f"{where}: {what} images {images.shape} and labels {labels.shape} do not match "
                f"(need N {h}x{w} images and N labels); the files are from different sets"
            )
        if len(images) < 1:
            raise Digit51Error(f"{where}: the {what} set is empty")
    if len(m.train_images) < 20:
        raise Digit51Error(f"{where}: only {len(m.train_images)} training images; need at least 20")
    if m.classes < 2:
        raise Digit51Error(f"{where}: the training labels hold only one class; need at least 2")
    if m.classes > MAX_CLASSES:
        raise Digit51Error(f"{where}: training labels go up to {m.classes - 1}; digit51 takes at most {MAX_CLASSES} classes (labels 0..{MAX_CLASSES - 1})")
    if int(m.test_labels.max()) >= m.classes:
        raise Digit51Error(
            f"{where}: test labels go up to {int(m.test_labels.max())} but training labels only to {m.classes - 1}; "
            "the files are from different sets"
        )


def peek(data=None) -> tuple[int, int, int]:
    """(H, W, classes) of a data set from the training images' IDX header and the training
    labels, without reading the images: enough to check a model's shapes before loading."""
    folder, _ = resolve(data)
    dims = read_header(_find(folder, "train-images-idx3-ubyte"), 3)
    labels, _ = load_file(_find(folder, "train-labels-idx1-ubyte"), 1)
    return dims[1], dims[2], int(labels.max(initial=0)) + 1


def load(data=None, verify: bool = True) -> Mnist:
    """Load the four IDX files as uint8 arrays. Cached MNIST must match its sha256 (when
    `verify`); a folder the user names only needs the right structure."""
    folder, named = resolve(data)
    arrays, standard = {}, True
    for stem, (ndim, sha) in FILES.items():
        path = _find(folder, stem)
        arrays[stem], raw = load_file(path, ndim)
        if hashlib.sha256(raw).hexdigest() != sha:
            standard = False
            if verify and not named:
                raise Digit51Error(
                    f"{path}: contents differ from the standard MNIST file (sha256 mismatch); "
                    "delete it to download it again"
                )
    m = Mnist(
        arrays["train-images-idx3-ubyte"],
        arrays["train-labels-idx1-ubyte"],
        arrays["t10k-images-idx3-ubyte"],
        arrays["t10k-labels-idx1-ubyte"],
    )
    check(m, folder)
    if not standard:
        print(
            f"digit51: note: {folder} is not the standard MNIST ({len(m.train_images)} training, "
            f"{len(m.test_images)} test images, {m.classes} classes); using it as given",
            file=sys.stderr,
        )
    return m
