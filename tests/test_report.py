"""`digit51 report`: per-layer figures, cycles measured in ucsim, accuracy, plots, all in
one HTML page that needs no network."""

import base64
import html
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from digit51.firmware.builder.fit import per_build
from digit51.codegen.spec import BuildSpec
from digit51.quantize import model_file, simulate
from helpers import cli


@pytest.mark.toolchain
def test_report_small_model(small_int_model, mnist_data, data_dir, tmp_path):
    qmodel = tmp_path / "small.q51"
    model_file.save(qmodel, small_int_model)
    out = cli("report", qmodel, "--data", data_dir, "-o", tmp_path / "rep", "--images", "6", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s == json.loads((tmp_path / "rep" / "report.json").read_text())

    # cycles: per-layer segments from ucsim breakpoints add up to the firmware's Timer 0 count
    c = s["cycles"]
    assert c["images"] == 6 and c["worst_gap"] < 0.02
    parts = sum(L["cycles_mean"] for L in s["layers"]) + sum(e["cycles_mean"] for e in s["other_segments"])
    assert abs(parts - c["mean"]) / c["mean"] < 0.02
    assert [e["segment"] for e in s["other_segments"]] == ["input", "argmax"]
    layers = s["layers"]
    assert [(L["inputs"], L["outputs"], L["macs"]) for L in layers] == [(49, 16, 784), (16, 10, 160)]
    assert layers[0]["cycles_mean"] > layers[1]["cycles_mean"] > 0
    assert all(L["cycles_max"] >= L["cycles_mean"] for L in layers)

    # static figures from the model itself
    w0, b0 = small_int_model.weights[0], small_int_model.biases[0]
    bound = int((np.abs(b0.astype(np.int64)) + 255 * np.abs(w0.astype(np.int64)).sum(axis=1)).max())
    assert layers[0]["acc_bound"] == bound and layers[0]["acc_bits"] == bound.bit_length() + 1
    sh = small_int_model.shifts[0]
    assert (layers[0]["shift_min"], layers[0]["shift_max"]) == (int(sh.min()), int(sh.max()))
    assert layers[1]["shift_min"] is None

    # accuracy and the confusion matrix against the integer simulator on all test images
    _, pred = simulate.run(small_int_model, mnist_data.test_images)
    want = np.zeros((10, 10), int)
    for t, p in zip(mnist_data.test_labels, pred):
        want[t, p] += 1
    assert s["confusion"] == want.tolist()
    assert s["accuracy"]["int"] == float((pred == mnist_data.test_labels).mean())
    assert s["accuracy"]["firmware_bit_exact"] and s["accuracy"]["firmware_images"] == 6
    m = s["mistakes"]
    assert len(m) == 12 and all(pred[x["index"]] == x["predicted"] != x["label"] for x in m)
    assert [x["margin"] for x in m] == sorted((x["margin"] for x in m), reverse=True)
    b = s["budgets"]
    assert 0 < b["code"]["used"] <= b["code"]["budget"]

    # self-contained HTML: every image inline, no address outside the page
    page = (tmp_path / "rep" / "report.html").read_text()
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "http://" not in page and "https://" not in page
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pngs) == 3 and all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    for name in ("confusion.png", "mistakes.png", "frontier.png"):
        assert (tmp_path / "rep" / name).read_bytes().startswith(b"\x89PNG")


