"""Minibatch training of an MLP or a layer graph, keeping the best-on-validation (or the last) weights."""

from __future__ import annotations

import dataclasses
import time
from functools import partial

import numpy as np

from digit51.trainer import arch, blas, mlp, model_file
from digit51.trainer.augment import Distortion, distort
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.mnist import Mnist
from digit51.trainer.model_file import FloatModel
from digit51.trainer.optim import Optimizer, learning_rate
from digit51.trainer.preprocess import SIDE, deskew, to_float
from digit51.trainer.progress import Progress

MAX_MEMORY_MB = 4096  # default bound on memory_estimate (`digit51 train --max-memory`)
BASE_MEMORY = 200 << 20  # Python, NumPy and the MNIST arrays, before training starts
CHUNK = 5000  # images deskewed or evaluated at once
DESKEW_BYTES_PER_PIXEL = 50  # trainer/preprocess.py deskew's temporaries (measured: 38.7 KB per image)


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by a random (dy, dx) in [-max_shift, max_shift]^2, zero fill."""
    n, h, w = images.shape
    s = max_shift
    padded = np.zeros((n, h + 2 * s, w + 2 * s), dtype=images.dtype)
    padded[:, s : s + h, s : s + w] = images
    dy, dx = rng.integers(-s, s + 1, size=(2, n))
    rows = (np.arange(h)[None, :] + s - dy[:, None])[:, :, None]
    cols = (np.arange(w)[None, :] + s - dx[:, None])[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols]


def inputs(images: np.ndarray, prep) -> np.ndarray:
    """Float inputs of the model for uint8 (N, H, W) images."""
    return to_float(prep(images))


def accuracy(params, images: np.ndarray, labels: np.ndarray, prep, hooks=(None, None), net=mlp) -> float:
    """Share of `labels` the float network `net` (mlp or a graph.Graph) gets right."""
    correct = 0
    for i in range(0, len(images), CHUNK):
        logits, _ = net.forward(params, inputs(images[i : i + CHUNK], prep), *hooks)
        correct += int((logits.argmax(axis=1) == labels[i : i + CHUNK]).sum())
    return correct / len(images)


def distortion(cfg: TrainConfig) -> Distortion:
    return Distortion(cfg.rotate, cfg.scale, cfg.shear, cfg.translate, cfg.elastic_alpha, cfg.elastic_sigma)


def batch_images(images: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """The uint8 training images of one step: as they are (augment 0), distorted (a range
    set), or shifted by whole pixels."""
    d = distortion(cfg)
    if not cfg.augment:
        return images
    return distort(images, d, rng) if d.active else shift_images(images, cfg.augment, rng)


@blas.one_thread
def fit(params, data: Mnist, cfg: TrainConfig, hooks=(None, None), epochs=None, lr=None, on_epoch=None, teachers=()):
    """Train `params` in place; returns (kept params, their validation accuracy, their epoch):
    the best on validation, or with cfg.keep "last" the last epoch's.

    `hooks` are mlp.forward's (weight_hook, act_hook), used for quantization-aware
    fine-tuning; `on_epoch(epoch, params, seconds)` is called after each epoch (benchmarks);
    `teachers` (FloatModels) add cfg.distill-weighted soft targets to the loss: the softmax of
    their mean logits (one teacher: its logits), each fed the batch's images.
    All randomness comes from cfg.seed.

    With deskew, the training images are deskewed once, up front, and augmentation moves
    the deskewed images: for whole-pixel shifts that equals deskewing the shifted image
    unless ink crosses the border, and it saves deskewing every batch. Validation and
    test images go through the model's whole preprocessing, as in the firmware.
    """
    rng = np.random.default_rng(cfg.seed + 1)  # seed + 0 is the initialisation
    (x_u8, y), (xv_u8, yv) = data.split()
    y = y.astype(np.int64)
    for name, teacher in zip(cfg.teacher_files, teachers):  # none in quantization-aware fine-tuning (plain labels)
        check_teacher(name, teacher, cfg, x_u8.shape[1:], data.classes)
    taught = [(t.config.net, t.params, dataclasses.replace(t.preprocess, deskew=False)) for t in teachers]  # fed deskewed images already, if at all
    if distortion(cfg).active and x_u8.shape[1:] != (SIDE, SIDE):
        raise Digit51Error(f"the distortion ranges (--rotate, --scale, ...) work on 28x28 images, these are {x_u8.shape[1]}x{x_u8.shape[2]}: use --augment N (whole-pixel shifts)")
    net = cfg.net
    if cfg.deskew:  # in chunks: deskew's temporaries take ~50 B per pixel (2 GB for 55,000 images at once)
        x_u8 = np.concatenate([deskew(x_u8[i : i + CHUNK]) for i in range(0, len(x_u8), CHUNK)]) if len(x_u8) else x_u8
    prep = dataclasses.replace(cfg.preprocess, deskew=False)  # what is left to do per batch
    fixed = None if cfg.augment or teachers else inputs(x_u8, prep)
    epochs = epochs or cfg.epochs
    lr = lr or cfg.lr
    steps_per_epoch = -(-len(x_u8) // cfg.batch_size)
    total = epochs * steps_per_epoch
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    opt = Optimizer(params, cfg.optimizer, cfg.momentum, cfg.weight_decay)
    best = ([p.copy() for p in params], -1.0, 0)
    step = 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        bar = Progress(steps_per_epoch, f"epoch {epoch}/{epochs}")
        order = rng.permutation(len(x_u8))
        loss_sum = correct = 0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            loss_fn = mlp.softmax_xent
            if fixed is None:
                xb_u8 = batch_images(x_u8[idx], cfg, rng)
                xb = inputs(xb_u8, prep)
                if taught:
                    t_logits = sum(net_t.forward(p_t, inputs(xb_u8, prep_t))[0] for net_t, p_t, prep_t in taught) / len(taught)
                    loss_fn = partial(mlp.distill_xent, teacher_logits=t_logits, weight=cfg.distill, temperature=cfg.temperature)
            else:
                xb = fixed[idx]
            loss, grads, logits = net.loss_and_grads(params, xb, y[idx], *hooks, loss_fn=loss_fn)
            if not np.isfinite(loss):
                raise Digit51Error(f"training diverged in epoch {epoch} (loss {loss}): use a smaller --lr (now {lr:g})")
            opt.step(params, grads, learning_rate(lr, cfg.schedule, step, total, warmup))
            step += 1
            loss_sum += loss * len(idx)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
            bar.update(b + 1)
        seconds = time.perf_counter() - t0
        if on_epoch:
            on_epoch(epoch, params, seconds)
        val = accuracy(params, xv_u8, yv, cfg.preprocess, hooks, net)
        if val > best[1] or cfg.keep == "last":
            best = ([p.copy() for p in params], val, epoch)
        bar.finish(
            f"epoch {epoch:3d}/{epochs}  loss {loss_sum / len(x_u8):.4f}  train {100 * correct / len(x_u8):6.2f}%  "
            f"val {100 * val:6.2f}%  {seconds:5.1f}s"
        )
    return best




def check_teacher(name: str, teacher, cfg: TrainConfig, hw, classes: int) -> None:
    """One Digit51Error line when `teacher` cannot teach a model of `cfg` on images of `hw`."""
    if teacher.config.deskew != cfg.deskew:
        raise Digit51Error(f"the teacher {name} was trained {'with' if teacher.config.deskew else 'without'} deskew: train the student the same way (--deskew / --no-deskew)")
    if tuple(teacher.input_shape) != tuple(hw):
        raise Digit51Error(f"the teacher {name} takes {teacher.input_shape[0]}x{teacher.input_shape[1]} images, these are {hw[0]}x{hw[1]}: use a teacher trained on this data")
    if teacher.sizes[-1] != classes:
        raise Digit51Error(f"the teacher {name} has {teacher.sizes[-1]} outputs, the data {classes} classes: use a teacher trained on this data")


def _layer_io(sizes) -> int:
    return sum(i + o for i, o in zip(sizes, sizes[1:]))


def _n_params(sizes) -> int:
    return sum(i * o + o for i, o in zip(sizes, sizes[1:]))


def memory_estimate(sizes: list[int], n_train: int, cfg: TrainConfig, teacher_sizes=()) -> int:
    """Peak bytes of training, estimated from the shapes before any work (float32 = 4 B): one
    step keeps every layer's input and pre-activation for the backward pass (batch x
    (in + out) per layer) and up to three batch x widest temporaries there; evaluation does
    the same for 5,000 images at a time; parameters, gradients, the optimizer's two moments
    and the best copy are 5 x the weights; the training images are kept as uint8 (twice with
    deskew) and, without augmentation or a teacher, once more as float inputs; deskewing them
    takes DESKEW_BYTES_PER_PIXEL for CHUNK images at a time."""
    b = min(cfg.batch_size, n_train)
    step = 4 * b * (_layer_io(sizes) + 3 * max(sizes))
    if teacher_sizes:  # one teacher's forward pass at a time, every teacher's weights
        step += 4 * b * max(map(_layer_io, teacher_sizes)) + 4 * sum(map(_n_params, teacher_sizes))
    evaluate = 4 * CHUNK * (_layer_io(sizes) + 3 * max(sizes))
    deskewing = DESKEW_BYTES_PER_PIXEL * CHUNK * 28 * 28 if cfg.deskew else 0
    images = n_train * 28 * 28 * (2 if cfg.deskew else 1) + (0 if cfg.augment or cfg.teacher else 4 * n_train * sizes[0])
    return BASE_MEMORY + max(step, evaluate, deskewing) + 4 * 5 * _n_params(sizes) + images


def check_memory(sizes: list[int], n_train: int, cfg: TrainConfig, max_mb: float, teacher_sizes=()) -> None:
    need = memory_estimate(sizes, n_train, cfg, teacher_sizes)
    if need > max_mb * (1 << 20):
        raise Digit51Error(
            f"training {'-'.join(map(str, sizes))} at --batch-size {cfg.batch_size} needs about {need / (1 << 30):.1f} GB "
            f"(estimated), more than --max-memory {max_mb:g} MB: lower --batch-size (or --hidden), or raise --max-memory"
        )


@blas.one_thread
def train(data: Mnist, cfg: TrainConfig, on_epoch=None, max_memory_mb: float = MAX_MEMORY_MB) -> FloatModel:
    """Train a new float model from scratch, evaluate it, and return it. An MLP is refused
    up front if memory_estimate exceeds `max_memory_mb` (layer graphs: no estimate yet)."""
    h, w = data.train_images.shape[1:]
    teachers = [model_file.load(name) for name in cfg.teacher_files]
    if cfg.arch:
        check_arch(cfg.arch, h, w, data.classes)
        params = cfg.net.init_params((h, w), np.random.default_rng(cfg.seed))
    else:
        sizes = [(h // cfg.pool) * (w // cfg.pool), *cfg.hidden, data.classes]
        check_memory(sizes, len(data.split()[0][0]), cfg, max_memory_mb, [t.sizes for t in teachers])
        params = mlp.init_params(sizes, np.random.default_rng(cfg.seed))
    best, val, epoch = fit(params, data, cfg, on_epoch=on_epoch, teachers=teachers)
    test = accuracy(best, data.test_images, data.test_labels, cfg.preprocess, net=cfg.net)
    return FloatModel(best, cfg, {"validation": round(val, 6), "test": round(test, 6)}, epoch, (h, w))


def check_arch(spec: str, height: int, width: int, classes: int) -> None:
    """One Digit51Error line when the layer graph `spec` cannot work on these images and classes."""
    try:
        arch.shapes(arch.parse(spec), height, width, classes)
    except ValueError as e:
        raise Digit51Error(f"--arch {spec}: {e}") from None
