"""The house: the stages import one way (trainer -> quantize -> codegen -> firmware), the
firmware's wings one way (chips -> builder -> sim -> host -> measure -> bench -> app), no
import circle, and a small top of firmware/. Read from the sources' own import statements."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = {"trainer": 0, "quantize": 1, "codegen": 2, "firmware": 3}
# the firmware's wings in flow order; protocol.py is a leaf everyone reads, options.py the
# shared command-line options (it reads chips and builder), api/ the public facade (any wing)
WINGS = {"protocol": 0, "chips": 0, "builder": 1, "options": 1.5, "sim": 2, "host": 3, "measure": 4, "bench": 5, "app": 6,
         "api": 7}


def modules() -> dict[str, Path]:
    """digit51 dotted name -> source file, following pyproject's package-dir mapping."""
    out = {}
    for stage in STAGES:
        for f in (ROOT / stage).rglob("*.py"):
            rel = f.relative_to(ROOT / stage).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if stage == "firmware" and parts[:1] == ["api"]:
                out[".".join(["digit51", *parts[1:]])] = f
            else:
                out[".".join(["digit51", stage, *parts])] = f
    return out


def imports(path: Path) -> set[str]:
    """digit51 modules imported anywhere in the file (functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "digit51"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "digit51" and not node.level:
            out |= {f"{node.module}.{a.name}" for a in node.names}  # a module, or a name resolved to its module
    return out


def resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The module `name` is, or the module that defines it (a.b.f -> a.b)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: {r for i in imports(p) if (r := resolve(i, mods)) and r != m} for m, p in mods.items()}


def stage_of(m: str) -> int:
    parts = m.split(".")
    return STAGES.get(parts[1], 4) if len(parts) > 1 else 4  # the root package digit51 is the facade, last


def wing_of(m: str) -> float | None:
    parts = m.split(".")
    if len(parts) < 3 or parts[1] != "firmware":
        return None
    return WINGS[parts[2]]


def allowed_up(m: str, i: str) -> bool:
    """codegen reads the firmware's leaves (the protocol, the chips); the pytest plugin is a
    face of the public API and calls it."""
    return (m.startswith("digit51.codegen") and i.startswith(("digit51.firmware.protocol", "digit51.firmware.chips"))) or \
        (m == "digit51.firmware.app.pytest_plugin" and i == "digit51")


def test_stages_import_down_the_pipeline_only():
    """trainer imports nothing of the later stages, quantize nothing of codegen or firmware,
    and none of the stages calls the root `digit51` facade."""
    bad = [(m, i) for m, deps in graph().items() for i in deps
           if stage_of(m) < 4 and stage_of(i) > stage_of(m) and not allowed_up(m, i)]
    assert bad == []


def test_wings_import_down_the_flow_only():
    bad = [(m, i) for m, deps in graph().items() for i in deps
           if wing_of(m) is not None and wing_of(i) is not None and wing_of(i) > wing_of(m)]
    assert bad == []


def test_no_import_circle():
    g = graph()
    state: dict[str, int] = {}
    circles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                circles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert circles == []


def test_firmware_keeps_a_small_top():
    top = sorted(p.name for p in (ROOT / "firmware").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 10, top
    for wing in (ROOT / "firmware").iterdir():
        if wing.is_dir() and (wing / "__init__.py").exists() and wing.name != "api":
            assert ast.get_docstring(ast.parse((wing / "__init__.py").read_text())), f"{wing.name}/__init__.py says its job"


def test_the_trainer_and_quantizer_clis_load_no_firmware():
    """`digit51 train` and `digit51 quantize` start without pyserial, Jinja2 or any firmware module."""
    import subprocess
    import sys

    code = ("import sys, digit51.trainer.cli, digit51.quantize.cli; "
            "print([m for m in sys.modules if m.startswith('digit51.firmware') or m in ('serial', 'jinja2')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