@pytest.mark.toolchain
def test_report_on_a_1t_chip_gives_simulated_cycles_and_the_chips_table_time(small_int_model, data_dir, tmp_path):
    """ucsim runs every target on its 12-clock core: on a 1T chip (CH559) the per-layer cycles
    still add up to the firmware's Timer 0 in ucsim (they were 12 times too many), and the time
    per digit is the chip's published table on the same code and images, as the timing tool
    gives it on its own, not the simulated cycles at one clock each."""
    qmodel = tmp_path / "small.q51"
    model_file.save(qmodel, small_int_model)
    out = cli("report", qmodel, "--data", data_dir, "--target", "ch559", "-o", tmp_path / "rep", "--images", "3", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    c = s["cycles"]
    assert c["worst_gap"] < 0.02
    parts = sum(L["cycles_mean"] for L in s["layers"]) + sum(e["cycles_mean"] for e in s["other_segments"])
    assert abs(parts - c["mean"]) / c["mean"] < 0.02
    timed = subprocess.run([sys.executable, "-m", "digit51.firmware.measure.timing", str(qmodel), "--data", str(data_dir),
                            "--target", "ch559", "--images", "3"], capture_output=True, text=True)
    assert timed.returncode == 0, timed.stderr
    lo, hi = (float(v) for v in re.search(r"ch559 at 48 MHz: ([\d.]+)-([\d.]+) ms", timed.stdout).groups())
    assert s["seconds_per_digit"] is None and [round(v, 1) for v in s["chip_ms"]] == [lo, hi]
    assert f"{lo:.1f}-{hi:.1f} ms per digit on ch559 at 48 MHz" in s["time_text"]
    assert s["time_text"] in html.unescape((tmp_path / "rep" / "report.html").read_text())


def test_report_bad_output_path(small_int_model, data_dir, tmp_path):
    qmodel = tmp_path / "small.q51"
    model_file.save(qmodel, small_int_model)
    out = cli("report", qmodel, "--data", data_dir, "-o", tmp_path / "no" / "such" / "dir")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("digit51: error: ") and "does not exist" in out.stderr


@pytest.mark.toolchain
def test_per_layer_profile_of_a_firmware_that_ends_near_the_top_of_code_memory(default_int_model, mnist_data, tmp_path):
    """The default architecture's self-test firmware fills code memory almost to 64 KB, so
    classify() sits within 1 KB of its top: the breakpoints on its marks (deskew, each layer)
    still split each digit into segments that add up to Timer 0."""
    from digit51.codegen.render import SelfTestSet
    from digit51.firmware.measure import layer_cycles
    from digit51.firmware.chips import targets
    from digit51.firmware.builder.sdcc import build
    from digit51.firmware.builder.artifacts import code_symbols

    generic = targets.get("generic-8052")
    idx = list(range(per_build(BuildSpec.of(default_int_model, generic, "selftest"))))  # as many images as fit, as the report builds
    fw = build(default_int_model, BuildSpec.of(default_int_model, generic, "selftest"), tmp_path / "fw", "m", SelfTestSet(idx, mnist_data.test_images[idx], mnist_data.test_labels[idx]))
    classify = code_symbols((fw.folder / "firmware.map").read_text())["_classify"]
    assert classify + 0x400 > 0xFFFF  # the case this test is about
    prof = layer_cycles.measure(fw.ihx, fw.folder / "firmware.map", generic, len(default_int_model.weights), len(idx),
                                deskew=default_int_model.deskew)
    assert prof.segments == ["input", "deskew", "layer 0", "layer 1", "layer 2", "argmax"]
    assert prof.worst_gap < 0.02


# The sparse-asm kernel's costs, measured by firmware/bench/kernel_bench.py (README, kernels):
# 21.2 cycles per non-zero multiply-accumulate all-in, 153 per neuron without MACs, and
# its gather about 9.5 per input, once per layer.
PER_NZ_MAC, PER_NEURON, PER_INPUT = 21.2, 153, 9.5


@pytest.mark.toolchain
def test_report_puts_each_layer_on_its_own_segment_for_a_deskew_model(default_int_model, mnist_data, data_dir, tmp_path):
    """The default (deskew) model: every layer's cycles match an estimate from the non-zero
    MACs the integer simulator shows for the same images (so the deskew segment, or a
    neighbour's, cannot pass for a layer), and the segments still add up to Timer 0."""
    assert default_int_model.deskew
    qmodel = tmp_path / "default.q51"
    model_file.save(qmodel, default_int_model)
    n = 3
    out = cli("report", qmodel, "--data", data_dir, "-o", tmp_path / "rep", "--images", n, "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["kernel"] == "sparse-asm"
    assert [e["segment"] for e in s["other_segments"]] == ["input", "deskew", "argmax"]
    c = s["cycles"]
    assert c["images"] == n and c["worst_gap"] < 0.02
    parts = sum(L["cycles_mean"] for L in s["layers"]) + sum(e["cycles_mean"] for e in s["other_segments"])
    assert abs(parts - c["mean"]) / c["mean"] < 0.02

    acts = simulate.activations(default_int_model, mnist_data.test_images[:n])
    for layer, (x, w) in enumerate(zip(acts[:-1], default_int_model.weights)):
        outputs, inputs = w.shape
        nz_macs = float((x != 0).sum(axis=1).mean()) * outputs
        estimate = PER_NZ_MAC * nz_macs + PER_NEURON * outputs + PER_INPUT * inputs
        got = s["layers"][layer]["cycles_mean"]
        assert 0.85 < got / estimate < 1.15, (layer, got, estimate, nz_macs)
