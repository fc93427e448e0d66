"""`digit51 build`, `digit51 sim` and `digit51 demo`."""

from __future__ import annotations

from digit51.codegen.spec import BuildSpec

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from digit51.codegen.render import SelfTestSet
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.firmware.options import MODE_HELP, MODE_NAMES, add_images, add_kernel, add_target, check_selection, selected
from digit51.firmware.builder.sdcc import OUTPUTS, build
from digit51.firmware.sim.ucsim import LINKS
from digit51.quantize import model_file as int_model_file
from digit51.trainer import mnist
from digit51.trainer.cli import add_data_option
from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import check_output, check_output_dir, make_folder


def add_firmware_options(p: argparse.ArgumentParser, images: int | None) -> None:
    """--target, --kernel, and the test images (build: embedded, selftest mode only)."""
    add_target(p)
    add_kernel(p)
    add_images(p, images, help=None if images is not None else "how many MNIST test images to embed (selftest mode only; default 10)")


def cmd_build(a: argparse.Namespace) -> int:
    if a.mode != "selftest" and (a.images is not None or a.start is not None):
        raise Digit51Error(f"--images and --start choose the embedded self-test images: they only apply to --mode selftest, not {a.mode}")
    a.images, a.start = 10 if a.images is None else a.images, a.start or 0
    check_selection(a)
    check_output_dir(a.output, OUTPUTS)
    model = int_model_file.load(a.qmodel)
    target = targets.get(a.target)
    images = labels = idx = None
    if a.mode == "selftest":
        data = mnist.load(a.data)
        idx = selected(a, len(data.test_images))
        images, labels = data.test_images[idx], data.test_labels[idx]
    replacing = Path(a.output).is_dir() and any(Path(a.output).iterdir())
    selftest = SelfTestSet(idx, images, labels) if a.mode == "selftest" else None
    fw = build(model, BuildSpec.of(model, target, a.mode, a.kernel), Path(a.output), Path(a.qmodel).name, selftest,
               sim_exit=not a.hardware, startup=targets.startup(target, a.clock, a.baud))
    m = fw.memory
    if replacing:
        print(f"digit51: replaced the previous build in {fw.folder}", file=sys.stderr)
    print(f"digit51: {fw.hex} for {target.name}: code {m['code']['used']}/{m['code']['budget']} B, "
          f"internal RAM {m['iram']['used']}/{m['iram']['budget']} B, XRAM {m['xram']['used']}/{m['xram']['budget']} B; "
          f"{m['clock_hz'] / 1e6:g} MHz, {m['baud']['asked']} baud ({100 * m['baud']['error']:.2f} % off)", file=sys.stderr)
    if not a.no_timing:
        from digit51.firmware.measure import timing

        sample = images[:2] if images is not None else timing.sample_images(2, tuple(model.input_shape))
        note = "" if images is not None else (" [random pixels, few zeros to skip: an upper-side figure for the zero-skipping "
                                              "kernels; `python -m digit51.firmware.measure.timing QMODEL --data DIR` times test images]")
        print("digit51: " + timing.measure(model, target, sample, a.kernel, a.mode, m["clock_hz"]).line() + note, file=sys.stderr)
    return 0


def cmd_sim(a: argparse.Namespace) -> int:
    check_selection(a)
    model = int_model_file.load(a.qmodel)
    target = targets.get(a.target)
    data = mnist.load(a.data)
    idx = selected(a, len(data.test_images))
    result = pipeline.simulate_firmware(model, BuildSpec.of(model, target, a.mode, a.kernel), data, idx, Path(a.out),
                                        Path(a.qmodel).name, a.link)
    s = pipeline.summary(result, target)
    for img, what in result.comparison.mismatches[:20]:
        print(f"digit51: mismatch on test image {img}: {what}", file=sys.stderr)
    if a.json:
        print(json.dumps(s, sort_keys=True))
    else:
        pipeline.print_summary(s, target, sys.stdout)
    return 0 if pipeline.clean(s) else 1


