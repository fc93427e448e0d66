"""Drive SDCC: render the sources, compile, link, check memory against the target, write
a deterministic output folder (sources, .ihx, Intel .hex, memory report).

Every build happens in a fresh private folder next to the output folder and is swapped
in whole when it is done: an interrupted or failed build leaves the old output as it
was, and concurrent runs never share a work folder."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path


from digit51.codegen.render import SelfTestSet, render
from digit51.codegen.spec import BuildSpec
from digit51.firmware.builder.artifacts import parse_mem
from digit51.firmware.builder.fit import STACK_MIN, check_acc24, resolve
from digit51.firmware.chips.targets import Startup, startup as make_startup
from digit51.quantize.model_file import IntModel
from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import check_output_dir, make_folder, replace_dir, temp_dir_beside

# What a build folder holds; an existing output folder with anything else is refused.
OUTPUTS = {"src", "firmware.ihx", "firmware.hex", "firmware.map", "memory.json", ".build"}

INSTALL_HINT = "install it with `apt-get install sdcc sdcc-ucsim` (or run `bash .ci/setup`)"
SDCC_FLAGS = ["-mmcs51", "--model-small", "--std-c11", "--Werror"]


def sdcc_path() -> str:
    for tool in ("sdcc", "packihx"):
        if shutil.which(tool) is None:
            raise Digit51Error(f"SDCC not found ('{tool}' is not on PATH): {INSTALL_HINT}")
    return shutil.which("sdcc")


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or "warning" in out.lower():
        first = next((line for line in out.splitlines() if "error" in line.lower() or "warning" in line.lower()), out[:300])
        if any(m in out for m in ("Insufficient ROM", "Insufficient space in data memory", "Insufficient EXTERNAL RAM")):
            raise Digit51Error(f"the firmware does not fit: {first.strip()} (use fewer --images, a smaller model or a bigger target)")
        raise Digit51Error(f"SDCC failed on {' '.join(cmd[-1:])}: {first.strip()}")


@dataclass(frozen=True)
class Firmware:
    folder: Path
    ihx: Path
    hex: Path
    memory: dict


@contextlib.contextmanager
def staging(out: Path):
    """A fresh private folder beside `out` (checked first), removed on any failure or signal."""
    make_folder(Path(out).parent)
    out = check_output_dir(out, OUTPUTS)
    tmp = temp_dir_beside(out)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(fw: Firmware, out: Path) -> Firmware:
    """Swap the finished build folder `fw.folder` in as `out`, whole."""
    replace_dir(fw.folder, out)
    return replace(fw, folder=out, ihx=out / fw.ihx.name, hex=out / fw.hex.name)


def build(model: IntModel, spec: BuildSpec, out: Path, source: str, selftest: SelfTestSet | None = None,
          sim_exit: bool = True, startup: Startup | None = None) -> Firmware:
    """Build the firmware of `spec` into the folder `out`, replacing it whole; same inputs,
    same bytes. `startup` is the chip's start-up (at a clock and baud rate), by default the
    spec's target at its defaults."""
    with staging(out) as tmp:
        return publish(compile_firmware(model, spec, tmp, source, selftest, sim_exit, startup), out)


def compile_firmware(model: IntModel, spec: BuildSpec, folder: Path, source: str, selftest: SelfTestSet | None = None,
                     sim_exit: bool = True, startup: Startup | None = None) -> Firmware:
    """Render and compile into the empty private folder `folder`. The inputs are checked
    (the model, then the spec against the chip's budgets, once) before SDCC is looked for."""
    spec, _ = resolve(spec.but(n_images=len(selftest.indices) if selftest else 0))
    if spec.mode == "stream":
        check_acc24(model)
    target, mode, kernel = spec.target, spec.mode, spec.kernel
    startup = startup or make_startup(target)
    sdcc = sdcc_path()
    # the model's file name, shown in a C comment: a name that is not UTF-8 or holds a newline must not break it
    source = "".join(c if c.isprintable() else "?" for c in source.encode("utf-8", "replace").decode())
    files = render(model, mode, source, selftest, kernel, startup)
    src, work = folder / "src", folder / ".build"
    src.mkdir()
    work.mkdir()
    for name, text in files.items():
        (src / name).write_bytes(text.encode())
        (work / name).write_bytes(text.encode())
    flags = SDCC_FLAGS + (["-DDIGIT51_SIM_EXIT"] if sim_exit else [])
    units = sorted(n for n in files if n.endswith(".c") and n != "main.c")
    for unit in units:  # infer.c in its own code area, so firmware/measure/timing.py can find the inference code
        _run([sdcc, *flags, *(["--codeseg", "INFER"] if unit == "infer.c" else []), "-c", unit], work)
    limits = ["--code-size", str(target.code), "--iram-size", str(target.iram), "--xram-size", str(target.xram)]
    _run([sdcc, *flags, *limits, "-o", "firmware.ihx", "main.c", *(u[:-2] + ".rel" for u in units)], work)
    memory = parse_mem((work / "firmware.mem").read_text())
    if memory["xram"] > target.xram:
        raise Digit51Error(f"the firmware uses {memory['xram']} B of XRAM but {target.name} has {target.xram} B: use a smaller model or a bigger target")
    if memory["stack_free"] < STACK_MIN:
        raise Digit51Error(f"only {memory['stack_free']} B of internal RAM are left for the stack on {target.name} (need {STACK_MIN}): use a smaller model")
    report = {
        "target": target.name,
        "hardware": not sim_exit,  # built without the simulator's stop hook, for flashing (digit51 flash checks it)
        "mode": mode,
        "kernel": kernel,
        "model": spec.name,
        "code": {"used": memory["code"], "budget": target.code},
        "xram": {"used": memory["xram"], "budget": target.xram},
        "iram": {"used": memory["iram"], "budget": target.iram, "stack_free": memory["stack_free"]},
        "clock_hz": startup.clock,
        "baud": {"asked": startup.baud, "actual": round(startup.uart.actual, 1), "error": round(startup.uart.error, 5)},
        "xaddr": startup.target.xaddr,
    }
    hex_text = subprocess.run(["packihx", "firmware.ihx"], cwd=work, capture_output=True, check=True).stdout
    for name in ("firmware.ihx", "firmware.map"):
        shutil.copy(work / name, folder / name)
    (folder / "firmware.hex").write_bytes(hex_text)
    (folder / "memory.json").write_bytes((json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    shutil.rmtree(work)
    return Firmware(folder, folder / "firmware.ihx", folder / "firmware.hex", report)
