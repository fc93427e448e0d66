"""firmware/measure/profile.py: the cycles it charges to the functions of the inference code add up
to what the firmware's own Timer 0 count reports for the same images, and the static
functions of infer.c (found by recompiling it) are among them."""

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline
from digit51.firmware.measure import profile
from digit51.firmware.chips import targets
from digit51.quantize.model_file import IntModel

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

GENERIC = targets.get("generic-8052")
IMAGES = [0, 1]


def test_profile_adds_up_to_the_timer0_count(mnist_data, tmp_path):
    rng = np.random.default_rng(3)
    model = IntModel([rng.integers(-127, 128, (32, 196)).astype(np.int8), rng.integers(-127, 128, (10, 32)).astype(np.int8)],
                     [rng.integers(-5000, 5000, 32).astype(np.int32), np.zeros(10, np.int32)], [np.full(32, 12, np.uint8)], 2)
    cycles, kernel = profile.profile(model, GENERIC, mnist_data, IMAGES, None, tmp_path / "p")
    assert kernel == "sparse-asm"
    assert {"pool_image", "pool_block", "nz_gather", "nz_layer", "dense_begin", "argmax"} <= set(cycles)
    r = pipeline.simulate_firmware(model, BuildSpec.of(model, GENERIC, "selftest"), mnist_data, IMAGES, tmp_path / "s", "m", link="socket")
    assert r.comparison.mismatches == []
    # the Timer 0 region holds the inference code and the self-test loop's part of main
    # (plus the few cycles of cycles_start after SETB TR0); main also holds the per-image
    # bookkeeping outside the region: both well under 1 %
    assert abs(sum(cycles.values()) - r.comparison.mean_cycles) < 0.01 * r.comparison.mean_cycles
