"""A frontier row's recipe (firmware/bench/recipe.py): the teacher it distils from trained first,
with the same seed, then the model, whose quantization takes the recipe's QAT epochs."""

import json

import numpy as np
import pytest

from digit51.firmware.bench import frontier, recipe
from digit51.quantize.measure import quantize_and_measure
from digit51.quantize.quantizer import QuantConfig
from digit51.trainer import mnist, model_file
from digit51.trainer.errors import Digit51Error
from digit51.trainer.train import train
from tests.helpers import cli, one_line_error, shapes_set

GRAPH = "conv3x3:4,maxpool2,dense:3"
TEACHER_ROW = {"arch": GRAPH, "graph": GRAPH, "input": [16, 16], "sizes": [256, 196, 3], "pool": 1, "hidden": [],
               "deskew": False, "int_accuracy": 0.9, "weight_bytes": 100, "recipe": {"epochs": 2}}
STUDENT_ROW = {"arch": "64-8-3", "sizes": [64, 8, 3], "pool": 2, "hidden": [8], "deskew": False, "int_accuracy": 0.9,
               "weight_bytes": 536, "recipe": {"teacher": GRAPH, "distill": 0.9, "epochs": 2, "qat_epochs": 1}}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return mnist.load(shapes_set(tmp_path_factory.mktemp("shapes") / "set"))


def test_a_recipe_trains_its_teacher_first_with_the_same_seed_and_distils_from_it(shapes, tmp_path):
    rows = [TEACHER_ROW, STUDENT_ROW]
    rec = recipe.of(STUDENT_ROW, rows)
    assert rec.teacher == {"arch": GRAPH, "deskew": False, "epochs": 2} and rec.qat_epochs == 1
    assert "teacher" not in frontier.recipe(STUDENT_ROW) and "qat_epochs" not in frontier.recipe(STUDENT_ROW)
    said = []
    model = train(shapes, rec.config(3, recipe.train_teachers(shapes, rec, [tmp_path / "m.teacher.d51"], seed=3, say=said.append)))
    teacher = model_file.load(tmp_path / "m.teacher.d51")
    assert teacher.config.arch == GRAPH and teacher.config.seed == 3 and teacher.config.epochs == 2
    assert said == [f"training its teacher {GRAPH} (2 epochs, seed 3) -> {tmp_path / 'm.teacher.d51'}"]
    assert model.config.teacher == str(tmp_path / "m.teacher.d51") and model.config.seed == 3 and model.config.distill == 0.9
    plain = train(shapes, rec.config(3))  # the same recipe on plain labels: other weights
    assert not all(np.array_equal(a, b) for a, b in zip(model.params, plain.params))
    assert recipe.made_by(model, rec) and recipe.made_by(plain, rec)
    assert not recipe.made_by(train(shapes, rec.config(3).__class__(**{**rec.fields, "epochs": 1})), rec)
    q, summary = quantize_and_measure(model, shapes, QuantConfig(calibration_images=100), rec.qat_epochs)
    assert q.meta["qat_epochs"] == 1


def test_a_recipe_without_a_teacher_trains_just_the_model(shapes, tmp_path):
    rec = recipe.of(TEACHER_ROW, [TEACHER_ROW])
    assert rec.teacher is None and rec.qat_epochs == 0
    model = train(shapes, rec.config(0, recipe.train_teachers(shapes, rec, [tmp_path / "never.d51"])))
    assert model.config.arch == GRAPH and model.config.teacher == "" and not (tmp_path / "never.d51").exists()


def test_a_frontier_whose_teacher_has_no_row_is_refused_in_one_line(tmp_path):
    path = tmp_path / "frontier.json"
    row = dict(STUDENT_ROW, arch="196-8-10", sizes=[196, 8, 10], weight_bytes=1648)  # an MNIST row
    path.write_text(json.dumps({"rows": [row]}))
    with pytest.raises(Digit51Error, match=f"196-8-10: its recipe distils from {GRAPH}, which has no row of its own"):
        frontier.load(path)
    r = cli("fit", "--frontier", str(path))
    one_line_error(r, "its recipe distils from", "measure it with")


