"""Output paths as a careless or hostile user gives them: special files, the input itself,
missing or read-only folders, a full disk, the umask. Real commands in real processes."""

import os
import resource
import signal
import stat
import subprocess

import pytest

from helpers import cli, one_line_error

TINY = ["--pool", "4", "--hidden", "8", "--epochs", "1", "--augment", "0"]


def train(data_dir, output, *extra, **kw):
    return cli("train", "--data", str(data_dir), "-o", str(output), *TINY, *extra, **kw)


@pytest.fixture(scope="module")
def float_model(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("m") / "m.d51"
    out = train(data_dir, path)
    assert out.returncode == 0, out.stderr
    return path


def special_files(folder):
    """Existing outputs that are not regular files; each must survive untouched."""
    target = folder / "target.txt"
    target.write_text("keep me")
    os.symlink(target, folder / "link")
    os.mkfifo(folder / "fifo")
    (folder / "dir").mkdir()
    made = {"link": "a symlink", "fifo": "a special file", "dir": "a folder"}
    if os.geteuid() == 0:  # a character device like /dev/null (only root may create one)
        os.mknod(folder / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        made["null"] = "a special file"
    return made


def test_special_files_are_never_replaced(tmp_path, data_dir):
    for name, kind in special_files(tmp_path).items():
        before = os.lstat(tmp_path / name)
        out = train(data_dir, tmp_path / name, timeout=60)
        one_line_error(out, f"it is {kind}, not a regular file")
        assert "epoch" not in out.stderr  # refused before training
        after = os.lstat(tmp_path / name)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), name
    assert (tmp_path / "target.txt").read_text() == "keep me"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temp file left


def test_quantize_refuses_its_input_as_output(tmp_path, data_dir, float_model):
    copy = tmp_path / "m.d51"
    copy.write_bytes(float_model.read_bytes())
    os.link(copy, tmp_path / "hard.d51")
    for output in (copy, tmp_path / "." / "m.d51", tmp_path / "hard.d51"):
        out = cli("quantize", str(copy), "-o", str(output), "--data", str(data_dir))
        one_line_error(out, "is the input", "name a different output file")
    assert copy.read_bytes() == float_model.read_bytes()


@pytest.mark.parametrize("output, message", [
    ("missing/m.d51", "folder missing does not exist"),
    ("existing", "it is a folder"),
    (".", "it is a folder"),
    ("", "the output path is empty"),
])
def test_bad_output_paths_fail_before_training(tmp_path, data_dir, output, message):
    (tmp_path / "existing").mkdir()
    out = train(data_dir, output, cwd=tmp_path)
    one_line_error(out, message)
    assert "epoch" not in out.stderr


def read_only_folder(tmp_path):
    """A folder no one may write to: a read-only tmpfs for root (who ignores modes), else mode 0555."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], check=True)
    else:
        ro.chmod(0o555)
    return ro


def test_read_only_folder_fails_before_training(tmp_path, data_dir):
    ro = read_only_folder(tmp_path)
    try:
        out = train(data_dir, ro / "m.d51")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=True)
    one_line_error(out, "is not writable")
    assert "epoch" not in out.stderr


def small_file_limit():
    """A disk that is full after 1 KB: the child may not grow a file past it (EFBIG, not SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, data_dir):
    out = train(data_dir, tmp_path / "m.d51", preexec_fn=small_file_limit)
    one_line_error(out, f"cannot write {tmp_path / 'm.d51'}: File too large")
    assert os.listdir(tmp_path) == []


def test_outputs_respect_the_umask(tmp_path, data_dir, float_model):
    def umask(mask):
        return lambda: os.umask(mask)

    path = tmp_path / "m.d51"
    path.write_bytes(b"old")
    path.chmod(0o644)
    assert train(data_dir, path, preexec_fn=umask(0o022)).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # replacing a 0644 file keeps it 0644
    assert train(data_dir, tmp_path / "g.d51", preexec_fn=umask(0o007)).returncode == 0
    assert stat.S_IMODE((tmp_path / "g.d51").stat().st_mode) == 0o660