def register(sub) -> None:
    p = sub.add_parser("build", help="generate C and build firmware with SDCC", description="Generate the C sources from an integer model and build them with SDCC.")
    p.add_argument("qmodel", metavar="QMODEL", help="integer model from `digit51 quantize`")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder: src/, firmware.ihx, firmware.hex, memory.json")
    p.add_argument("--mode", choices=MODE_NAMES, default="serve", help=f"{MODE_HELP} (default serve)")
    add_data_option(p)
    add_firmware_options(p, images=None)
    p.add_argument("--hardware", action="store_true", help="leave out the simulator stop hook (for flashing a real chip)")
    p.add_argument("--clock", type=int, metavar="HZ", help="system clock in Hz (default: the target's, see firmware/chips/target_table.py)")
    p.add_argument("--baud", type=int, metavar="N", help="UART baud rate (default: the target's); refused if the chip is more than 2 %% off")
    p.add_argument("--no-timing", action="store_true", help="skip the time-per-digit estimate (one extra ucsim run)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("sim", help="run firmware in ucsim and check it against the integer simulator", description="Build the firmware, run it in the ucsim 8051 simulator, read its UART with pyserial and compare every logit with the Python integer simulator.")
    p.add_argument("qmodel", metavar="QMODEL", help="integer model from `digit51 quantize`")
    add_data_option(p)
    p.add_argument("--mode", choices=MODE_NAMES, default="selftest", help=f"{MODE_HELP} (default selftest)")
    p.add_argument("--link", choices=LINKS, default="socket", help="UART link: a TCP socket on 127.0.0.1, or a pseudo-terminal opened as a serial device (default socket)")
    p.add_argument("--out", default="out/sim", metavar="DIR", help="where the builds go (default out/sim)")
    add_firmware_options(p, images=20)
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.set_defaults(func=cmd_sim)


def cmd_demo(a: argparse.Namespace) -> int:
    from digit51.quantize.cli import print_summary as print_quant_summary
    from digit51.quantize.measure import quantize_and_measure
    from digit51.quantize.quantizer import QuantConfig
    from digit51.firmware.bench import frontier, recipe
    from digit51.trainer import model_file as float_model_file
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    check_selection(a)
    out = Path(a.out)
    if a.model and not Path(a.model).is_file():
        raise Digit51Error(f"--model {a.model}: no such file; leave --model out to train (or reuse) OUT/model.d51")
    model_path = Path(a.model) if a.model else out / "model.d51"
    target = targets.get(a.target)
    data = mnist.load(a.data)
    idx = selected(a, len(data.test_images))
    make_folder(out)
    check_output(out / "model.q51", inputs=[model_path])
    rows = frontier.load()["rows"]
    row = frontier.choose_for(rows, target)  # the chip's own default (digit51 fit marks it)
    rec = recipe.of(row, rows) if row else recipe.Recipe(dataclasses.asdict(TrainConfig()), None, 0)
    if not a.model:
        check_output(model_path)
    if model_path.exists():
        print(f"demo: 1/4 reusing the float model {model_path}", file=sys.stderr)
        model = float_model_file.load(model_path)
    else:
        plain = ""
        if rec.teacher:  # a distilled recipe trains its teacher for many minutes: the demo takes the architecture on plain labels
            rec = recipe.of(dict(row, recipe=None), rows)
            plain = f" on the trainer's defaults, without the teacher of its recipe (all of it: digit51 train --target {target.name})"
        print(f"demo: 1/4 training {target.name}'s default model{' ' + row['arch'] if row else ''}{plain} -> {model_path}", file=sys.stderr)
        model = train(data, rec.config())
        float_model_file.save(model_path, model)
    qat = rec.qat_epochs if recipe.made_by(model, rec) else 0
    print(f"demo: 2/4 quantizing{f' after {qat} epochs of quantization-aware fine-tuning' if qat else ''}", file=sys.stderr)
    qmodel, qsum = quantize_and_measure(model, data, QuantConfig(), qat)
    int_model_file.save(out / "model.q51", qmodel, inputs=[model_path])
    print(f"demo: 3/4 building for {target.name} and running {len(idx)} test images in ucsim ({a.mode} mode)", file=sys.stderr)
    result = pipeline.simulate_firmware(qmodel, BuildSpec.of(qmodel, target, a.mode, a.kernel), data, idx, out / "firmware", "model.q51", "socket")
    print("demo: 4/4 predictions read over serial and compared logit for logit", file=sys.stderr)
    s = pipeline.summary(result, target)
    s["float_test_accuracy"] = qsum["float_test_accuracy"]
    s["int_test_accuracy"] = qsum["int_test_accuracy"]
    s["model"] = qmodel.name
    s["target"] = target.name
    if a.json:
        print(json.dumps(s, sort_keys=True))
    else:
        print_quant_summary(qsum)
        pipeline.print_summary(s, target, sys.stdout)
    return 0 if pipeline.clean(s) else 1


def register_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole pipeline: train -> quantize -> build -> simulate -> serial",
                       description="Train (or reuse) the target's default model (`digit51 fit --target T` marks it), quantize it, build the firmware, run it in ucsim, "
                                   "read its predictions over serial and compare them with the integer simulator.")
    add_data_option(p)
    p.add_argument("--model", metavar="MODEL", help="reuse this float model instead of OUT/model.d51")
    p.add_argument("--out", default="out", metavar="DIR", help="working folder for the artifacts (default out)")
    p.add_argument("--mode", choices=MODE_NAMES, default="selftest", help=f"{MODE_HELP} (default selftest)")
    add_firmware_options(p, images=20)
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.set_defaults(func=cmd_demo)


