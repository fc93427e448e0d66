"""`digit51 train` bounds its memory before it starts (issue 19 item 10): a run whose
estimate (trainer/train.py memory_estimate) passes --max-memory is refused in one line that
names the option to lower, before any training; a run under the bound trains."""


import pytest

from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.train import MAX_MEMORY_MB, check_memory, memory_estimate
from helpers import cli


def train(*args, cwd):
    return cli("train", *args, timeout=300, cwd=cwd)


def test_a_run_that_would_take_gigabytes_is_refused_before_training(data_dir, tmp_path):
    """784-4000-4000-10 at batch 60,000 took 6.1 GB: refused by the default bound. (Checked on
    check_memory itself, so that a broken bound does not start a 6 GB run on the test machine.)"""
    cfg = TrainConfig(hidden=(4000, 4000), pool=1, batch_size=60000)
    need = memory_estimate([784, 4000, 4000, 10], 55000, cfg)
    with pytest.raises(Digit51Error) as e:
        check_memory([784, 4000, 4000, 10], 55000, cfg, MAX_MEMORY_MB)
    assert str(e.value) == (
        f"training 784-4000-4000-10 at --batch-size 60000 needs about {need / (1 << 30):.1f} GB (estimated), "
        f"more than --max-memory {MAX_MEMORY_MB} MB: lower --batch-size (or --hidden), or raise --max-memory")
    check_memory([196, 192, 64, 10], 55000, TrainConfig(), MAX_MEMORY_MB)  # the default model is far below


def test_the_bound_is_the_option(data_dir, tmp_path):
    args = ("--data", data_dir, "--hidden", "8", "--pool", "4", "--epochs", "1", "--no-deskew", "-o", "m.d51")
    need = memory_estimate([49, 8, 10], 55000, TrainConfig(hidden=(8,), pool=4, epochs=1, deskew=False))
    p = train(*args, "--max-memory", need / (1 << 20) - 1, cwd=tmp_path)
    assert p.returncode == 1 and p.stderr == (
        f"digit51: error: training 49-8-10 at --batch-size 128 needs about {need / (1 << 30):.1f} GB (estimated), "
        f"more than --max-memory {need / (1 << 20) - 1:g} MB: lower --batch-size (or --hidden), or raise --max-memory\n")
    assert "epoch" not in p.stderr and not (tmp_path / "m.d51").exists()
    p = train(*args, "--max-memory", need / (1 << 20), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "m.d51").exists()


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_a_bad_bound_is_one_line(data_dir, tmp_path, value):
    p = train("--data", data_dir, "--max-memory", value, "-o", "m.d51", cwd=tmp_path)
    assert p.returncode == 1 and p.stderr.startswith("digit51: error: --max-memory ") and p.stderr.count("\n") == 1, p.stderr
