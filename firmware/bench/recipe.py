"""A frontier row's recipe, run: the teacher row it distils from trained first (same data and
seed, or that seed and the next ones for an ensemble), then the row's own model, and the quantization-aware epochs its quantization takes.
`digit51 train --target` trains a row's teachers here (then the model through the trainer's
command), `digit51 demo` takes its QAT epochs; the sweep, which caches the models it trains,
does the same in sweep.trained_by_recipe."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from digit51.firmware.bench import frontier
from digit51.trainer import model_file
from digit51.trainer.config import TrainConfig
from digit51.trainer.model_file import FloatModel
from digit51.trainer.train import train


@dataclass(frozen=True)
class Recipe:
    fields: dict  # TrainConfig fields of the row's model, its teachers' files left out
    teacher: dict | None  # TrainConfig fields of the teacher row, or None: plain labels
    qat_epochs: int  # quantization-aware fine-tuning epochs before quantizing
    teacher_seeds: int = 1  # the teacher row trained with this many seeds (the model's and the next), their mean logits teaching

    def config(self, seed: int = 0, teacher_file: str = "") -> TrainConfig:
        return TrainConfig(**{**self.fields, "seed": seed, "teacher": teacher_file})

    def teacher_configs(self, seed: int = 0) -> list[TrainConfig]:
        return [TrainConfig(**{**self.teacher, "seed": seed + i}) for i in range(self.teacher_seeds)]


def of(row: dict, rows: list[dict]) -> Recipe:
    """The recipe of `row`; its teacher is the row of `rows` whose arch the recipe names."""
    teacher = frontier.teacher_row(row, rows)
    return Recipe(frontier.recipe(row), frontier.recipe(teacher) if teacher else None, frontier.qat_epochs(row),
                  frontier.teacher_seeds(row) if teacher else 1)


def teacher_files(output: str | Path, n: int = 1) -> list[Path]:
    """Where `digit51 train --target` keeps the `n` teachers of the model it writes to `output`."""
    output = Path(output)
    names = [".teacher"] if n == 1 else [f".teacher{i + 1}" for i in range(n)]
    return [output.with_name(output.stem + name + (output.suffix or ".d51")) for name in names]


def train_teachers(data, recipe: Recipe, paths: list[Path], seed: int = 0, say=None) -> str:
    """Train the teachers of `recipe` for `seed` and save them to `paths` (their names, for the
    model's config), or return "" when the recipe has none."""
    if not recipe.teacher:
        return ""
    for cfg, path in zip(recipe.teacher_configs(seed), paths, strict=True):
        (say or (lambda text: print(text, file=sys.stderr)))(f"training its teacher {cfg.arch} ({cfg.epochs} epochs, seed {cfg.seed}) -> {path}")
        model_file.save(path, train(data, cfg))
    return ",".join(map(str, paths))


def made_by(model: FloatModel, recipe: Recipe) -> bool:
    """Whether `model` was trained by `recipe` (with any seed and teacher files): then its
    quantization takes the recipe's QAT epochs."""
    return model.config == recipe.config(model.config.seed, model.config.teacher)
