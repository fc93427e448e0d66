"""Shared fixtures. MNIST comes from --data (default $DIGIT51_DATA, then ../shared/data/mnist).
Firmware is booted in s51 through the fixtures of digit51's own pytest plugin
(digit51_build, digit51_boot: firmware/app/pytest_plugin.py), which reads the same data."""

from __future__ import annotations

from digit51.codegen.spec import BuildSpec
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]  # tests/test_plugin.py runs outside test suites


def pytest_addoption(parser):
    parser.addoption(
        "--data",
        default=os.environ.get("DIGIT51_DATA") or str(ROOT.parent / "shared" / "data" / "mnist"),
        help="folder with the MNIST IDX files (default: $DIGIT51_DATA or ../shared/data/mnist)",
    )


@pytest.fixture(scope="session")
def data_dir(request) -> Path:
    folder = Path(request.config.getoption("--data")).resolve()  # subprocesses may run elsewhere
    if not folder.is_dir():
        pytest.fail(f"MNIST folder {folder} not found: pass --data DIR or set DIGIT51_DATA", pytrace=False)
    return folder


@pytest.fixture(scope="session")
def digit51_data_dir(data_dir) -> Path:
    """The plugin's data folder is --data here."""
    return data_dir


@pytest.fixture(scope="session")
def mnist_data(digit51_data):
    return digit51_data


@pytest.fixture(scope="session")
def default_int_model(mnist_data):
    """The default architecture (trainer.config), trained briefly, quantized."""
    from digit51.quantize.quantizer import quantize
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    model = train(mnist_data, TrainConfig(epochs=3))
    return quantize(model, mnist_data.train_images[:5000])


@pytest.fixture(scope="session")
def small_int_model(mnist_data):
    """A small model (49-16-10, pool 4) for quick builds and tiny chips (no deskew: stream mode cannot)."""
    from digit51.quantize.quantizer import quantize
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    model = train(mnist_data, TrainConfig(hidden=(16,), pool=4, epochs=3, augment=0, lr=5e-3, deskew=False))
    return quantize(model, mnist_data.train_images[:5000])


@pytest.fixture(scope="session")
def small_qmodel(small_int_model, tmp_path_factory) -> Path:
    """small_int_model saved as a .q51 file, for the commands that take a model file."""
    from digit51.quantize import model_file

    path = tmp_path_factory.mktemp("qmodel") / "small.q51"
    model_file.save(path, small_int_model)
    return path


@pytest.fixture(scope="session")
def serve_fw(small_int_model, tmp_path_factory):
    """small_int_model built in serve mode for the generic 8052 (SDCC)."""
    from digit51.firmware.builder.sdcc import build
    from digit51.firmware.chips import targets

    return build(small_int_model, BuildSpec.of(small_int_model, targets.get("generic-8052"), "serve"), tmp_path_factory.mktemp("serve"), "m")


def pytest_collection_modifyitems(config, items):
    """A `toolchain` test (SDCC, s51; socat or Chromium where it says) also carries the plugin's
    `digit51_toolchain`: skipped where the tools are missing, failed when CI is set."""
    for item in items:
        if item.get_closest_marker("toolchain") and not item.get_closest_marker("digit51_toolchain"):
            item.add_marker(pytest.mark.digit51_toolchain)
