"""The integer model loader refuses, in one line and before any work, a file whose checksum
holds but whose content is not sense (issue 19 items 6 and 10): metadata of the wrong types
or ranges, and weights and biases whose int32 sums could overflow (the overflow proof of
docs/quantization.md, which the C code relies on)."""

from dataclasses import replace

import pytest

from digit51.quantize import model_file, ops
from digit51.trainer.errors import Digit51Error
from helpers import cli


def saved(tmp_path, model, name="m.q51"):
    path = tmp_path / name
    model_file.save(path, model)
    return path


@pytest.mark.parametrize("meta, says", [
    ({"float_model": "x"}, "float_model 'x' is not an object"),
    ({"float_model": {"accuracy": {"test": "0.97"}}}, "float_model.accuracy.test '0.97' is not a fraction between 0 and 1"),
    ({"float_model": {"accuracy": {"test": 1e308}}}, "float_model.accuracy.test 1e+308 is not a fraction between 0 and 1"),
    ({"float_model": {"accuracy": {"test": -0.5}}}, "float_model.accuracy.test -0.5 is not a fraction between 0 and 1"),
    ({"float_model": {"accuracy": {"test": True}}}, "float_model.accuracy.test True is not a fraction between 0 and 1"),
    ({"float_model": {"accuracy": [0.9]}}, "float_model.accuracy [0.9] is not an object"),
    ({"accuracy": {"int_test": 2}}, "accuracy.int_test 2 is not a fraction between 0 and 1"),
    ({"layers": "x" * 100}, "layers '" + "x" * 36 + "... is not a list of objects"),
    ({"layers": [1]}, "layers [1] is not a list of objects"),
    ({"scheme": 3}, "scheme 3 is not an object"),
])
def test_nonsense_metadata_with_a_valid_checksum_is_refused_at_load(small_int_model, tmp_path, meta, says):
    path = saved(tmp_path, replace(small_int_model, meta=dict(small_int_model.meta, **meta)))
    with pytest.raises(Digit51Error) as e:
        model_file.load(path)
    assert str(e.value) == f"{path}: corrupt metadata: {says}; {model_file.HINT}"


def test_sensible_metadata_loads(small_int_model, tmp_path):
    ok = dict(small_int_model.meta, accuracy={"float_test": 1, "int_test": 0.0}, float_model={"accuracy": {"test": None}})
    assert model_file.load(saved(tmp_path, replace(small_int_model, meta=ok))).meta["accuracy"]["float_test"] == 1


def test_every_command_refuses_it_in_one_line_before_work(small_int_model, tmp_path, data_dir):
    path = saved(tmp_path, replace(small_int_model, meta=dict(small_int_model.meta, float_model="x")))
    for cmd in (["report", path, "--data", data_dir, "-o", tmp_path / "rep"], ["sim", path, "--data", data_dir]):
        p = cli(*cmd, timeout=120)
        assert p.returncode == 1 and p.stderr == f"digit51: error: {path}: corrupt metadata: float_model 'x' is not an object; " \
                                                 f"{model_file.HINT}\n", p.stderr
    assert not (tmp_path / "rep").exists()


def overflowing(model, bias_room: int):
    """The model with layer 0's neuron 3 at every weight 127 and a bias that leaves
    `bias_room` between its worst-case sum and INT32_MAX (negative: past it)."""
    w = model.weights[0].copy()
    w[3] = 127
    b = model.biases[0].copy()
    b[3] = ops.INT32_MAX - 255 * 127 * w.shape[1] - bias_room
    return replace(model, weights=[w, *model.weights[1:]], biases=[b, *model.biases[1:]])


def test_a_model_whose_int32_sums_can_overflow_is_refused_at_load(small_int_model, tmp_path):
    edge = overflowing(small_int_model, 0)
    assert model_file.load(saved(tmp_path, edge, "edge.q51")).biases[0][3] == edge.biases[0][3]  # the bound itself is allowed
    path = saved(tmp_path, overflowing(small_int_model, -1))
    with pytest.raises(Digit51Error) as e:
        model_file.load(path)
    assert str(e.value) == f"{path}: layer 0 neuron 3: worst-case accumulator {ops.INT32_MAX + 1:,} exceeds int32, " \
                           f"so the firmware could overflow; {model_file.HINT}"
