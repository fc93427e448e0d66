"""Sweep architectures: train, quantize, build and measure each; write the frontier
(firmware/bench/frontier.json), its table into docs/frontier.md (between the frontier markers) and a
PNG plot (docs/frontier.png) of integer test accuracy against code bytes and cycles per
inference. Its result picks the default model (firmware/bench/frontier.py states the rule) on
the maximum cycles: measured over the first --images test images and the few the integer
simulator shows to have the most non-zero multiply-accumulates (the sparse kernels' work).

    python -m digit51.firmware.bench.sweep --data ../shared/data/mnist

The plot needs matplotlib (pip install '.[plots]'); the table does not.
"""

from __future__ import annotations

from digit51.codegen.spec import BuildSpec

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digit51.codegen import graph_plan
from digit51.codegen.render import DEFAULT_KERNEL
from digit51.firmware import options
from digit51.firmware.bench import frontier
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.firmware.measure import timing
from digit51.quantize import simulate
from digit51.quantize.measure import quantize_and_measure
from digit51.quantize.quantizer import QuantConfig
from digit51.trainer import mnist
from digit51.trainer import model_file as float_model_file
from digit51.trainer.files import atomic_write
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.train import train

MARK_START, MARK_END = "<!-- frontier:start -->", "<!-- frontier:end -->"
# (pool, hidden, recipe): the recipe overrides the sweep's defaults for its row and is shown
# beside the row's name. Deskew, unless a recipe says, follows deskews(): on, except where
# the smallest chip runs the model in stream mode, which cannot deskew.
# 196-20-10 is the widest model the at89s52 (8 KB, stream mode) holds; 100 epochs at lr 5e-3
# beat 40 at 2e-3 there by a point on the validation split (docs/frontier.md, "The smallest chip").
# FLAT: the fast rows, where deskew's ~100,000 cycles a digit cost more than the width they
# buy, and the 784-input rows (not retrained with deskew); 40 epochs measured best without it.
FLAT = {"deskew": False, "epochs": 40}
# The 12-clock default (issue 20): 196-192-64-10 distilled from TEACHER (a GRAPHS row, trained first
# with the same seed) under milder affine distortion; docs/training.md, "Distilling the MLP".
TEACHER = "conv3x3:8,maxpool2,conv3x3:16,maxpool2,dense:64,dense:10"
DISTILLED = {"teacher": TEACHER, "distill": 0.7, "rotate": 6, "scale": 0.08, "translate": 1.5}
ARCHS = ([(4, (h,), {}) for h in (16, 32, 64, 128)] + [(2, (h,), {}) for h in (13, 16, 32, 64, 128)]
         + [(2, (20,), {"epochs": 100, "lr": 5e-3})]
         + [(2, h, {}) for h in ((64, 32), (96, 32), (112, 32), (128, 32), (192, 64), (160, 96, 64))]
         + [(2, h, FLAT) for h in ((64, 32), (96, 32), (112, 32), (128, 32))]
         + [(1, (h,), FLAT) for h in (16, 32, 64)] + [(1, (64, 32), FLAT)]
         + [(2, (192, 64), DISTILLED)])


# Layer graphs (issue 20), each with its recipe (TrainConfig fields; deskew on unless it says; a
# graph may come with several): rows keyed by spec and recipe, measured by measure_graph. Filled
# from the CNN search of docs/training.md.
GRAPHS: list[tuple[str, dict]] = [
    ("avgpool2,conv3x3:16,maxpool2,conv3x3:32,maxpool2,dense:64,dense:10", {"epochs": 40}),
    (TEACHER, {"epochs": 60, "rotate": 8, "scale": 0.1, "translate": 2}),
    ("avgpool2,conv3x3:16,maxpool2,conv3x3:32,maxpool2,dense:64,dense:10", {"epochs": 40, "teacher": TEACHER, "distill": 0.7}),
]


def graph_recipes(spec: str) -> list[tuple[str, dict]]:
    """Every GRAPHS row of the layer graph `spec` (one per recipe), or `spec` with the defaults."""
    return [(s, r) for s, r in GRAPHS if s == spec] or [(spec, {})]


def arch_spec(text: str) -> list[tuple[int, tuple[int, ...], dict]]:
    """Every ARCHS row of the shape POOL:H[,H] (one per recipe), or that shape with the defaults."""
    try:
        pool, hidden = text.split(":")
        pool, hidden = int(pool), tuple(int(h) for h in hidden.split(","))
        return [(p, h, r) for p, h, r in ARCHS if (p, h) == (pool, hidden)] or [(pool, hidden, {})]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not POOL:H[,H], e.g. 2:128,32") from None


