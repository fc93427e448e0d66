"""The memory check before compiling (build.check_fit) at its boundaries: a chip with
exactly the estimated need takes the model, one byte less of any memory refuses it with
an error naming that memory."""

import dataclasses

import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips import targets
from digit51.firmware.builder.fit import STACK_MIN, check_fit, estimate
from digit51.trainer.errors import Digit51Error

CASES = [([196, 128, 32, 10], 2, "serve", 0), ([49, 16, 10], 4, "stream", 0), ([49, 16, 10], 4, "selftest", 3)]


@pytest.mark.parametrize("sizes,pool,mode,images", CASES)
def test_exact_need_fits_and_one_byte_less_does_not(sizes, pool, mode, images):
    need = estimate(BuildSpec(tuple(sizes), pool, False, targets.get("generic-8052"), mode, None, images))
    exact = dataclasses.replace(targets.get("generic-8052"), name="exact", code=need.code, xram=need.xram,
                                iram=need.iram + STACK_MIN)
    assert check_fit(BuildSpec(tuple(sizes), pool, False, exact, mode, None, images)) == need
    for memory, match in (("code", "of code memory"), ("xram", "of XRAM"), ("iram", "of internal RAM")):
        if memory == "xram" and need.xram == 0:
            continue  # nothing to take away
        short = dataclasses.replace(exact, **{memory: getattr(exact, memory) - 1})
        with pytest.raises(Digit51Error, match=match):
            check_fit(BuildSpec(tuple(sizes), pool, False, short, mode, None, images))


def test_selftest_images_count_in_the_code_need():
    one, two = estimate(BuildSpec(tuple([49, 16, 10]), 4, False, targets.get("generic-8052"), "selftest", None, 1)), estimate(BuildSpec(tuple([49, 16, 10]), 4, False, targets.get("generic-8052"), "selftest", None, 2))
    assert two.code - one.code == 28 * 28 + 3  # pixels, label, uint16 index
