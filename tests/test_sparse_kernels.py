"""The zero-skipping kernels (sparse-asm, sparse-c) in SDCC + ucsim, bit-exact to the
integer simulator (and so to the dense kernels) on MNIST, on an all-255 image (nothing to
skip), an all-zero image (everything to skip), and on inputs that drive the 32-bit
accumulator past 2^24; and how the default kernel is chosen per chip."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.codegen.render import DEFAULT_KERNEL, FALLBACK_KERNEL
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.firmware.builder.fit import resolve
from digit51.quantize.model_file import IntModel
from digit51.trainer.errors import Digit51Error

GENERIC = targets.get("generic-8052")


def with_images(data, images: np.ndarray):
    """The MNIST object with `images` as its test set (labels 0), for crafted inputs."""
    return dataclasses.replace(data, test_images=images.astype(np.uint8), test_labels=np.zeros(len(images), np.uint8))


def edge_images(mnist_data) -> np.ndarray:
    rng = np.random.default_rng(5)
    checker = (np.indices((28, 28)).sum(axis=0) % 2 * 255).astype(np.uint8)  # every other input zero
    page_edges = np.zeros((28, 28), np.uint8)
    page_edges.reshape(-1)[[0, 255, 256, 511, 512, 767, 768, 783]] = 200  # first/last input of each 256-block
    return np.stack([mnist_data.test_images[3], mnist_data.test_images[4], np.full((28, 28), 255),
                     np.zeros((28, 28)), checker, page_edges, rng.integers(1, 256, (28, 28))]).astype(np.uint8)


@pytest.mark.toolchain
def test_sparse_kernels_on_page_crossings_carries_and_extreme_images(mnist_data, tmp_path):
    """784 inputs: four 256-input index pages and a 1,569-byte pair list crossing XRAM pages.
    Neuron 0 has every weight +127: on the all-255 image its unsigned sum of (w + 128) * x
    is 784 * 255 * 255 = 50,979,600 > 2^24 (and its int32 acc 25,390,320), so every byte of
    the 32-bit accumulator takes carries. 7 hidden neurons give odd chunk lengths."""
    rng = np.random.default_rng(11)
    w0 = rng.integers(-127, 128, (7, 784)).astype(np.int8)
    w0[0] = 127
    w0[1] = -127
    w1 = rng.integers(-127, 128, (10, 7)).astype(np.int8)
    w1[:, 0] = 127
    model = IntModel([w0, w1], [rng.integers(-5000, 5000, 7).astype(np.int32), np.zeros(10, np.int32)],
                     [np.array([0, 14, 9, 10, 11, 12, 13], np.uint8)], 1)
    data = with_images(mnist_data, edge_images(mnist_data))
    idx = list(range(len(data.test_images)))
    dptr = dataclasses.replace(GENERIC, xaddr="dptr", xpage_sfr="")  # the N76E003 addressing, run on an 8052 in s51
    for kernel, target in (("sparse-asm", GENERIC), ("sparse-asm", dptr), ("sparse-c", GENERIC)):
        out = tmp_path / f"{kernel}-{target.xaddr}"
        r = pipeline.simulate_firmware(model, BuildSpec.of(model, target, "selftest", kernel), data, idx, out, "m", link="socket")
        assert r.comparison.mismatches == [], r.comparison.mismatches[:2]
        assert not r.bad_lines and not r.frame_errors and r.comparison.images == len(idx)
        cycles = {p.img: p.cycles for p in r.predictions}
        assert cycles[2] > cycles[0] > cycles[3]  # all-255 > an MNIST digit > all-zero: zeros are skipped
        # skipped, not merely cheaper: the all-zero image costs under a third of the all-255 one (measured 0.27
        # sparse-asm, 0.21 with the dptr fragment, 0.12 sparse-c: only the gather walks its zeros); a kernel
        # that multiplied the zeros too would cost ~0.9 of it (the same MACs, minus the carries)
        assert cycles[3] < cycles[2] / 3, cycles
        assert r.comparison.max_cycles == cycles[2]
        if kernel == "sparse-asm":  # the list is read through the target's addressing fragment only
            src = (r.firmware[0].folder / "src" / "infer.c").read_text()
            assert ("mov     dph, _nz_list_page" in src) == (target is dptr) and ("movx    a, @r0" in src) == (target is GENERIC)


@pytest.mark.toolchain
def test_default_model_sparse_kernels_serve_bit_exact(default_int_model, mnist_data, tmp_path):
    """The default architecture over the UART with both sparse kernels; the asm one is the default."""
    idx = list(range(9980, 9990))
    for kernel in ("sparse-c", None):
        r = pipeline.simulate_firmware(default_int_model, BuildSpec.of(default_int_model, GENERIC, "serve", kernel), mnist_data, idx, tmp_path / str(kernel), "m", link="socket")
        assert r.comparison.mismatches == [] and r.comparison.images == 10
        assert not r.bad_lines and not r.frame_errors
    assert r.firmware[0].memory["kernel"] == DEFAULT_KERNEL == "sparse-asm"


def test_default_kernel_per_chip_and_mode():
    default = [196, 128, 32, 10]
    assert resolve(BuildSpec(tuple(default), 2, False, GENERIC, "serve"))[0].kernel == DEFAULT_KERNEL
    # 768 B of XRAM hold the activations but not the pair list as well: the dense asm kernel
    assert resolve(BuildSpec(tuple(default), 2, False, targets.get("at89c51ed2"), "serve"))[0].kernel == FALLBACK_KERNEL
    assert resolve(BuildSpec(tuple([49, 16, 10]), 4, False, targets.get("stc89c52rc"), "serve"))[0].kernel == DEFAULT_KERNEL
    assert resolve(BuildSpec(tuple([49, 16, 10]), 4, False, targets.get("at89s52"), "stream"))[0].kernel == "c"
    with pytest.raises(Digit51Error, match="use --kernel c"):
        resolve(BuildSpec(tuple([49, 16, 10]), 4, False, GENERIC, "stream", "sparse-asm"))[0].kernel
    no_page = dataclasses.replace(GENERIC, xaddr="none")
    assert resolve(BuildSpec(tuple(default), 2, False, no_page, "serve"))[0].kernel == FALLBACK_KERNEL
    with pytest.raises(Digit51Error, match="no XRAM addressing fragment"):
        resolve(BuildSpec(tuple(default), 2, False, no_page, "serve", "sparse-asm"))[0].kernel


@pytest.mark.toolchain
def test_sparse_asm_layer_of_more_than_256_neurons(mnist_data, tmp_path):
    """nz_layer counts neurons in two bytes (low byte, then 256-blocks): a 300-neuron layer
    (44 + 256) runs every neuron, in both XRAM addressing variants."""
    rng = np.random.default_rng(1)
    h = 300
    model = IntModel([rng.integers(-127, 128, (h, 49)).astype(np.int8), rng.integers(-127, 128, (10, h)).astype(np.int8)],
                     [rng.integers(-5000, 5000, h).astype(np.int32), rng.integers(-5000, 5000, 10).astype(np.int32)],
                     [np.full(h, 13, np.uint8)], 4)
    dptr = dataclasses.replace(GENERIC, xaddr="dptr", xpage_sfr="")
    for target in (GENERIC, dptr):
        r = pipeline.simulate_firmware(model, BuildSpec.of(model, target, "serve", "sparse-asm"), mnist_data, [0, 1], tmp_path / target.xaddr, "m", link="socket")
        assert r.comparison.images == 2 and r.comparison.mismatches == [], r.comparison.mismatches[:1]
