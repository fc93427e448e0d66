"""MNIST loading and the download path, against a real HTTP server on 127.0.0.1."""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest

from digit51.trainer import mnist
from digit51.trainer.errors import Digit51Error
from helpers import idx_file, own_digits


def test_loads_standard_mnist(mnist_data):
    m = mnist_data
    assert m.train_images.shape == (60000, 28, 28) and m.train_images.dtype == np.uint8
    assert m.test_images.shape == (10000, 28, 28) and m.test_labels.shape == (10000,)
    (xt, yt), (xv, yv) = m.split()
    assert len(xt) == 55000 and len(xv) == 5000
    assert np.array_equal(xv, m.train_images[55000:])
    assert sorted(set(m.test_labels.tolist())) == list(range(10))


@pytest.fixture
def serve(tmp_path):
    """Start an HTTP server on 127.0.0.1 serving a folder; yields a function folder -> URL."""
    servers = []

    def start(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a: None
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("DIGIT51_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "digit51" / "mnist"


def test_downloads_into_cache_from_local_mirror(serve, isolated, data_dir, monkeypatch):
    url = serve(data_dir)
    monkeypatch.setenv("DIGIT51_MNIST_MIRRORS", "http://127.0.0.1:9/ " + url)  # first one refuses
    m = mnist.load(None)
    assert m.test_images.shape == (10000, 28, 28)
    assert sorted(p.name for p in isolated.iterdir()) == sorted(s + ".gz" for s in mnist.FILES)
    # a second load reads the cache: no server needed
    monkeypatch.setenv("DIGIT51_MNIST_MIRRORS", "http://127.0.0.1:9/")
    assert np.array_equal(mnist.load(None).test_labels, m.test_labels)


def test_corrupt_download_is_rejected_and_nothing_is_kept(serve, isolated, data_dir, tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    blob = bytearray((bad / "t10k-labels-idx1-ubyte.gz").read_bytes())
    import gzip

    raw = bytearray(gzip.decompress(bytes(blob)))
    raw[100] ^= 0x01  # one flipped bit, still valid gzip and IDX
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    monkeypatch.setenv("DIGIT51_MNIST_MIRRORS", serve(bad))
    with pytest.raises(Digit51Error, match=r"could not download t10k-images.*corrupt or truncated gzip"):
        mnist.load(None)
    kept = sorted(p.name for p in isolated.iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in kept and not any(n.endswith(".tmp") for n in kept)
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes((data_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(Digit51Error, match="t10k-labels.*sha256 mismatch"):
        mnist.load(None)


def test_data_option_beats_environment(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("DIGIT51_DATA", str(tmp_path / "nowhere"))
    assert mnist.resolve(data_dir) == (data_dir, True)
    with pytest.raises(Digit51Error, match="DIGIT51_DATA .*no such folder"):
        mnist.resolve(None)


def test_folder_with_missing_or_mismatched_files(tmp_path, data_dir):
    shutil.copytree(data_dir, tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(Digit51Error, match="missing t10k-labels"):
        mnist.load(tmp_path / "d")
    shutil.copy(data_dir / "train-labels-idx1-ubyte.gz", tmp_path / "d" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(Digit51Error, match="do not match"):
        mnist.load(tmp_path / "d")


def test_named_folder_with_other_28x28_data_is_used_with_a_note(tmp_path, capsys):
    m = mnist.load(own_digits(tmp_path / "own"))
    assert m.classes == 5 and m.train_images.shape == (300, 28, 28)
    (xt, _), (xv, _) = m.split()
    assert len(xv) == 30 and len(xt) == 270
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the standard MNIST" in err[0] and "5 classes" in err[0]


def test_named_folder_structural_checks(tmp_path):
    own = own_digits(tmp_path / "own")
    idx_file(own / "t10k-labels-idx1-ubyte.gz", np.full(60, 7, np.uint8))  # labels above the training ones
    with pytest.raises(Digit51Error, match="test labels go up to 7 but training labels only to 4"):
        mnist.load(own)
    idx_file(own / "t10k-images-idx3-ubyte.gz", np.zeros((60, 32, 32), np.uint8))
    with pytest.raises(Digit51Error, match="need N 28x28 images"):
        mnist.load(own)


def test_standard_mnist_in_a_named_folder_gets_no_note(data_dir, capsys):
    mnist.load(data_dir)
    assert "standard MNIST" not in capsys.readouterr().err


def test_cached_files_must_still_be_the_standard_mnist(isolated, tmp_path, monkeypatch):
    own_digits(tmp_path / "own")
    shutil.copytree(tmp_path / "own", isolated)
    monkeypatch.setenv("DIGIT51_MNIST_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(Digit51Error, match="sha256 mismatch"):
        mnist.load(None)
