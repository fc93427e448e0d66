"""`digit51 report QMODEL --data DIR -o DIR`: one self-contained HTML page (images
embedded, nothing fetched) and report.json about a model on a chip: per layer sizes,
MACs, memory, accumulator bounds, shifts, clipping and cycles measured in ucsim
(firmware/measure/layer_cycles.py states the method); totals against the target's budgets; float vs
integer vs firmware accuracy; confusion matrix, most confident mistakes and the
frontier plot as PNG files (matplotlib: pip install 'digit51[plots]')."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import jinja2
import numpy as np

from digit51.codegen import graph_plan
from digit51.codegen.spec import BuildSpec
from digit51.codegen.render import SelfTestSet
from digit51.firmware import options
from digit51.firmware.bench import frontier
from digit51.firmware.measure import layer_cycles, timing
from digit51.firmware.host import pipeline
from digit51.firmware.host import run
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.firmware.builder.fit import check_fit, per_build, serving_mode
from digit51.quantize import model_file as int_model_file
from digit51.quantize import simulate
from digit51.quantize.ops import accumulator_bound
from digit51.trainer import arch, mnist
from digit51.trainer.artifact import atomic_write
from digit51.trainer.files import check_output_dir, replace_dir, temp_dir_beside
from digit51.trainer.cli import add_data_option
from digit51.trainer.errors import Digit51Error

WEB = Path(__file__).with_name("web")
MISTAKES = 12
OUTPUTS = {"report.html", "report.json", "confusion.png", "mistakes.png", "frontier.png"}  # all it writes in -o


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise Digit51Error("the report's plots need matplotlib: pip install 'digit51[plots]'") from None
    return plt


def layer_table(model, acts: list[np.ndarray]) -> list[dict]:
    """Static figures per layer, and clipping measured on the test images (acts: simulator intermediates)."""
    rows = []
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        n_out, n_in = w.shape
        bound = int(accumulator_bound(w, b).max())
        hidden = i < last
        out = acts[i + 1]
        rows.append({
            "layer": i, "inputs": n_in, "outputs": n_out, "macs": n_in * n_out,
            "weight_bytes": n_in * n_out, "bias_shift_bytes": 4 * n_out + (n_out if hidden else 0),
            "activation_bytes": (n_in if i == 0 else 0) + (n_out if hidden else 4 * n_out),
            "acc_bound": bound, "acc_bits": bound.bit_length() + 1,
            "shift_min": int(model.shifts[i].min()) if hidden else None,
            "shift_max": int(model.shifts[i].max()) if hidden else None,
            "saturated": float(np.mean(out == 255)) if hidden else None,
            "zero": float(np.mean(out == 0)) if hidden else None,
        })
    return rows


def graph_table(model, acts: list[np.ndarray]) -> list[dict]:
    """layer_table for a layer graph: one row per part of its memory plan (codegen/graph_plan.py),
    a segment of map layers run one channel at a time or a dense layer, as the firmware runs and
    the profile times them. acts: simulate.activations (the input map, then each later layer)."""
    spec = graph_plan.deployed_graph(model)
    plan = graph_plan.plan(spec, model.input_shape)
    n_prefix = len(arch.input_prefix(arch.parse(spec))[0])
    index = {s: k for k, s in enumerate(graph_plan.steps(spec, model.input_shape))}  # step -> position in the graph
    rows = []
    for i, part in enumerate(plan.parts):
        steps = part.steps if isinstance(part, graph_plan.Segment) else (part.step,)
        weighted = [s for s in steps if s.layer is not None]
        macs = sum(s.macs for s in steps)
        bounds = [int(accumulator_bound(model.weights[s.layer].reshape(len(model.weights[s.layer]), -1), model.biases[s.layer]).max())
                  for s in weighted]
        shifts = [model.shifts[s.layer] for s in weighted if s.layer < len(model.shifts)]
        last = steps[-1].layer == len(model.weights) - 1
        out = acts[max(index[steps[-1]] - n_prefix + 1, 0)]
        b = plan.buffers
        ram = (b["plane_a"] + b["plane_b"] + 4 * b["row_acc"] if isinstance(part, graph_plan.Segment) else 0) + \
            (4 * plan.classes if last else _size(steps[-1].shape_out))
        rows.append({
            "layer": f"{i}: " + " + ".join(map(str, steps)),
            "inputs": "x".join(map(str, steps[0].shape_in)), "outputs": "x".join(map(str, steps[-1].shape_out)),
            "macs": macs, "weight_bytes": sum(int(model.weights[s.layer].size) for s in weighted),
            "bias_shift_bytes": sum(5 * len(model.biases[s.layer]) for s in weighted) - (len(model.biases[-1]) if last else 0),
            "activation_bytes": ram,
            "acc_bound": max(bounds, default=0), "acc_bits": max(bounds, default=0).bit_length() + 1,
            "shift_min": int(min(x.min() for x in shifts)) if shifts else None,
            "shift_max": int(max(x.max() for x in shifts)) if shifts else None,
            "saturated": None if last else float(np.mean(out == 255)),
            "zero": None if last else float(np.mean(out == 0)),
        })
    return rows


def _size(shape) -> int:
    return int(np.prod(shape))


def _png(fig, plt) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def confusion(labels: np.ndarray, preds: np.ndarray, classes: int = 10) -> np.ndarray:
    m = np.zeros((classes, classes), np.int64)
    np.add.at(m, (labels.astype(int), preds.astype(int)), 1)
    return m


def confusion_png(m: np.ndarray, plt) -> bytes:
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=100)
    ax.imshow(np.log1p(m), cmap="Blues")
    for (r, c), v in np.ndenumerate(m):
        ax.text(c, r, str(v), ha="center", va="center", fontsize=7, color="white" if r == c else "black")
    ax.set_xticks(range(len(m)))
    ax.set_yticks(range(len(m)))
    ax.set_xlabel("predicted (integer simulator)")
    ax.set_ylabel("true label")
    ax.set_title(f"confusion on {m.sum():,} test images")
    fig.tight_layout()
    return _png(fig, plt)


def mistakes(logits: np.ndarray, labels: np.ndarray, k: int = MISTAKES) -> list[dict]:
    """The k wrong answers with the largest margin of the predicted logit over the true one."""
    preds = logits.argmax(axis=1)
    wrong = np.nonzero(preds != labels)[0]
    margin = logits[wrong, preds[wrong]].astype(np.int64) - logits[wrong, labels[wrong]]
    order = wrong[np.argsort(-margin, kind="stable")][:k]
    return [{"index": int(i), "label": int(labels[i]), "predicted": int(preds[i]),
             "margin": int(logits[i, preds[i]]) - int(logits[i, labels[i]])} for i in order]


def mistakes_png(items: list[dict], images: np.ndarray, plt) -> bytes:
    cols = 6
    rows = max(1, -(-len(items) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.55), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, m in zip(axes.flat, items):
        ax.imshow(images[m["index"]], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"#{m['index']}: {m['label']}\u2192{m['predicted']}", fontsize=8)
    fig.suptitle("most confident mistakes (true\u2192predicted)", fontsize=9)
    fig.tight_layout()
    return _png(fig, plt)


def frontier_png(this: dict, tmp: Path) -> bytes | None:
    from digit51.firmware.bench.sweep import plot

    rows = frontier.load()["rows"]
    path = tmp / "frontier.png"
    return path.read_bytes() if plot(rows + [this], this, path, mark="this model") else None


def measure_firmware(model, target, data, n_images: int, source: str, work: Path):
    """Build the serve firmware (memory) and a self-test firmware (per-layer cycles, answers, and
    on a 1T chip its time from the chip's instruction timing)."""
    serve = build(model, BuildSpec.of(model, target, serving_mode(model, target)), work / "serve", source)
    n = min(n_images, per_build(BuildSpec.of(model, target, "selftest")))
    idx = list(range(n))
    sel = SelfTestSet(idx, data.test_images[idx], data.test_labels[idx])
    st = build(model, BuildSpec.of(model, target, "selftest"), work / "selftest", source, sel)
    spec = graph_plan.deployed_graph(model)
    parts = len(graph_plan.plan(spec, model.input_shape).parts) if spec else len(model.weights)
    prof = layer_cycles.measure(st.ihx, st.folder / "firmware.map", target, parts, n, deskew=model.deskew)
    outcome = run.Outcome()
    for p in prof.predictions:
        outcome.add(p)
    logits, _ = simulate.run(model, data.test_images[idx])
    chip = None if target.timing == "classic12" else timing.estimate(st, target, n)
    return serve, prof, run.compare(outcome, idx, logits, data.test_labels[idx]), chip


def make(a: argparse.Namespace) -> dict:
    check_report_folder(a.output)  # before any work; checked again before publishing
    if a.images < 1:
        raise Digit51Error("--images must be at least 1")
    plt = _pyplot()
    model = int_model_file.load(a.qmodel)
    target = targets.get(a.target)
    data = mnist.load(a.data)
    try:
        check_fit(BuildSpec.of(model, target, "selftest", n_images=1))
    except Digit51Error as e:
        raise Digit51Error(f"cycles per layer are measured on the buffered self-test firmware, which does not fit "
                           f"{target.name} ({e}); report on --target generic-8052 (same 8051 core, same cycles)") from None
    name = BuildSpec.of(model, target).name

    print(f"report: integer simulator on {len(data.test_images):,} test images", file=sys.stderr)
    acts = [np.concatenate(parts) for parts in zip(*(simulate.activations(model, data.test_images[i:i + 2000])
                                                     for i in range(0, len(data.test_images), 2000)))]
    logits = acts[-1]
    preds = logits.argmax(axis=1)
    layers = graph_table(model, acts) if graph_plan.deployed_graph(model) else layer_table(model, acts)
    conf = confusion(data.test_labels, preds, logits.shape[1])
    wrong = mistakes(logits, data.test_labels)

    print(f"report: building for {target.name} and profiling in ucsim", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="digit51-report-"))
    try:
        serve, prof, cmp, chip = measure_firmware(model, target, data, a.images, Path(a.qmodel).name, tmp)
        per_image = prof.totals
        for i, row in enumerate(layers):  # by name: a deskew model has a deskew segment before layer 0
            k = prof.segments.index(f"layer {i}")
            row["cycles_mean"] = float(prof.cycles[:, k].mean())
            row["cycles_max"] = int(prof.cycles[:, k].max())
            row["cycles_per_mac"] = row["cycles_mean"] / row["macs"]
        extra = [{"segment": s, "cycles_mean": float(prof.cycles[:, k].mean()), "cycles_max": int(prof.cycles[:, k].max())}
                 for k, s in enumerate(prof.segments) if not s.startswith("layer")]
        cycles_mean = float(prof.timer0.mean())
        this = {"arch": name, "pool": model.pool, "code_bytes": serve.memory["code"]["used"],
                "cycles": cycles_mean, "int_accuracy": float((preds == data.test_labels).mean())}
        pngs = {"confusion": confusion_png(conf, plt), "mistakes": mistakes_png(wrong, data.test_images, plt),
                "frontier": frontier_png(this, tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    float_acc = model.meta.get("float_model", {}).get("accuracy", {}).get("test")
    summary = {
        "model": name, "target": target.name, "target_description": target.description,
        "kernel": serve.memory.get("kernel"), "mode": serve.memory.get("mode"),
        "layers": layers, "other_segments": extra,
        "cycles": {"method": layer_cycles.__doc__.split("\n\n")[1].replace("\n", " "),
                   "images": int(len(per_image)), "mean": cycles_mean, "max": int(prof.timer0.max()),
                   "segments_sum_mean": float(per_image.mean()), "worst_gap": prof.worst_gap},
        "seconds_per_digit": None if chip else pipeline.seconds_per_digit(cycles_mean, target),
        "chip_ms": list(chip.ms) if chip else None,  # a 1T chip: its instruction timing on the profiled firmware
        "time_text": time_text(cycles_mean, target, chip),
        "budgets": {"code": serve.memory["code"], "iram": serve.memory["iram"], "xram": serve.memory["xram"],
                    "cycles": {"used": round(cycles_mean), "budget": frontier.MAX_CYCLES}},
        "accuracy": {"float": float_acc, "int": this["int_accuracy"], "int_images": int(len(preds)),
                     "firmware": cmp.accuracy, "firmware_images": cmp.images, "firmware_bit_exact": cmp.bit_exact,
                     "firmware_mismatches": len(cmp.mismatches)},
        "confusion": conf.tolist(),
        "mistakes": wrong,
    }
    files = {f"{k}.png": v for k, v in pngs.items() if v is not None}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(WEB)), autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.get_template("report.html.j2").render(
        s=summary, images={k[:-4]: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in files.items()})
    files["report.json"] = (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode()
    files["report.html"] = html.encode()
    publish(files, check_report_folder(a.output))  # checked again: the run took minutes
    return summary


def time_text(cycles: float, target, chip) -> str:
    """The time per digit in words: the 12-clock parts' from the simulated cycles, a 1T chip's
    from its instruction table (`chip`, a timing.Estimate), ucsim's core being 12-clock only."""
    if chip is None:
        return f"{pipeline.seconds_per_digit(cycles, target):.3f} s per digit at {target.clock_hz / 1e6:.4f} MHz"
    return (f"{chip.span()} per digit on {target.name} at {chip.clock_hz / 1e6:g} MHz from its instruction timing "
            f"({chip.table} table: {chip.source}); the cycles here are those of ucsim's 12-clock core")


def check_report_folder(path) -> Path:
    """Refuse, before any work, an -o that is empty, not a folder, in a folder that cannot be
    written, holding files the report did not write (as `digit51 build` does), or whose
    report files are not plain files (a symlinked report.json is never written through)."""
    out = check_output_dir(path, OUTPUTS)
    out = Path(os.path.abspath(out))  # `-o .`: the folder is swapped in beside it, in its real parent
    for name in sorted(OUTPUTS):
        if os.path.lexists(out / name) and (os.path.islink(out / name) or not os.path.isfile(out / name)):
            raise Digit51Error(f"cannot write {out / name}: it is a symlink, folder or special file; "
                               "name a new or empty output folder")
    return out


def publish(files: dict[str, bytes], out: Path) -> None:
    """Write every file into a private folder beside `out`, then swap it in whole."""
    tmp = temp_dir_beside(out)
    try:
        for fname, data_bytes in files.items():
            atomic_write(tmp / fname, data_bytes)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_report(a: argparse.Namespace) -> int:
    s = make(a)
    if a.json:
        print(json.dumps(s, sort_keys=True))
    else:
        c, acc = s["cycles"], s["accuracy"]
        flt = "unknown" if acc["float"] is None else f"{100 * acc['float']:.2f}%"
        print(f"report: {a.output}/report.html: {s['model']} on {s['target']}: {c['mean']:,.0f} cycles per digit "
              f"({s['time_text']}), per-layer sum within {100 * c['worst_gap']:.3f}% of Timer 0; "
              f"accuracy float {flt}, "
              f"int {100 * acc['int']:.2f}%, firmware {100 * acc['firmware']:.2f}% on {acc['firmware_images']} images "
              f"({'bit-exact' if acc['firmware_bit_exact'] else 'MISMATCHES'})")
    return 0 if s["accuracy"]["firmware_bit_exact"] else 1


def register(sub) -> None:
    p = sub.add_parser("report", help="HTML report: per-layer memory, cycles in ucsim, accuracy, plots",
                       description=__doc__.splitlines()[0])
    p.add_argument("qmodel", metavar="QMODEL", help="integer model from `digit51 quantize`")
    add_data_option(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for report.html, report.json and the PNG plots")
    options.add_target(p, help="chip profile: budgets, clock")
    options.add_images(p, 20, help="test images run in ucsim for cycles and firmware accuracy (default 20; capped by what one "
                                   "self-test build holds)", start=False)
    p.add_argument("--json", action="store_true", help="also print the report as JSON on stdout")
    p.set_defaults(func=cmd_report)
