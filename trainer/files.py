"""Output paths and atomic writes for every stage: the one place that touches outputs.

Rules: an existing output must be a regular file (a symlink, device, FIFO or folder is
refused, never followed or replaced); an output may not be one of the command's inputs
(also through another path); the folder must exist and be writable, checked before any
long work; files appear whole (temp file in the same folder, then a rename) with the
mode the umask gives; OS errors become one Digit51Error line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from digit51.trainer.errors import Digit51Error


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_folder(folder: Path, what: str) -> None:
    """`folder` exists, is a folder and accepts new files (tried for real: root, read-only mounts)."""
    if not folder.is_dir():
        raise Digit51Error(f"cannot write {what}: folder {folder} does not exist (create it first)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".digit51-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise Digit51Error(f"cannot write {what}: folder {folder} is not writable ({_why(e)})") from None


def check_output(path, inputs=()) -> Path:
    """Refuse an output file path that cannot or must not be written; call before long work."""
    if not str(path):
        raise Digit51Error("the output path is empty: name a file, e.g. -o model.d51")
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise Digit51Error(f"cannot write {path}: {_why(e)}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a symlink" if stat.S_ISLNK(st.st_mode) else "a special file"
        raise Digit51Error(f"cannot write {path}: it is {kind}, not a regular file; name a new file instead")
    for source in inputs:
        if source is not None and st is not None and _same(path, Path(source)):
            raise Digit51Error(f"the output {path} is the input {source}: name a different output file")
    _check_folder(path.parent, str(path))
    return path


def umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, data: bytes, inputs=()) -> None:
    """Write `data` to `path` whole: a temp file in the same folder, then a rename."""
    path = check_output(path, inputs)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise Digit51Error(f"cannot write {path}: {_why(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~umask())
            os.fsync(f.fileno())
        check_output(path, inputs)  # still not a special file or an input, just before the rename
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise Digit51Error(f"cannot write {path}: {_why(e)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_output_dir(path, owned: set[str]) -> Path:
    """Refuse an output folder that is not a folder, or holds files other than `owned` names."""
    if not str(path):
        raise Digit51Error("the output folder is empty: name a folder, e.g. -o out/fw")
    path = Path(path)
    if os.path.lexists(path):
        if path.is_symlink() or not path.is_dir():
            raise Digit51Error(f"cannot write folder {path}: it exists and is not a folder (a file, symlink or device)")
        try:
            foreign = sorted(set(os.listdir(path)) - owned)
        except OSError as e:
            raise Digit51Error(f"cannot read folder {path}: {_why(e)}") from None
        if foreign:
            raise Digit51Error(
                f"{path} holds files digit51 did not write ({', '.join(foreign[:3])}): "
                "name a new or empty output folder"
            )
    _check_folder(path.parent, f"folder {path}")
    return path


def make_folder(path) -> Path:
    """Create folder `path` and its parents if missing (a plain folder, not a file or symlink)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise Digit51Error(f"cannot use {path} as a folder: a file of that name exists") from None
    except OSError as e:
        raise Digit51Error(f"cannot create folder {path}: {_why(e)}") from None
    return path


def temp_dir_beside(path: Path) -> Path:
    """A fresh private folder next to `path` (same file system, so it can be renamed into place)."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as e:
        raise Digit51Error(f"cannot create a folder next to {path}: {_why(e)}") from None


def replace_dir(new: Path, path: Path) -> None:
    """Swap the finished folder `new` in as `path` whole; the old one goes away after."""
    try:
        os.chmod(new, 0o777 & ~umask())
        for _ in range(10):  # another run may swap in between: retry
            old = None
            if os.path.lexists(path):
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                try:
                    os.replace(path, old / "d")
                except FileNotFoundError:
                    pass
            try:
                os.rename(new, path)
            except OSError as e:
                if e.errno in (errno.ENOTEMPTY, errno.EEXIST) and os.path.isdir(path):  # ENOTEMPTY, EEXIST: someone else won
                    continue
                raise
            finally:
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            return
        raise Digit51Error(f"cannot replace {path}: other runs keep writing it; run one at a time")
    except OSError as e:
        raise Digit51Error(f"cannot replace folder {path}: {_why(e)}") from None
