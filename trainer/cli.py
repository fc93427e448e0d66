"""`digit51 train` and `digit51 eval`."""

from __future__ import annotations

import argparse
import json
import math
import sys

from digit51.trainer import mnist, model_file
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import check_output
from digit51.trainer import arch
from digit51.trainer.train import MAX_MEMORY_MB, accuracy, check_arch, train


def add_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        metavar="DIR",
        help="folder with the four MNIST IDX files (.gz or raw); default: $DIGIT51_DATA, "
        "then the user cache, then a download into the cache",
    )


def hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of sizes, e.g. 128 or 128,64") from None
    return sizes


def mlp_layers(pool: int, hidden, classes: int) -> list[arch.Layer]:
    """The MLP shorthand as layers: --pool 2 --hidden 192,64 on 10 classes is avgpool2,dense:192,dense:64,dense:10."""
    return [arch.Layer("avgpool", pool)] * (pool > 1) + [arch.Layer("dense", n) for n in (*hidden, classes)]


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The TrainConfig fields as options; defaults come from TrainConfig itself."""
    d = TrainConfig()
    p.add_argument("--arch", metavar="SPEC", default="", help="a layer graph instead of the MLP, e.g. avgpool2,conv3x3:8,maxpool2,dense:10 "
                   "(layers: avgpoolK, maxpool2, conv3x3:N, dwconv3x3, conv1x1:N, dense:N; the last dense:N, N = classes)")
    p.add_argument("--hidden", type=hidden_sizes, default=None, help=f"MLP hidden layer widths, comma-separated (default {','.join(map(str, d.hidden))})")
    p.add_argument("--pool", type=int, choices=(1, 2, 4), default=None, help=f"MLP input downsampling: 1=28x28, 2=14x14, 4=7x7 (default {d.pool})")
    p.add_argument("--deskew", action=argparse.BooleanOptionalAction, default=d.deskew, help=f"straighten each image's slant before pooling; the firmware does the same (default {'on' if d.deskew else 'off'})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"training epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"minibatch size (default {d.batch_size})")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=d.optimizer, help=f"optimizer (default {d.optimizer})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--momentum", type=float, default=d.momentum, help=f"SGD momentum or Adam beta1 (default {d.momentum})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"decoupled weight decay (default {d.weight_decay})")
    p.add_argument("--schedule", choices=("cosine", "step", "constant"), default=d.schedule, help=f"learning-rate schedule (default {d.schedule})")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help=f"linear warmup length in epochs (default {d.warmup_epochs})")
    p.add_argument("--augment", type=int, default=d.augment, help=f"0 = no augmentation at all; else random shifts of up to N pixels when no distortion range is set (default {d.augment})")
    p.add_argument("--rotate", type=float, default=d.rotate, help=f"random rotation in +-DEG degrees (default {d.rotate})")
    p.add_argument("--scale", type=float, default=d.scale, help=f"random zoom in 1 +- S (default {d.scale})")
    p.add_argument("--shear", type=float, default=d.shear, help=f"random shear factor in +-S (default {d.shear})")
    p.add_argument("--translate", type=float, default=d.translate, help=f"random sub-pixel move in +-PX per axis (default {d.translate})")
    p.add_argument("--elastic-alpha", type=float, default=d.elastic_alpha, help=f"elastic distortion strength in pixels, 0 = off (default {d.elastic_alpha})")
    p.add_argument("--elastic-sigma", type=float, default=d.elastic_sigma, help=f"elastic field smoothing in pixels (default {d.elastic_sigma})")
    p.add_argument("--teacher", default=d.teacher, metavar="MODEL[,MODEL...]", help="distil from this float model (a wider one trained by `digit51 train`), or from the mean logits of several")
    p.add_argument("--distill", type=float, default=d.distill, help=f"weight of the teacher's soft targets, 0..1 (default {d.distill})")
    p.add_argument("--temperature", type=float, default=d.temperature, help=f"distillation temperature (default {d.temperature})")
    p.add_argument("--keep", choices=("best", "last"), default=d.keep, help=f"keep the weights best on validation or the last epoch's (default {d.keep})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed; same seed, same bytes (default {d.seed})")


def mlp_or_graph(a: argparse.Namespace) -> tuple[tuple[int, ...], int, str]:
    """(hidden, pool, arch) from --hidden/--pool or --arch; an --arch that is an MLP
    becomes the shorthand's (the same model, the same bytes)."""
    d = TrainConfig()
    spec = getattr(a, "arch", "") or ""
    if not spec:
        return a.hidden or d.hidden, a.pool or d.pool, ""
    if a.hidden is not None or a.pool is not None:
        raise Digit51Error("give --arch or --hidden/--pool, not both (--pool 2 --hidden 192,64 is --arch avgpool2,dense:192,dense:64,dense:10)")
    try:
        layers = arch.parse(spec)
    except ValueError as e:
        raise Digit51Error(f"--arch {spec}: {e}") from None
    mlp = arch.mlp_form(layers)
    return (mlp[1], mlp[0], "") if mlp else (d.hidden, d.pool, arch.spec_string(layers))


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    hidden, pool, spec = mlp_or_graph(a)
    try:
        return TrainConfig(
            hidden=hidden, pool=pool, arch=spec, deskew=a.deskew, epochs=a.epochs, batch_size=a.batch_size, optimizer=a.optimizer,
            lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay, schedule=a.schedule,
            warmup_epochs=a.warmup_epochs, augment=a.augment, rotate=a.rotate, scale=a.scale, shear=a.shear,
            translate=a.translate, elastic_alpha=a.elastic_alpha, elastic_sigma=a.elastic_sigma,
            teacher=a.teacher, distill=a.distill, temperature=a.temperature, seed=a.seed, keep=a.keep,
        )
    except ValueError as e:
        raise Digit51Error(f"bad training option: {e}") from None


