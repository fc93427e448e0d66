"""Options and inputs a careless user gives: one line on stderr, non-zero exit, no output,
and no long work before the check. Real commands in real processes."""

import json
import os

import pytest

from helpers import cli, one_line_error, own_digits

TINY = ["--pool", "4", "--hidden", "8", "--epochs", "1", "--augment", "0"]


@pytest.mark.parametrize("option, value, message", [
    ("--seed", "-1", "seed must be 0 or more"),
    ("--warmup-epochs", "nan", "must be finite numbers"),
    ("--warmup-epochs", "inf", "must be finite numbers"),
    ("--warmup-epochs", "-3", "warmup epochs >= 0"),
    ("--lr", "inf", "must be finite numbers"),
    ("--weight-decay", "nan", "must be finite numbers"),
    ("--weight-decay", "inf", "must be finite numbers"),
])
def test_bad_training_numbers_fail_before_training(tmp_path, data_dir, option, value, message):
    out = cli("train", "--data", str(data_dir), "-o", str(tmp_path / "m.d51"), *TINY, option, value)
    one_line_error(out, "bad training option", message)
    assert "1/1" not in out.stderr and not os.listdir(tmp_path)  # no epoch ran


def test_diverging_training_stops_with_one_line_and_no_file(tmp_path, data_dir):
    out = cli("train", "--data", str(data_dir), "-o", str(tmp_path / "m.d51"), *TINY, "--lr", "1e30")
    one_line_error(out, "training diverged in epoch 1", "smaller --lr")
    assert not os.listdir(tmp_path)


def test_demo_with_a_missing_model_is_an_error(tmp_path, data_dir):
    out = cli("demo", "--data", str(data_dir), "--model", str(tmp_path / "typo.d51"), "--out", str(tmp_path / "out"))
    one_line_error(out, "typo.d51: no such file")
    assert "training" not in out.stderr and not (tmp_path / "out").exists()


def test_demo_with_no_images_leaves_no_folder(tmp_path, data_dir):
    out = cli("demo", "--data", str(data_dir), "--out", str(tmp_path / "out"), "--images", "0")
    one_line_error(out, "--images 0")
    assert not (tmp_path / "out").exists()


def test_build_refuses_images_in_serve_mode(tmp_path, data_dir):
    for extra in (["--images", "0"], ["--images", "5"], ["--start", "3"]):
        out = cli("build", str(tmp_path / "m.q51"), "-o", str(tmp_path / "fw"), "--mode", "serve", *extra)
        one_line_error(out, "only apply to --mode selftest")
    assert not (tmp_path / "fw").exists()


def frontier_with(tmp_path, edit):
    from digit51.firmware.bench import frontier

    table = json.loads(frontier.FRONTIER.read_text())
    edit(table["rows"])
    path = tmp_path / "f.json"
    path.write_text(json.dumps(table))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[0].pop("sizes"), "row 0 has no 'sizes'"),
    (lambda rows: rows[1].__setitem__("pool", "2"), "row 1 pool '2' is not one of"),
    (lambda rows: rows[2].__setitem__("int_accuracy", "high"), "row 2 needs a text 'arch' and numeric"),
    (lambda rows: rows[3].__setitem__("cycles", "fast"), "row 3 'cycles' must be a positive number"),
    (lambda rows: rows.append([1, 2]), "is not an object"),
    (lambda rows: rows[0].__setitem__("sizes", [49]), "not a list of at least two"),
    (lambda rows: rows[4].__setitem__("chip_times", [1]), "row 4 has 'chip_times' that is not an object"),
    (lambda rows: rows[5].__setitem__("chip_times", {"ch559": {"ms": "fast"}}), "row 5 'chip_times' of ch559 needs 'ms'"),
    (lambda rows: rows[5].__setitem__("chip_times", {"ch559": {"ms": [1.0, 2.0], "clock_hz": 48e6, "table": "ch55x", "images": 3,
                                                              "worst": {"ms": [3.0]}}}), "row 5 'chip_times' of ch559 has a 'worst' that needs"),
])
def test_fit_with_malformed_frontier_rows(tmp_path, edit, message):
    out = cli("fit", "--frontier", str(frontier_with(tmp_path, edit)))
    one_line_error(out, message)


@pytest.mark.toolchain
def test_train_quantize_and_run_a_users_own_digit_set(tmp_path):
    data = own_digits(tmp_path / "own", classes=4)
    out = cli("train", "--data", str(data), "-o", str(tmp_path / "m.d51"), *TINY, "--epochs", "30", "--lr", "2e-2")
    assert out.returncode == 0, out.stderr
    assert "is not the standard MNIST" in out.stderr and "4 classes" in out.stderr
    out = cli("quantize", str(tmp_path / "m.d51"), "-o", str(tmp_path / "m.q51"), "--data", str(data), "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["sizes"] == [49, 8, 4] and s["int_test_accuracy"] > 0.9
    out = cli("sim", str(tmp_path / "m.q51"), "--data", str(data), "--images", "5", "--out", str(tmp_path / "fw"), "--json")
    assert out.returncode == 0, out.stderr  # the firmware classifies the set's 4 classes, bit-exact
    s = json.loads(out.stdout)
    assert s["bit_exact"] and s["images"] == 5
