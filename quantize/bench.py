"""Integer simulator throughput in images per second.

    python -m digit51.quantize.bench QMODEL --data ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import time

from digit51.trainer.cli import add_data_option
from digit51.quantize import model_file
from digit51.quantize.simulate import run
from digit51.trainer import mnist


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qmodel", help="integer model from `digit51 quantize`")
    add_data_option(p)
    p.add_argument("--repeat", type=int, default=5, help="timed passes over the 10,000 test images")
    a = p.parse_args(argv)
    model = model_file.load(a.qmodel)
    data = mnist.load(a.data)
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        _, pred = run(model, data.test_images)
        times.append(time.perf_counter() - t0)
    best = min(times)
    n = len(data.test_images)
    print(f"{model.name}: {n / best:,.0f} images/s (best of {a.repeat}; {best:.3f} s for {n} images), "
          f"accuracy {100 * (pred == data.test_labels).mean():.2f}%")


if __name__ == "__main__":
    main()