def cmd_fit(a: argparse.Namespace) -> int:
    from digit51.firmware.bench import frontier

    table = frontier.load(Path(a.frontier) if a.frontier else frontier.FRONTIER)
    chosen = [targets.get(a.target)] if a.target else list(targets.TARGETS.values())
    rows = sorted(table["rows"], key=lambda r: -r["int_accuracy"])
    report = []
    for target in chosen:
        default = frontier.choose_for(rows, target)
        for r in rows:
            mode = frontier.fits(r, target)
            prefix = "stream_" if mode == "stream" else ""
            cycles, worst = r.get(prefix + "cycles"), r.get(prefix + "cycles_max")
            classic = target.timing == "classic12"  # frontier cycles are 12-clock machine cycles
            report.append({"target": target.name, "arch": r["arch"], "deskew": r.get("deskew", False), "recipe": frontier.recipe_text(r),
                           "fits": mode is not None, "mode": mode, "default": r is default,
                           "int_accuracy": r["int_accuracy"], "cycles": cycles, "cycles_max": worst,
                           "seconds_per_digit": pipeline.seconds_per_digit(cycles, target) if cycles and classic else None,
                           "seconds_per_digit_max": pipeline.seconds_per_digit(worst, target) if worst and classic else None})
            if mode and not classic:
                report[-1].update(_chip_time(r, target))
    if a.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    for target in chosen:
        print(f"{target.name}: {target.description}")
        for e in (e for e in report if e["target"] == target.name and (e["fits"] or a.all)):
            speed = (f"{e['cycles']:>9,} mean" if e["cycles"] else "   (not measured)") + (
                f" {e['cycles_max']:>9,} max cycles" if e["cycles_max"] else " (max not measured)") + (
                f"  {e['seconds_per_digit']:.3f} / {e['seconds_per_digit_max']:.3f} s/digit" if e["seconds_per_digit_max"] else "") + (
                f"  {e['chip_time']}" if e.get("chip_time") else "")
            how = f"fits ({e['mode']} mode)" if e["fits"] else "does not fit"
            mark = "  <- default (digit51 train --target " + target.name + ")" if e["default"] else ""
            recipe = f"  recipe: {e['recipe']}" if e["recipe"] else ""
            print(f"  {e['arch']:>14}{' deskew' if e['deskew'] else '       '}  int8 {100 * e['int_accuracy']:.2f}%  {speed}  {how}{recipe}{mark}")
    print("cycles: 12-clock machine cycles measured in ucsim (firmware/bench/frontier.json), mean and maximum over the images "
          "run: serve mode with the default kernel (sparse-asm where its list fits), stream mode with the C kernel on "
          "at89s52; on 1T chips: time per digit measured by the sweep on each row's trained model with the chip's clock "
          f"table (firmware/measure/timing.py), where it was measured; each chip's default: the {frontier.CHIP_RULE}", file=sys.stderr)
    return 0


