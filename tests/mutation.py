"""Mutation check, run by hand (not in CI): does the test suite notice small deliberate bugs?

    .venv/bin/python -m tests.mutation --data ../shared/data/mnist [--only NAME] [--list] [--keep]

Each mutation in tests/mutations.py (file, exact old text, new text, the tests to run, why)
is applied, one at a time, to a temporary copy of the sources laid out as the installed
`digit51` package (pyproject.toml's package-dir mapping), and the named tests run against
that copy (PYTHONPATH puts it before the editable install of the checkout). A mutation is
`killed` when a test fails, `SURVIVED` when they all pass. Mutations marked equivalent
(they cannot change behaviour; the reason is in the list) are expected to survive. An old
text that is missing or not unique is reported `STALE`: update the list, nothing is
skipped silently.

Before the list, the check proves its own set-up: the pristine copy must pass every named
test, and a canary mutation (a certain bug in the copy) must be killed; otherwise the tests
are not importing the copy and every result would be meaningless.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from tests.mutations import CANARIES, MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900  # seconds per mutation; a mutant that hangs the tests counts as killed


def package_dirs() -> dict[str, str]:
    """Source folder -> package path (e.g. 'trainer' -> 'digit51/trainer'), from pyproject.toml."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = cfg["tool"]["setuptools"]["package-dir"]
    return {src: pkg.replace(".", "/") for pkg, src in mapping.items()}


class Copy:
    """A temporary copy: pkg/digit51/... (the installed layout) and tests/ next to it."""

    def __init__(self, keep: bool = False):
        self.dir = Path(tempfile.mkdtemp(prefix="digit51-mutation-"))
        self.keep = keep
        self.dirs = package_dirs()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for src, pkg in sorted(self.dirs.items(), key=lambda kv: kv[1]):  # digit51 before digit51/x
            shutil.copytree(ROOT / src, self.dir / "pkg" / pkg, ignore=ignore, dirs_exist_ok=True)
        shutil.copytree(ROOT / "tests", self.dir / "tests", ignore=ignore)
        shutil.copy(ROOT / "pyproject.toml", self.dir / "pyproject.toml")
        shutil.copy(ROOT / "README.md", self.dir / "README.md")  # the doc tests read the pages
        shutil.copytree(ROOT / "docs", self.dir / "docs")

    def path(self, repo_file: str) -> Path:
        """Where a repository file (e.g. 'codegen/templates/ops.inc.j2') lives in the copy."""
        best = max((src for src in self.dirs if repo_file.startswith(src + "/")), key=len, default=None)
        if best is None:
            raise ValueError(f"{repo_file} is not inside a package folder of pyproject.toml")
        return self.dir / "pkg" / self.dirs[best] / repo_file[len(best) + 1 :]

    def pytest(self, tests: tuple[str, ...], data: str) -> tuple[bool, str, float]:
        """(all passed, last lines of output, seconds) for the named tests on the copy."""
        env = dict(os.environ, PYTHONPATH=str(self.dir / "pkg"), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", f"--data={data}", *tests]
        t0 = time.perf_counter()
        # its own process group, so that s51, socat and sdcc below it go too on a timeout or a signal
        p = subprocess.Popen(cmd, cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return False, f"timeout after {TIMEOUT} s", time.perf_counter() - t0
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
        tail = [l for l in out.splitlines() if l.strip()][-3:]
        return p.returncode == 0, " | ".join(tail), time.perf_counter() - t0

    def apply(self, m: Mutation) -> str | None:
        """Write the mutant; None, or why it cannot be applied (stale)."""
        path = self.path(m.file)
        text = path.read_text() if path.is_file() else ""
        n = text.count(m.old)
        if n != 1:
            return f"old text found {n} times in {m.file}"
        path.write_text(text.replace(m.old, m.new))
        return None

    def restore(self, m: Mutation) -> None:
        shutil.copy(ROOT / m.file, self.path(m.file))

    def close(self) -> None:
        if self.keep:
            print(f"mutation: copy kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def check(copy: Copy, m: Mutation, data: str) -> tuple[str, str, float]:
    """(status, detail, seconds) of one mutation."""
    stale = copy.apply(m)
    if stale:
        return "STALE", stale, 0.0
    try:
        passed, tail, secs = copy.pytest(m.tests, data)
    finally:
        copy.restore(m)
    if m.equivalent:
        return ("equivalent", m.equivalent, secs) if passed else ("NOT EQUIVALENT", f"killed: {tail}", secs)
    return ("SURVIVED", m.why, secs) if passed else ("killed", tail, secs)


class Stopped(Exception):
    pass


def _stop(signum, frame):
    raise Stopped(signum)


def main(argv=None) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    try:
        return _main(argv)
    except Stopped as e:  # the copy and the test processes are gone by now (finally, killpg)
        print("mutation: stopped", file=sys.stderr)
        return 128 + e.args[0]


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("DIGIT51_DATA") or str(ROOT.parent / "shared" / "data" / "mnist"),
                   help="MNIST folder for the tests (default: $DIGIT51_DATA or ../shared/data/mnist)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only mutations whose name contains NAME (repeatable)")
    p.add_argument("--list", action="store_true", help="print the mutations and exit")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy")
    a = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if not a.only or any(s in m.name for s in a.only)]
    if a.list:
        for m in chosen:
            print(f"{m.name:34} {m.file:38} {'EQUIVALENT: ' + m.equivalent if m.equivalent else m.why}")
        return 0
    data = str(Path(a.data).resolve())
    copy = Copy(a.keep)
    try:
        needed = tuple(dict.fromkeys(t for m in chosen + CANARIES for t in m.tests))
        passed, tail, secs = copy.pytest(needed, data)
        print(f"mutation: baseline (unmutated copy, {len(needed)} test selections): {'pass' if passed else 'FAIL'} in {secs:.0f} s", flush=True)
        if not passed:
            print(f"mutation: the unmutated copy fails its tests ({tail}); fix that first", file=sys.stderr)
            return 1
        for c in CANARIES:
            status, detail, secs = check(copy, c, data)
            print(f"mutation: canary {c.name}: {status} in {secs:.0f} s", flush=True)
            if status != "killed":
                print("mutation: a certain bug in the copy went unnoticed: the tests are not running the copy", file=sys.stderr)
                return 1
        rows = []
        for m in chosen:
            status, detail, secs = check(copy, m, data)
            rows.append((m, status, detail))
            print(f"{status:14} {m.name:34} {secs:5.0f} s  {detail[:150]}", flush=True)
    finally:
        copy.close()
    counts = {s: sum(1 for _, st, _ in rows if st == s) for s in ("killed", "equivalent", "SURVIVED", "STALE", "NOT EQUIVALENT")}
    print("mutation: " + ", ".join(f"{v} {k.lower()}" for k, v in counts.items()))
    return 0 if counts["SURVIVED"] == counts["STALE"] == counts["NOT EQUIVALENT"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
