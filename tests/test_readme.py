"""The README a newcomer reads first: short, the two commands first (as .ci/run runs the
second), every docs/ page linked, and every relative link in README and docs/ resolving."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAIN = "bash .ci/setup && .venv/bin/digit51 demo --data ../shared/data/mnist"
TESTS = "bash .ci/setup && .venv/bin/python -m pytest tests --data=../shared/data/mnist"


def test_short_with_both_commands_first():
    assert len(README.splitlines()) <= 200
    commands = re.findall(r"^    (\S.*)$", README, re.M)
    assert commands[:2] == [MAIN, TESTS]
    assert TESTS in (ROOT / ".ci" / "run").read_text()


def links(path: Path) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()) if "://" not in m]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / m).resolve() for m in links(ROOT / "README.md")}
    pages = set((ROOT / "docs").glob("*.md"))
    assert pages and {p.resolve() for p in pages} <= linked, sorted(p.name for p in pages if p.resolve() not in linked)


def test_every_relative_link_resolves():
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in links(doc):
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)}: {target}"
