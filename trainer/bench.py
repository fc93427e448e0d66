"""Training benchmark: seconds per epoch and time to reach 95.76 % and 98 % test accuracy.

    python -m digit51.trainer.bench --data ../shared/data/mnist
    python -m digit51.trainer.bench --data ../shared/data/mnist --arch avgpool2,conv3x3:8,maxpool2,dense:10

Runs the default 8051 model and 784-128-N (N classes, taken from the data's labels), or
with --arch that layer graph only, plus where its time goes (forward and backward per
layer). Times are training time only (the test evaluation after each epoch is not counted).
Where PyTorch is importable (the optional extra: pip install digit51[bench]), it also
trains the same network (same batch size, Adam, CPU, one thread on both sides, no
augmentation on either side) and prints the per-epoch time ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from digit51.trainer.cli import add_data_option
from digit51.trainer import blas, mnist
from digit51.trainer.config import TrainConfig
from digit51.trainer.train import accuracy, inputs, train

TARGETS = (0.9576, 0.98)


def run_digit51(data, cfg: TrainConfig):
    elapsed, reached, per_epoch = 0.0, {}, []

    def on_epoch(epoch, params, seconds):
        nonlocal elapsed
        elapsed += seconds
        per_epoch.append(seconds)
        acc = accuracy(params, data.test_images, data.test_labels, cfg.preprocess, net=cfg.net)
        for t in TARGETS:
            if acc >= t and t not in reached:
                reached[t] = elapsed

    model = train(data, cfg, on_epoch=on_epoch)
    return float(np.median(per_epoch)), reached, model.accuracy["test"]


def torch_graph(spec: str, in_channels: int = 1):
    """The PyTorch twin of a layer graph after its leading avgpools (trainer/arch.py)."""
    import torch

    from digit51.trainer import arch

    layers, c, flat = [], in_channels, False
    for L in arch.input_prefix(arch.parse(spec))[1]:
        if L.kind == "conv3x3":
            layers += [torch.nn.Conv2d(c, L.n, 3), torch.nn.ReLU()]
            c = L.n
        elif L.kind == "dwconv3x3":
            layers += [torch.nn.Conv2d(c, c, 3, groups=c), torch.nn.ReLU()]
        elif L.kind == "conv1x1":
            layers += [torch.nn.Conv2d(c, L.n, 1), torch.nn.ReLU()]
            c = L.n
        elif L.kind == "maxpool2":
            layers.append(torch.nn.MaxPool2d(2))
        elif L.kind == "avgpool":
            layers.append(torch.nn.AvgPool2d(L.n))
        else:
            if not flat:
                layers.append(torch.nn.Flatten())
                flat = True
            layers += [torch.nn.LazyLinear(L.n), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def run_torch(data, cfg: TrainConfig, epochs: int = 3):
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)  # digit51 trains on one BLAS thread (trainer/blas.py)
    (x, y), _ = data.split()
    x = torch.from_numpy(inputs(x, cfg.preprocess))
    y = torch.from_numpy(y.astype(np.int64))
    if cfg.arch:
        net = torch_graph(cfg.arch)
        net(x[:2])  # sizes the lazy layers
    else:
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


@blas.one_thread
def profile(data, cfg: TrainConfig, steps: int = 40) -> list[tuple[str, float, float]]:
    """(layer, forward s, backward s) per training step of `cfg`'s network, averaged over
    `steps` batches (the optimizer step and the loss are not counted)."""
    net = cfg.net
    (x, y), _ = data.split()
    params = train_params(data, cfg)
    rng = np.random.default_rng(0)
    fwd, bwd = np.zeros(len(net.impls)), np.zeros(len(net.impls))
    for _ in range(steps):
        idx = rng.choice(len(x), cfg.batch_size, replace=False)
        h = inputs(x[idx], cfg.preprocess).transpose(0, 2, 3, 1)
        caches, parts = [], net._split(params)
        for i, (impl, p) in enumerate(zip(net.impls, parts)):
            t0 = time.perf_counter()
            h, c = impl.forward(p, h, relu=i < len(net.impls) - 1)
            fwd[i] += time.perf_counter() - t0
            caches.append(c)
        d = np.ones_like(h) / len(h)
        for i in reversed(range(len(net.impls))):
            t0 = time.perf_counter()
            d, _ = net.impls[i].backward(parts[i], caches[i], d, need_dx=i > 0)
            bwd[i] += time.perf_counter() - t0
    return [(str(L), f / steps, b / steps) for L, f, b in zip(net.body, fwd, bwd)]


def train_params(data, cfg: TrainConfig):
    h, w = data.train_images.shape[1:]
    return cfg.net.init_params((h, w), np.random.default_rng(cfg.seed))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(p)
    p.add_argument("--epochs", type=int, default=TrainConfig().epochs, help="epochs per model")
    p.add_argument("--arch", metavar="SPEC", help="time this layer graph (as `digit51 train --arch`) instead of the two MLPs")
    p.add_argument("--torch-epochs", type=int, default=3, help="epochs of the no-augmentation comparison with PyTorch (default 3)")
    a = p.parse_args(argv)
    data = mnist.load(a.data)
    default = TrainConfig(epochs=a.epochs)
    arch = "-".join(map(str, [(28 // default.pool) ** 2, *default.hidden, data.classes]))
    models = {
        f"default ({arch}, pool {default.pool})": default,
        f"784-128-{data.classes} (pool 1)": TrainConfig(hidden=(128,), pool=1, epochs=a.epochs),
    }
    if a.arch:
        models = {a.arch: TrainConfig(arch=a.arch, epochs=a.epochs)}
        steps = profile(data, models[a.arch])
        total = sum(f + b for _, f, b in steps)
        print(f"{a.arch}: where a step's time goes (batch {models[a.arch].batch_size}, forward + backward, no optimizer)")
        for name, f, b in steps:
            print(f"  {name:<12} forward {1000 * f:7.2f} ms  backward {1000 * b:7.2f} ms  ({100 * (f + b) / total:4.1f} %)")
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
            plain = dataclasses.replace(cfg, epochs=a.torch_epochs, augment=0)
            psec, _, _ = run_digit51(data, plain)
            tsec, version = run_torch(data, plain, a.torch_epochs)
            print(f"  without augmentation, {a.torch_epochs} epochs: digit51 {psec:.2f} s/epoch, PyTorch {version} CPU, 1 thread "
                  f"(same network, batch, Adam) {tsec:.2f} s/epoch; digit51/PyTorch = {psec / tsec:.2f}")
    if not have_torch:
        print("PyTorch is not importable: no comparison (pip install digit51[bench] to get one)")


if __name__ == "__main__":
    main()