def cmd_train(a: argparse.Namespace) -> int:
    cfg = config_from_args(a)
    if not (math.isfinite(a.max_memory) and a.max_memory > 0):
        raise Digit51Error(f"--max-memory {a.max_memory:g}: give a positive number of megabytes")
    check_output(a.output)
    h, w, classes = mnist.peek(a.data)  # shapes checked before the images are read
    check_arch(a.arch or arch.spec_string(mlp_layers(cfg.pool, cfg.hidden, classes)), h, w, classes)
    data = mnist.load(a.data)
    model = train(data, cfg, max_memory_mb=a.max_memory)
    model_file.save(a.output, model)
    acc = model.accuracy
    print(
        f"digit51: {model.name} model, validation {100 * acc['validation']:.2f}%, "
        f"test {100 * acc['test']:.2f}% (epoch {model.best_epoch}) -> {a.output}",
        file=sys.stderr,
    )
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    model = model_file.load(a.model)
    data = mnist.load(a.data)
    (_, _), (xv, yv) = data.split()
    net = model.config.net
    summary = {
        "model": a.model,
        "sizes": model.sizes,
        "pool": model.pool,
        "deskew": model.config.deskew,
        "validation_accuracy": accuracy(model.params, xv, yv, model.preprocess, net=net),
        "test_accuracy": accuracy(model.params, data.test_images, data.test_labels, model.preprocess, net=net),
        "config": model.config.to_dict(),
    }
    if a.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        pool = "" if model.config.arch else f", pool {model.pool}"
        print(f"model       {model.name}{pool}{', deskew' if model.config.deskew else ''}")
        print(f"validation  {100 * summary['validation_accuracy']:.2f}%")
        print(f"test        {100 * summary['test_accuracy']:.2f}%")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a float MLP or layer graph on MNIST", description="Train a float MLP (--hidden, --pool) or layer graph (--arch) on MNIST or another IDX image set with NumPy.")
    add_data_option(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="where to write the float model file")
    add_train_options(p)
    p.add_argument("--max-memory", type=float, default=MAX_MEMORY_MB, metavar="MB",
                   help=f"refuse, before training, a run whose estimated memory is larger (default {MAX_MEMORY_MB})")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="accuracy of a float model", description="Evaluate a float model on MNIST.")
    p.add_argument("model", metavar="MODEL", help="float model file from `digit51 train`")
    add_data_option(p)
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.set_defaults(func=cmd_eval)
