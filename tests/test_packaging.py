"""One namespace: the wheel, installed into a fresh venv, adds only `digit51` to
site-packages, and there the CLI, the plugin's entry point and the README's Python API
example run; the editable install (this venv) maps the same names onto the folders.
Offline: the wheel is built with this venv's setuptools, installed with --no-index,
and the fresh venv sees this venv's numpy, jinja2 and pyserial through a .pth file."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "trainer", "quantize", "codegen", "firmware")
STAGES = ("trainer", "quantize", "codegen", "firmware")
DEPS = ("numpy", "jinja2", "markupsafe", "serial", "pyserial", "threadpoolctl",  # runtime (pyproject.toml)
        "pytest", "_pytest", "py", "pluggy", "iniconfig", "packaging", "pygments")  # for the plugin
PROBE = """
import importlib, importlib.metadata as md, sys
for name in ("trainer", "quantize", "codegen", "firmware"):
    try:
        importlib.import_module(name)
        print("importable", name)
    except ModuleNotFoundError:
        pass
import digit51, digit51.firmware.app.cli
print("digit51", digit51.__file__)
print("stages", *(importlib.import_module("digit51." + s).__file__ for s in ("trainer", "quantize", "codegen", "firmware")))
print("pytest11", *(ep.value for ep in md.entry_points(group="pytest11") if ep.name == "digit51"))
importlib.import_module("digit51.firmware.app.pytest_plugin")
"""


def run(cmd, **kw):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return out.stdout


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """(python, site-packages, entries the wheel added) of a new venv with the wheel in it."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so that building leaves no build/ or egg-info in the tree
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "--no-index", "-w", tmp / "dist", src])
    wheel = next((tmp / "dist").glob("digit51-*.whl"))
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])  # this venv's pip installs into it
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    before = set(os.listdir(site))
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index", "--no-deps", wheel])
    added = set(os.listdir(site)) - before
    deps = tmp / "deps"  # only the runtime dependencies of this venv, not its digit51
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.lower().split("-")[0].split(".")[0] in DEPS:
            (deps / entry.name).symlink_to(entry)
    (site / "digit51_test_deps.pth").write_text(f"{deps}\n")
    return python, site, added


def test_wheel_adds_only_digit51_to_site_packages(fresh_venv):
    _, _, added = fresh_venv
    assert added == {"digit51", "digit51-0.1.0.dist-info"}


def test_wheel_install_imports_runs_the_cli_and_registers_the_plugin(fresh_venv, tmp_path):
    python, site, _ = fresh_venv
    out = run([python, "-c", PROBE], cwd=tmp_path)
    assert "importable" not in out  # `import trainer` and friends fail
    assert f"digit51 {site / 'digit51' / '__init__.py'}" in out
    assert f"stages {' '.join(str(site / 'digit51' / s / '__init__.py') for s in STAGES)}" in out
    assert "pytest11 digit51.firmware.app.pytest_plugin" in out
    cli = python.parent / "digit51"
    assert "train" in run([cli, "--help"], cwd=tmp_path)
    fit = run([cli, "fit", "--target", "at89s52", "--json"], cwd=tmp_path)  # package data: frontier.json
    assert '"arch": "49-16-10"' in fit
    assert "--digit51-data=DIR" in run([python, "-m", "pytest", "--help"], cwd=tmp_path)  # plugin loaded


@pytest.mark.toolchain
def test_readme_api_example_runs_from_the_wheel(fresh_venv, tmp_path, data_dir):
    python, _, _ = fresh_venv
    env = dict(os.environ, DIGIT51_DATA=str(data_dir))
    out = run([python, "-c", readme_example()], cwd=tmp_path, env=env)
    digits = re.search(r"digits \[([\d, ]+)\] cycles \[([\d, ]+)\]", out)
    assert digits and len(digits[1].split(",")) == 5 and all(int(c) > 0 for c in digits[2].split(","))
    assert (tmp_path / "out" / "api" / "firmware.hex").is_file()  # templates came from the wheel


def test_editable_install_maps_the_same_names(tmp_path):
    out = run([sys.executable, "-c", PROBE], cwd=tmp_path)
    assert "importable" not in out
    assert f"digit51 {ROOT / 'firmware' / 'api' / '__init__.py'}" in out
    assert f"stages {' '.join(str(ROOT / s / '__init__.py') for s in STAGES)}" in out
    assert "pytest11 digit51.firmware.app.pytest_plugin" in out
    site = Path(sysconfig.get_paths()["purelib"])
    assert not [e for e in os.listdir(site) if e.split(".")[0] in STAGES]
    assert "train" in run([Path(sys.executable).parent / "digit51", "--help"], cwd=tmp_path)
