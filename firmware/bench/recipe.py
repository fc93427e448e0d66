"""A frontier row's recipe, run: the teacher row it distils from trained first (same data and
seed), then the row's own model, and the quantization-aware epochs its quantization takes.
`digit51 train --target` trains a row's teacher here (then the model through the trainer's
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
    fields: dict  # TrainConfig fields of the row's model, its teacher's file left out
    teacher: dict | None  # TrainConfig fields of the teacher row, or None: plain labels
    qat_epochs: int  # quantization-aware fine-tuning epochs before quantizing

    def config(self, seed: int = 0, teacher_file: str = "") -> TrainConfig:
        return TrainConfig(**{**self.fields, "seed": seed, "teacher": teacher_file})

    def teacher_config(self, seed: int = 0) -> TrainConfig:
        return TrainConfig(**{**self.teacher, "seed": seed})


def of(row: dict, rows: list[dict]) -> Recipe:
    """The recipe of `row`; its teacher is the row of `rows` whose arch the recipe names."""
    teacher = frontier.teacher_row(row, rows)
    return Recipe(frontier.recipe(row), frontier.recipe(teacher) if teacher else None, frontier.qat_epochs(row))


def teacher_file(output: str | Path) -> Path:
    """Where `digit51 train --target` keeps the teacher of the model it writes to `output`."""
    output = Path(output)
    return output.with_name(output.stem + ".teacher" + (output.suffix or ".d51"))


def train_teacher(data, recipe: Recipe, path: Path, seed: int = 0, say=None) -> str:
    """Train the teacher of `recipe` for `seed` and save it to `path` (its name, for the model's
    config), or return "" when the recipe has none."""
    if not recipe.teacher:
        return ""
    cfg = recipe.teacher_config(seed)
    (say or (lambda text: print(text, file=sys.stderr)))(f"training its teacher {cfg.arch} ({cfg.epochs} epochs) -> {path}")
    model_file.save(path, train(data, cfg))
    return str(path)


def made_by(model: FloatModel, recipe: Recipe) -> bool:
    """Whether `model` was trained by `recipe` (with any seed and teacher file): then its
    quantization takes the recipe's QAT epochs."""
    return model.config == recipe.config(model.config.seed, model.config.teacher)