def _chip_time(row: dict, target) -> dict:
    """ms per digit on a 1T chip for one frontier row, as the sweep measured it on the row's
    trained model with the chip's clock table (firmware/measure/timing.py); none where it did not."""
    from digit51.firmware.bench import frontier

    lo, hi, est = frontier.chip_ms(row, target)
    if lo is None:
        return {"ms_per_digit": None, "chip_time": "time on this chip not measured"}
    t = row["chip_times"][target.name]
    text = f"{_span(lo, hi, est)} per digit at {target.clock_hz / 1e6:g} MHz ({t['table']} table, first {t['images']} test images"
    w_lo, w_hi, w_est = frontier.chip_ms(row, target, worst=True)
    slowest = {} if w_lo is None else {"worst_ms_per_digit": [w_lo, w_hi], "worst_estimate_ms_per_digit": w_est,
                                       "worst_image": t["worst"]["image"]}
    text += f"; the slowest in ucsim, image {t['worst']['image']}: {_span(w_lo, w_hi, w_est)})" if slowest else "; slowest image not timed)"
    return {"ms_per_digit": [lo, hi], "estimate_ms_per_digit": est, **slowest, "chip_time": text}


def _span(lo: float, hi: float | None, est: float | None) -> str:
    span = f"{lo:.3g}-{hi:.3g} ms" if hi is not None else f">= {lo:.3g} ms"
    return span + (f" (estimate {est:.3g} ms)" if est else "")


def register_train_target(train_parser) -> None:
    """`digit51 train --target CHIP`: train that chip's default recipe (frontier.choose_for),
    the trainer's other options applying where given."""
    from digit51.trainer import cli as trainer_cli

    add_target(train_parser, default=None, help="train this chip's default model (`digit51 fit --target CHIP` marks it): "
               "its architecture, preprocessing and recipe; options given on the command line still apply")
    train_parser.add_argument("--frontier", metavar="FILE", help="with --target: the frontier table to read (default: the one shipped with digit51)")

    def cmd(a: argparse.Namespace) -> int:
        if not a.target:
            if a.frontier:
                raise Digit51Error("--frontier goes with --target (whose default it picks)")
            return trainer_cli.cmd_train(a)
        from digit51.firmware.bench import frontier, recipe

        if a.arch or a.hidden is not None or a.pool is not None:
            raise Digit51Error(f"--target {a.target} picks the architecture: leave out --arch, --hidden and --pool")
        target = targets.get(a.target)
        rows = frontier.load(*[Path(a.frontier)] if a.frontier else [])["rows"]
        row = frontier.choose_for(rows, target)
        if row is None:
            raise Digit51Error(f"no measured model fits {target.name} within its time limit: see `digit51 fit --target {target.name} --all`")
        rec = recipe.of(row, rows)
        for key, value in rec.fields.items():
            if getattr(a, key) == train_parser.get_default(key):  # what the user typed wins
                setattr(a, key, tuple(value) if key == "hidden" else value)
        print(f"digit51: {target.name}'s default: {row['arch']}{' with deskew' if a.deskew else ''}, "
              f"{a.epochs} epochs (int8 {100 * row['int_accuracy']:.2f}% in the frontier)", file=sys.stderr)
        if rec.teacher and not a.teacher:  # the teachers the recipe distils from first, beside the model
            trainer_cli.config_from_args(a)  # the model's options checked before the teachers' minutes
            check_output(a.output)
            paths = [check_output(p) for p in recipe.teacher_files(a.output, rec.teacher_seeds)]
            a.teacher = recipe.train_teachers(mnist.load(a.data), rec, paths, a.seed, lambda text: print("digit51: " + text, file=sys.stderr))
        code = trainer_cli.cmd_train(a)
        if rec.qat_epochs:
            print(f"digit51: its recipe quantizes after {rec.qat_epochs} epochs of quantization-aware fine-tuning: "
                  f"digit51 quantize {a.output} -o MODEL.q51 --qat-epochs {rec.qat_epochs}", file=sys.stderr)
        return code

    train_parser.set_defaults(func=cmd)


def register_fit(sub) -> None:
    p = sub.add_parser("fit", help="which architectures fit a chip, with what accuracy and speed",
                       description="List the measured architectures (firmware/bench/frontier.json, from `python -m digit51.firmware.bench.sweep`) "
                                   "that fit a chip, with their int8 accuracy and cycles per digit.")
    add_target(p, default=None, help="one chip profile")
    p.add_argument("--all", action="store_true", help="also list the architectures that do not fit")
    p.add_argument("--frontier", metavar="FILE", help="frontier table to read (default: the one shipped with digit51)")
    p.add_argument("--json", action="store_true", help="print a machine-readable list on stdout")
    p.set_defaults(func=cmd_fit)
