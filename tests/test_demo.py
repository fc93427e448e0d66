"""`digit51 demo`, the README's main command, end to end: train, quantize, build, run in
s51, bit-exact against the integer simulator."""

import json

import pytest

from helpers import cli, near

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51


def test_demo_command_end_to_end(tmp_path, data_dir, mnist_data):
    """The README's main command, with a reused small float model to keep it short."""
    from digit51.trainer import model_file
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    model = tmp_path / "m.d51"
    model_file.save(model, train(mnist_data, TrainConfig(hidden=(16,), pool=4, epochs=1, augment=0, deskew=False)))
    out = cli("demo", "--data", data_dir, "--model", model, "--out", tmp_path / "out", "--images", "4", "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["bit_exact"] is True and s["images"] == 4 and s["mismatches"] == 0
    assert s["model"] == "49-16-10" and near(s["cycles_per_inference"], 33_702)
    assert (tmp_path / "out" / "model.q51").is_file()