HEAVY = 5  # besides the first --images test images, run the ones with the most non-zero MACs


def images_run(q, data, images: int) -> list[int]:
    """The test images a row's firmware runs in ucsim: the first `images` and the HEAVY heaviest
    (an MLP's by non-zero MACs, a layer graph's by ink: its zero-skipping kernels' work grows with it)."""
    if q.graph:
        ink = (data.test_images > 0).sum(axis=(1, 2))
        heavy = [int(i) for i in np.argsort(-ink, kind="stable")[:HEAVY]]
    else:
        heavy = heaviest(q, data.test_images)
    return sorted(set(range(images)) | set(heavy))


def heaviest(q, images: np.ndarray, k: int = HEAVY) -> list[int]:
    """The k images with the most non-zero multiply-accumulates (the work of the sparse
    kernels), from the integer simulator: where the maximum cycles are found."""
    acts = simulate.activations(q, images)
    work = sum((a != 0).sum(axis=1).astype(np.int64) * w.shape[0] for a, w in zip(acts[:-1], q.weights))
    return [int(i) for i in np.argsort(-work, kind="stable")[:k]]


def firmware_cycles(r, first: int, prefix: str = "") -> dict:
    """Mean Timer 0 cycles over the first `first` test images, maximum over every image run,
    and the kernel of a firmware run."""
    cycles = {p.img: p.cycles for p in r.predictions}
    return {prefix + "cycles": round(float(np.mean([c for i, c in cycles.items() if i < first]))),
            prefix + "cycles_max": max(cycles.values()), prefix + "kernel": r.firmware[0].memory["kernel"]}


def model_name(cfg: TrainConfig) -> str:
    """The file name (without suffix) of a trained model in the sweep's cache."""
    lr = "" if cfg.lr == TrainConfig().lr else f"-lr{cfg.lr:g}"
    shape = "g-" + cfg.arch.replace(",", "_").replace(":", "") if cfg.arch else f"{cfg.pool}-{'-'.join(map(str, cfg.hidden))}"
    n = len(cfg.teacher_files)
    kd = (f"-kd{cfg.distill:g}" + (f"x{n}" if n > 1 else "")) if n else ""
    return f"{shape}-e{cfg.epochs}{lr}{kd}-s{cfg.seed}{'' if cfg.deskew else '-flat'}"


def trained(data, cfg: TrainConfig, cache: Path | None):
    """(float model, training seconds) for `cfg`: trained now, or taken from `cache` where an
    earlier sweep left it (training is deterministic: the same config gives the same bytes).
    The seconds go beside the model in the cache, not into it (the model file has no clock)."""
    name = model_name(cfg)
    if cache is not None and (cache / f"{name}.d51").is_file():
        model = float_model_file.load(cache / f"{name}.d51")
        if model.config == cfg:
            return model, json.loads((cache / f"{name}.json").read_text())["train_seconds"]
    t0 = time.perf_counter()
    model = train(data, cfg)
    seconds = time.perf_counter() - t0
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        float_model_file.save(cache / f"{name}.d51", model)
        atomic_write(cache / f"{name}.json", json.dumps({"train_seconds": seconds}).encode())
    return model, seconds


CHIP_IMAGES = 3  # the first test images, as `python -m digit51.firmware.measure.timing` times them by default


def chip_times(q, data, worst_image: int | None = None) -> dict:
    """Time per digit on each 1T chip that can run the model, by firmware/measure/timing.py on this
    trained model (the zero-skipping kernels' time follows its activations): target ->
    {"ms": [low, high or null], "estimate_ms", "table", "clock_hz", "images"} over the first
    CHIP_IMAGES test images, and "worst": {"image", "ms", "estimate_ms"} for test image
    `worst_image` alone (the one the most cycles in ucsim: what the chip's default is judged by)."""
    out = {}
    for t in targets.TARGETS.values():
        if t.timing == "classic12":  # their time is the frontier's cycles at the chip's clock
            continue
        try:
            mode = timing.runnable(q, t)
        except Digit51Error:
            continue
        e = timing.measure(q, t, data.test_images[:CHIP_IMAGES], mode=mode)
        out[t.name] = {**_ms(e), "table": e.table, "clock_hz": e.clock_hz, "images": CHIP_IMAGES}
        if worst_image is not None:
            out[t.name]["worst"] = {"image": worst_image, **_ms(timing.measure(q, t, data.test_images[worst_image:worst_image + 1], mode=mode))}
    return out