def test_a_recipe_with_teacher_seeds_distils_from_that_many_teachers(shapes, tmp_path):
    """"teacher_seeds": 2 trains the teacher row with the model's seed and the next, and the
    model learns from both (their names in its config, in that order)."""
    row = dict(STUDENT_ROW, recipe=dict(STUDENT_ROW["recipe"], teacher_seeds=2))
    rec = recipe.of(row, [TEACHER_ROW, row])
    assert rec.teacher_seeds == 2 and "teacher_seeds" not in rec.fields
    paths = recipe.teacher_files(tmp_path / "m.d51", 2)
    said = []
    model = train(shapes, rec.config(4, recipe.train_teachers(shapes, rec, paths, seed=4, say=said.append)))
    assert [model_file.load(p).config.seed for p in paths] == [4, 5] and len(said) == 2
    assert model.config.teacher == f"{paths[0]},{paths[1]}" and recipe.made_by(model, rec)
    one = train(shapes, rec.config(4, str(paths[0])))
    assert not all(np.array_equal(a, b) for a, b in zip(model.params, one.params))


def test_the_teacher_files_sit_beside_the_model():
    assert [str(p) for p in recipe.teacher_files("out/m.d51")] == ["out/m.teacher.d51"]
    assert [str(p) for p in recipe.teacher_files("model")] == ["model.teacher.d51"]
    assert [str(p) for p in recipe.teacher_files("out/m.d51", 2)] == ["out/m.teacher1.d51", "out/m.teacher2.d51"]


def test_train_target_trains_the_recipes_teacher_beside_the_model_then_distils(tmp_path, data_dir):
    teacher = "avgpool4,conv3x3:2,dense:10"
    rows = [{"arch": teacher, "graph": teacher, "sizes": [784, 50, 10], "pool": 1, "hidden": [], "deskew": False,
             "int_accuracy": 0.5, "weight_bytes": 520, "cycles": 1000, "cycles_max": 1000, "recipe": {"epochs": 1}},
            {"arch": "196-8-10", "sizes": [196, 8, 10], "pool": 2, "hidden": [8], "deskew": False, "int_accuracy": 0.99,
             "weight_bytes": 1648, "cycles": 1000, "cycles_max": 1000, "recipe": {"teacher": teacher, "epochs": 1, "qat_epochs": 2}}]
    table = tmp_path / "frontier.json"
    table.write_text(json.dumps({"rows": rows}))
    r = cli("train", "--data", str(data_dir), "--target", "generic-8052", "--frontier", str(table), "--seed", "5", "-o", str(tmp_path / "m.d51"))
    assert r.returncode == 0, r.stderr
    assert f"training its teacher {teacher} (1 epochs, seed 5) -> {tmp_path / 'm.teacher.d51'}" in r.stderr
    assert f"digit51 quantize {tmp_path / 'm.d51'} -o MODEL.q51 --qat-epochs 2" in r.stderr
    model, t = model_file.load(tmp_path / "m.d51"), model_file.load(tmp_path / "m.teacher.d51")
    assert model.config.teacher == str(tmp_path / "m.teacher.d51") and model.config.hidden == (8,) and model.config.seed == 5
    assert t.config.arch == teacher and t.config.seed == 5
    r = cli("train", "--data", str(data_dir), "--frontier", str(table), "-o", str(tmp_path / "x.d51"))
    one_line_error(r, "--frontier goes with --target")
    r = cli("train", "--data", str(data_dir), "--target", "generic-8052", "--frontier", str(table), "--lr", "-1", "-o", str(tmp_path / "y.d51"))
    one_line_error(r, "lr must be > 0")  # refused before the teacher trains
    assert not (tmp_path / "y.teacher.d51").exists()
