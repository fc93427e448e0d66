"""Sweep architectures: train, quantize, build and measure each; write the frontier
(firmware/frontier.json), its table into README.md (between the frontier markers) and a
PNG plot (docs/frontier.png) of integer test accuracy against code bytes and cycles per
inference. Its result picks the default model (firmware/frontier.py states the rule).

    python -m digit51.firmware.sweep --data ../shared/data/mnist

The plot needs matplotlib (pip install '.[sweep]'); the table does not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from digit51.codegen.render import DEFAULT_KERNEL
from digit51.firmware import frontier, pipeline, targets
from digit51.quantize import simulate
from digit51.quantize.quantizer import quantize
from digit51.trainer import mnist
from digit51.trainer.artifact import atomic_write
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.train import train

MARK_START, MARK_END = "<!-- frontier:start -->", "<!-- frontier:end -->"
ARCHS = [(p, (h,)) for p in (4, 2, 1) for h in (16, 32, 64, 96, 128)] + [(2, (64, 32)), (2, (128, 32))]


def arch_spec(text: str) -> tuple[int, tuple[int, ...]]:
    try:
        pool, hidden = text.split(":")
        return int(pool), tuple(int(h) for h in hidden.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not POOL:H[,H], e.g. 2:128,32") from None


def measure(data, pool: int, hidden: tuple, epochs: int, images: int, work: Path) -> dict:
    cfg = TrainConfig(hidden=hidden, pool=pool, epochs=epochs)
    model = train(data, cfg)
    q = quantize(model, data.train_images[:5000])
    _, pred = simulate.run(q, data.test_images)
    row = {
        "arch": "-".join(map(str, q.sizes)),
        "sizes": q.sizes,
        "pool": pool,
        "hidden": list(hidden),
        "float_accuracy": model.accuracy["test"],
        "int_accuracy": float((pred == data.test_labels).mean()),
        "train_seconds": model.train_seconds,
        "weight_bytes": q.n_macs,
        "macs": q.n_macs,
    }
    generic = targets.get("generic-8052")
    try:
        r = pipeline.simulate_firmware(q, generic, data, list(range(images)), "serve", "socket", work / row["arch"], "sweep")
        row.update(code_bytes=r.firmware[0].memory["code"]["used"], cycles=round(r.comparison.mean_cycles),
                   bit_exact=r.comparison.bit_exact)
    except Digit51Error as e:
        row.update(code_bytes=None, cycles=None, bit_exact=None, note=str(e))
    tiny = targets.get("at89s52")
    if frontier.fits(row, tiny) == "stream":  # measure the tiny-RAM firmware too
        r = pipeline.simulate_firmware(q, tiny, data, list(range(images)), "stream", "socket", work / (row["arch"] + "-stream"), "sweep")
        row.update(stream_cycles=round(r.comparison.mean_cycles), bit_exact=bool(row["bit_exact"] and r.comparison.bit_exact))
    return row


def markdown(rows: list[dict], chosen: dict | None) -> str:
    lines = [
        "| model | pool | float acc. | int8 acc. | weight bytes | code bytes | cycles/digit | s/digit @ 11.0592 MHz | fits |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["macs"]):
        modes = {t.name: frontier.fits(r, t) for t in targets.TARGETS.values()}
        fit = ", ".join(f"{name} ({mode})" for name, mode in modes.items() if mode)
        cyc = f"{r['cycles']:,}" if r.get("cycles") else "—"
        sec = f"{pipeline.seconds_per_digit(r['cycles'], targets.get('generic-8052')):.3f}" if r.get("cycles") else "—"
        code = f"{r['code_bytes']:,}" if r.get("code_bytes") else "does not fit"
        name = f"**{r['arch']}**" if r is chosen else r["arch"]
        lines.append(f"| {name} | {r['pool']} | {100 * r['float_accuracy']:.2f} % | {100 * r['int_accuracy']:.2f} % | "
                     f"{r['weight_bytes']:,} | {code} | {cyc} | {sec} | {fit or 'none'} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], chosen: dict | None, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    measured = [r for r in rows if r.get("cycles")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, key, label in ((axes[0], "code_bytes", "code bytes (firmware)"), (axes[1], "cycles", "machine cycles per digit")):
        for pool, marker in ((1, "o"), (2, "s"), (4, "^")):
            pts = [r for r in measured if r["pool"] == pool]
            ax.scatter([r[key] for r in pts], [100 * r["int_accuracy"] for r in pts], marker=marker, label=f"pool {pool}")
            for r in pts:
                ax.annotate(r["arch"], (r[key], 100 * r["int_accuracy"]), fontsize=6, xytext=(3, 2), textcoords="offset points")
        if chosen:
            ax.scatter([chosen[key]], [100 * chosen["int_accuracy"]], s=160, facecolors="none", edgecolors="red", label="default")
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
    p.add_argument("--data", metavar="DIR", help="MNIST folder")
    p.add_argument("--epochs", type=int, default=TrainConfig().epochs, help="training epochs per architecture")
    p.add_argument("--images", type=int, default=3, help="test images run in ucsim per architecture to measure cycles")
    p.add_argument("--readme", default="README.md", help="README whose frontier table to replace (default README.md)")
    p.add_argument("--plot", default="docs/frontier.png", help="where to write the plot (default docs/frontier.png)")
    p.add_argument("--redraw", action="store_true", help="do not measure: redraw the table and plot from firmware/frontier.json")
    p.add_argument("--only", action="append", type=arch_spec, metavar="POOL:H[,H]",
                   help="measure just this architecture (repeatable) and update its row in firmware/frontier.json")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    if a.redraw:
        saved = frontier.load()
        rows, meta = saved["rows"], saved["meta"]
        chosen = frontier.choose_default(rows)
    else:
        data = mnist.load(a.data)
        rows = frontier.load()["rows"] if a.only else []
        with tempfile.TemporaryDirectory(prefix="digit51-sweep-") as work:
            for pool, hidden in a.only or ARCHS:
                row = measure(data, pool, hidden, a.epochs, a.images, Path(work))
                rows = [r for r in rows if r["arch"] != row["arch"]] + [row]
                print(f"sweep: {row['arch']:>12} int8 {100 * row['int_accuracy']:.2f}%  code {row['code_bytes']}  "
                      f"cycles {row['cycles']}", file=sys.stderr, flush=True)
        chosen = frontier.choose_default(rows)
        meta = {"epochs": a.epochs, "kernel": DEFAULT_KERNEL, "seed": TrainConfig().seed,
                "chosen": chosen["arch"] if chosen else None, "rule": frontier.RULE}
        atomic_write(frontier.FRONTIER, (json.dumps({"meta": meta, "rows": rows}, indent=1, sort_keys=True) + "\n").encode())
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
    sys.exit(main())
