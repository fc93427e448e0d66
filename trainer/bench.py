"""Training benchmark: seconds per epoch and time to reach 95.76 % and 98 % test accuracy.

    python -m digit51.trainer.bench --data ../shared/data/mnist

Runs the default 8051 model and 784-128-N (N classes, taken from the data's labels).
Times are training time only (the test evaluation after each epoch is not counted).
Where PyTorch is importable, it also trains the same MLP (same batch size, Adam, CPU,
no augmentation on either side) for 3 epochs and prints the per-epoch time ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from digit51.trainer import mnist
from digit51.trainer.config import TrainConfig
from digit51.trainer.train import accuracy, inputs, train

TARGETS = (0.9576, 0.98)


def run_digit51(data, cfg: TrainConfig):
    elapsed, reached, per_epoch = 0.0, {}, []

    def on_epoch(epoch, params, seconds):
        nonlocal elapsed
        elapsed += seconds
        per_epoch.append(seconds)
        acc = accuracy(params, data.test_images, data.test_labels, cfg.preprocess)
        for t in TARGETS:
            if acc >= t and t not in reached:
                reached[t] = elapsed

    model = train(data, cfg, on_epoch=on_epoch)
    return float(np.median(per_epoch)), reached, model.accuracy["test"]


def run_torch(data, cfg: TrainConfig, epochs: int = 3):
    import torch

    torch.manual_seed(cfg.seed)
    (x, y), _ = data.split()
    x = torch.from_numpy(inputs(x, cfg.preprocess))
    y = torch.from_numpy(y.astype(np.int64))
    sizes = [x.shape[1], *cfg.hidden, data.classes]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), torch.__version__


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", metavar="DIR", help="MNIST folder (see `digit51 train --help`)")
    p.add_argument("--epochs", type=int, default=TrainConfig().epochs, help="epochs per model")
    a = p.parse_args(argv)
    data = mnist.load(a.data)
    default = TrainConfig(epochs=a.epochs)
    arch = "-".join(map(str, [(28 // default.pool) ** 2, *default.hidden, data.classes]))
    models = {
        f"default ({arch}, pool {default.pool})": default,
        f"784-128-{data.classes} (pool 1)": TrainConfig(hidden=(128,), pool=1, epochs=a.epochs),
    }
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
    for name, cfg in models.items():
        sec, reached, test = run_digit51(data, cfg)
        to = "  ".join(
            f"to {100 * t:.2f}%: {reached[t]:.1f}s" if t in reached else f"to {100 * t:.2f}%: not reached"
            for t in TARGETS
        )
        print(f"{name}: {sec:.2f} s/epoch  {to}  final test {100 * test:.2f}% ({cfg.epochs} epochs)")
        if have_torch:
            plain = dataclasses.replace(cfg, epochs=3, augment=0)
            psec, _, _ = run_digit51(data, plain)
            tsec, version = run_torch(data, plain)
            print(f"  without augmentation, 3 epochs: digit51 {psec:.2f} s/epoch, PyTorch {version} CPU (same MLP, batch, Adam) "
                  f"{tsec:.2f} s/epoch; digit51/PyTorch = {psec / tsec:.2f}")
    if not have_torch:
        print("PyTorch is not importable: no comparison (pip install torch to get one)")


if __name__ == "__main__":
    main()