def _ms(e: timing.Estimate) -> dict:
    lo, hi = e.ms
    return {"ms": [round(lo, 3), None if hi is None else round(hi, 3)],
            "estimate_ms": round(timing.ms(e.estimate_clocks, e.clock_hz), 3) if e.estimate_clocks else None}


def slowest_image(r) -> int:
    """The test image a firmware run took the most cycles on."""
    return max(r.predictions, key=lambda p: p.cycles).img


def deskews(pool: int, hidden: tuple, data) -> bool:
    """Deskew (the default recipe) unless the architecture fits the smallest chip, whose
    stream firmware folds pixels into layer 0 as they arrive and so cannot deskew."""
    sizes = [(28 // pool) ** 2, *hidden, data.classes]
    return frontier.fits({"sizes": sizes, "pool": pool}, targets.get("at89s52")) != "stream"


def graph_config(spec: str, epochs: int, recipe: dict) -> TrainConfig:
    """How the sweep trains the layer graph `spec` with `recipe` (TrainConfig fields over the defaults)."""
    return TrainConfig(arch=spec, **{"deskew": True, "epochs": epochs, **frontier.own_fields(recipe)})


def trained_by_recipe(data, cfg: TrainConfig, recipe: dict, epochs: int, cache: Path | None, work: Path):
    """(config, float model, training seconds, integer model, integer test predictions) of one row.
    A recipe with a teacher trains that graph first, with each of its teacher seeds (their seconds
    count in the row's), and distils from them; one with QAT epochs fine-tunes with fake quantization before quantizing."""
    teacher_seconds, paths = 0.0, []
    if recipe.get(frontier.TEACHER):
        spec = recipe[frontier.TEACHER]
        tcfg = graph_config(spec, epochs, next((r for s, r in GRAPHS if s == spec and not r.get(frontier.TEACHER)), {}))
        for i in range(recipe.get(frontier.TEACHER_SEEDS, 1)):  # the row's seed and the next ones
            seeded = dataclasses.replace(tcfg, seed=cfg.seed + i)
            teacher, seconds = trained(data, seeded, cache)
            teacher_seconds += seconds
            paths.append((cache or work) / ("teacher-" + model_name(seeded) + ".d51"))
            float_model_file.save(paths[-1], teacher)  # the distilled model's config names these files
        cfg = dataclasses.replace(cfg, teacher=",".join(map(str, paths)))
    model, train_seconds = trained(data, cfg, cache)
    q, _ = quantize_and_measure(model, data, QuantConfig(), recipe.get(frontier.QAT, 0))
    _, pred = simulate.run(q, data.test_images)
    return cfg, model, teacher_seconds + train_seconds, q, pred


def trained_int(data, pool: int, hidden: tuple, recipe: dict, epochs: int, cache: Path | None, work: Path):
    """trained_by_recipe for the MLP of `pool` and `hidden`."""
    cfg = TrainConfig(hidden=hidden, pool=pool, **{"epochs": epochs, "deskew": deskews(pool, hidden, data), **frontier.own_fields(recipe)})
    return trained_by_recipe(data, cfg, recipe, epochs, cache, work)


def measure(data, pool: int, hidden: tuple, recipe: dict, epochs: int, images: int, work: Path,
            cache: Path | None = None) -> dict:
    cfg, model, train_seconds, q, pred = trained_int(data, pool, hidden, recipe, epochs, cache, work)
    row = {
        "arch": q.name,
        "sizes": q.sizes,
        "pool": pool,
        "deskew": cfg.deskew,
        "hidden": list(hidden),
        "float_accuracy": model.accuracy["test"],
        "int_accuracy": float((pred == data.test_labels).mean()),
        "weight_bytes": q.n_macs,
        "macs": q.n_macs,
        "train_seconds": round(train_seconds, 1),
    }
    if recipe:
        row["recipe"] = recipe
    generic = targets.get("generic-8052")
    run = images_run(q, data, images)
    try:
        r = pipeline.simulate_firmware(q, BuildSpec.of(q, generic, "serve"), data, run, work / (row["arch"] + ("-deskew" if cfg.deskew else "")), "sweep")
        row.update(code_bytes=r.firmware[0].memory["code"]["used"], bit_exact=r.comparison.bit_exact, **firmware_cycles(r, images))
        worst = slowest_image(r)
    except Digit51Error as e:
        row.update(code_bytes=None, cycles=None, cycles_max=None, bit_exact=None, note=str(e))
        worst = None
    tiny = targets.get("at89s52")
    if frontier.fits(row, tiny) == "stream":  # measure the tiny-RAM firmware too
        r = pipeline.simulate_firmware(q, BuildSpec.of(q, tiny, "stream"), data, run, work / (row["arch"] + "-stream"), "sweep")
        row.update(bit_exact=bool(row["bit_exact"] and r.comparison.bit_exact), **firmware_cycles(r, images, "stream_"))
    row["chip_times"] = chip_times(q, data, worst)
    return row


def measure_graph(data, spec: str, recipe: dict, epochs: int, images: int, work: Path, cache: Path | None = None) -> dict:
    """A frontier row for the layer graph `spec` trained with `recipe`: accuracy, code, cycles in
    ucsim on ucsim's core (serve mode, the default kernel; the maximum over the first `images`
    and the HEAVY inkiest test images) and each 1T chip's time."""
    cfg, model, train_seconds, q, pred = trained_by_recipe(data, graph_config(spec, epochs, recipe), recipe, epochs, cache, work)
    steps = graph_plan.steps(spec, q.input_shape)
    row = {"arch": spec, "graph": spec, "input": list(q.input_shape), "sizes": q.sizes, "pool": 1, "deskew": cfg.deskew,
           "hidden": [], "float_accuracy": model.accuracy["test"], "int_accuracy": float((pred == data.test_labels).mean()),
           "weight_bytes": int(sum(w.size for w in q.weights)), "macs": sum(s.macs for s in steps),
           "train_seconds": round(train_seconds, 1)}
    if recipe:
        row["recipe"] = recipe
    r = pipeline.simulate_firmware(q, BuildSpec.of(q, targets.get("generic-8052"), "serve"), data, images_run(q, data, images), work / "graph", "sweep")
    row.update(code_bytes=r.firmware[0].memory["code"]["used"], bit_exact=r.comparison.bit_exact, **firmware_cycles(r, images))
    row["chip_times"] = chip_times(q, data, slowest_image(r))
    return row


def remeasure_chip_times(data, row_key, recipe: dict, epochs: int, images: int, rows: list[dict], cache: Path | None) -> dict:
    """Train the row's model again (deterministic: the same bytes as the sweep that wrote
    the row), check it is that row's model (same integer test accuracy), run it in ucsim to find
    its slowest image and time it on the 1T chips; the row's other figures stay as measured.
    `row_key` is (pool, hidden) for an MLP or a layer graph's spec."""
    with tempfile.TemporaryDirectory(prefix="digit51-sweep-") as work:
        if isinstance(row_key, str):
            cfg, _, _, q, pred = trained_by_recipe(data, graph_config(row_key, epochs, recipe), recipe, epochs, cache, Path(work))
        else:
            cfg, _, _, q, pred = trained_int(data, *row_key, recipe, epochs, cache, Path(work))
        arch = q.name
        row = next((r for r in rows if (r["arch"], r.get("recipe"), r.get("deskew", False)) == (arch, recipe or None, cfg.deskew)), None)
        if row is None:
            raise Digit51Error(f"{arch}: no such row in the frontier to add chip times to; measure it with --only or --graph first")
        accuracy = float((pred == data.test_labels).mean())
        if accuracy != row["int_accuracy"]:
            raise Digit51Error(f"{arch}: the retrained model scores {accuracy:.4f}, the row {row['int_accuracy']:.4f}: not the row's "
                               "model (other epochs or code?); measure the whole row with --only or --graph")
        r = pipeline.simulate_firmware(q, BuildSpec.of(q, targets.get("generic-8052"), "serve"), data, images_run(q, data, images),
                                       Path(work) / "fw", "sweep")
    row["chip_times"] = chip_times(q, data, slowest_image(r))
    return row


def markdown(rows: list[dict], chosen: dict | None) -> str:
    lines = [
        "| model | pool | deskew | float acc. | int8 acc. | weight bytes | code bytes | cycles/digit mean | cycles/digit max "
        "| s/digit max @ 11.0592 MHz | training s | fits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["macs"]):
        modes = {t.name: frontier.fits(r, t) for t in targets.TARGETS.values()}
        fit = ", ".join(f"{name} ({mode})" for name, mode in modes.items() if mode)
        worst = frontier.worst_cycles(r)
        cyc = f"{r['cycles']:,}" if r.get("cycles") else "—"
        cyc_max = f"{r['cycles_max']:,}" if r.get("cycles_max") else "—"
        sec = f"{pipeline.seconds_per_digit(worst, targets.get('generic-8052')):.3f}" if worst else "—"
        train_s = f"{r['train_seconds']:,.0f}" if r.get("train_seconds") else "—"
        code = f"{r['code_bytes']:,}" if r.get("code_bytes") else "does not fit"
        name = f"**{r['arch']}**" if r is chosen else r["arch"]
        if frontier.recipe_text(r):
            name += f" ({frontier.recipe_text(r)})"
        lines.append(f"| {name} | {r['pool']} | {'yes' if r.get('deskew') else 'no'} | {100 * r['float_accuracy']:.2f} % | {100 * r['int_accuracy']:.2f} % | "
                     f"{r['weight_bytes']:,} | {code} | {cyc} | {cyc_max} | {sec} | {train_s} | {fit or 'none'} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], chosen: dict | None, path: Path, mark: str = "default") -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    measured = [dict(r, worst=frontier.worst_cycles(r)) for r in rows if r.get("cycles")]
    chosen = next((m for m in measured if chosen and m["arch"] == chosen["arch"]), None)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, key, label in ((axes[0], "code_bytes", "code bytes (firmware)"), (axes[1], "worst", "machine cycles per digit (max over the images run)")):
        for pool, marker in ((1, "o"), (2, "s"), (4, "^")):
            pts = [r for r in measured if r["pool"] == pool]
            ax.scatter([r[key] for r in pts], [100 * r["int_accuracy"] for r in pts], marker=marker, label=f"pool {pool}")
            for r in pts:
                ax.annotate(r["arch"], (r[key], 100 * r["int_accuracy"]), fontsize=6, xytext=(3, 2), textcoords="offset points")
        if chosen:
            ax.scatter([chosen[key]], [100 * chosen["int_accuracy"]], s=160, facecolors="none", edgecolors="red", label=mark)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("int8 test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].axvline(65536, color="gray", ls="--", lw=0.8)
    axes[1].axvline(frontier.MAX_CYCLES, color="gray", ls="--", lw=0.8)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"digit51 frontier ({DEFAULT_KERNEL} kernel, 12-clock 8051)")
    fig.tight_layout()
    with tempfile.NamedTemporaryFile(suffix=".png", dir=path.parent, delete=False) as tmp:
        fig.savefig(tmp.name)
    Path(tmp.name).replace(path)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_data_option(p)
    p.add_argument("--epochs", type=int, default=TrainConfig().epochs, help="training epochs per architecture")
    options.add_images(p, 20, help=f"test images run in ucsim per architecture for the mean cycles (default 20); the maximum is "
                                   f"taken over these and the {HEAVY} test images with the most non-zero multiply-accumulates",
                       start=False)
    p.add_argument("--frontier", default=str(frontier.FRONTIER), help="the measurements file to write (default firmware/bench/frontier.json)")
    p.add_argument("--readme", default="docs/frontier.md", help="page whose frontier table to replace (default docs/frontier.md)")
    p.add_argument("--plot", default="docs/frontier.png", help="where to write the plot (default docs/frontier.png)")
    p.add_argument("--redraw", action="store_true", help="do not measure: redraw the table and plot from firmware/bench/frontier.json")
    p.add_argument("--models", metavar="DIR", help="keep the trained float models here and reuse them on the next sweep "
                   "(to re-measure new firmware without training again)")
    p.add_argument("--only", action="append", type=arch_spec, metavar="POOL:H[,H]",
                   help="measure just this architecture (repeatable) and update its row in firmware/bench/frontier.json")
    p.add_argument("--graph", action="append", metavar="SPEC",
                   help="measure just this layer graph (repeatable; each of its recipes in GRAPHS, else the defaults) and update its rows")
    p.add_argument("--chip-times", action="store_true",
                   help="with --only or --graph: retrain the rows' models and measure only their time per digit on the 1T chips "
                        "(firmware/measure/timing.py: the first test images and the slowest in ucsim), keeping the rows' other figures")
    a = p.parse_args(argv)
    a.only = [row for rows in a.only or [] for row in rows]
    if a.chip_times and not (a.only or a.graph):
        p.error("--chip-times needs --only POOL:H[,H] or --graph SPEC (the rows to time)")
    t0 = time.perf_counter()
    if a.redraw:
        saved = frontier.load(Path(a.frontier))
        rows, meta = saved["rows"], saved["meta"]
        chosen = frontier.choose_default(rows)
    elif a.chip_times:
        saved = frontier.load(Path(a.frontier))
        rows, meta = saved["rows"], saved["meta"]
        data = mnist.load(a.data)
        failed = 0
        todo = [(spec, recipe) for spec in a.graph or [] for _, recipe in graph_recipes(spec)] + [((p, h), r) for p, h, r in a.only]
        for key, recipe in todo:  # each row written as soon as it is timed
            try:
                row = remeasure_chip_times(data, key, recipe, meta.get("epochs", a.epochs), meta.get("images", a.images), rows,
                                           Path(a.models) if a.models else None)
            except Digit51Error as e:
                print(f"sweep: error: {e}", file=sys.stderr, flush=True)
                failed += 1
                continue
            print(f"sweep: {row['arch']} chip times {json.dumps(row['chip_times'], sort_keys=True)}", file=sys.stderr, flush=True)
            atomic_write(Path(a.frontier), (json.dumps({"meta": meta, "rows": rows}, indent=1, sort_keys=True) + "\n").encode())
        print(f"chip times of {len(todo) - failed} of {len(todo)} row(s) written to {a.frontier}; {time.perf_counter() - t0:.0f} s")
        return 1 if failed else 0  # nothing the table or the plot show has changed
    else:
        data = mnist.load(a.data)
        partial = a.only or a.graph
        rows = frontier.load(Path(a.frontier))["rows"] if partial and Path(a.frontier).exists() else []
        graphs = [row for spec in a.graph or [] for row in graph_recipes(spec)] if partial else GRAPHS
        with tempfile.TemporaryDirectory(prefix="digit51-sweep-") as work:
            for spec, recipe in graphs:
                row = measure_graph(data, spec, recipe, a.epochs, a.images, Path(work), Path(a.models) if a.models else None)
                rows = [r for r in rows if (r["arch"], r.get("recipe")) != (row["arch"], row.get("recipe"))] + [row]
                print(f"sweep: {spec} int8 {100 * row['int_accuracy']:.2f}%  code {row['code_bytes']}  cycles mean {row['cycles']} "
                      f"max {row['cycles_max']}  chip times {json.dumps(row['chip_times'], sort_keys=True)}", file=sys.stderr, flush=True)
            for pool, hidden, recipe in a.only or ([] if partial else ARCHS):
                row = measure(data, pool, hidden, recipe, a.epochs, a.images, Path(work), Path(a.models) if a.models else None)
                rows = [r for r in rows if (r["arch"], r.get("recipe")) != (row["arch"], row.get("recipe"))] + [row]
                print(f"sweep: {row['arch']:>12}{' deskew' if row['deskew'] else ''} int8 {100 * row['int_accuracy']:.2f}%  code {row['code_bytes']}  "
                      f"cycles mean {row['cycles']} max {row['cycles_max']}  training {row['train_seconds']} s",
                      file=sys.stderr, flush=True)
        chosen = frontier.choose_default(rows)
        meta = {"epochs": a.epochs, "images": a.images, "kernel": DEFAULT_KERNEL, "seed": TrainConfig().seed,
                "chosen": chosen["arch"] if chosen else None, "rule": frontier.RULE}
        atomic_write(Path(a.frontier), (json.dumps({"meta": meta, "rows": rows}, indent=1, sort_keys=True) + "\n").encode())
    table = markdown(rows, chosen)
    readme = Path(a.readme)
    text = readme.read_text()
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start >= 0 and end > start:
        atomic_write(readme, (text[: start + len(MARK_START)] + "\n" + table + text[end:]).encode())
    plotted = plot(rows, chosen, Path(a.plot))
    print(table)
    print(f"default model by the rule: {meta['chosen']}; {time.perf_counter() - t0:.0f} s"
          + ("" if plotted else "; no plot (pip install matplotlib)"))
    return 0


if __name__ == "__main__":
    from digit51.firmware.sim import signals

    sys.exit(signals.run(main, "sweep"))  # one line on an error or a signal; s51 and temp folders go
