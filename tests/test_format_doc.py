"""docs/format.md stands alone: a loader written here from the page's words (the layout,
the arrays map, the checksum's construction) reads the page's worked example to the page's
own numbers, and reads the files digit51 writes to the arrays digit51's loader returns."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from digit51.quantize import model_file as int_file
from digit51.trainer import model_file as float_file
from digit51.trainer.errors import Digit51Error

DOC = (Path(__file__).resolve().parent.parent / "docs" / "format.md").read_text()


def block(name: str) -> str:
    found = re.search(rf"```{name}\n(.*?)```", DOC, re.S)
    assert found, f"docs/format.md has no ```{name} block"
    return found[1]


def doc_load(data: bytes) -> tuple[dict, dict]:
    """The page's container, read as the page says: (header, arrays)."""
    magic = bytes.fromhex(re.search(r"magic `([0-9a-f ]+)`", DOC)[1])
    assert data[:8] == magic, "bad magic"
    n = int.from_bytes(data[8:12], "little")  # unsigned 32-bit, little-endian
    header = json.loads(data[12 : 12 + n].decode("utf-8"))
    body = data[12 + n :]  # the array region: everything after the header
    assert set(header) == {"kind", "version", "meta", "arrays", "sha256"}
    rest = {k: v for k, v in header.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode() + body).hexdigest()
    assert header["sha256"] == digest, "checksum mismatch"
    arrays = {}
    for name, e in header["arrays"].items():
        dtype = np.dtype(e["dtype"])
        count = int(np.prod(e["shape"], dtype=np.int64))
        assert count * dtype.itemsize == e["nbytes"]
        raw = body[e["offset"] : e["offset"] + e["nbytes"]]  # offset from the start of the array region
        arrays[name] = np.frombuffer(raw, dtype).reshape(e["shape"], order="C")
    return header, arrays


def example_bytes() -> bytes:
    header = block("header").strip().encode()
    body = bytes.fromhex(" ".join(line.split(None, 1)[1] for line in block("body").strip().splitlines()))
    magic = bytes.fromhex(re.search(r"magic `([0-9a-f ]+)`", DOC)[1])
    return magic + len(header).to_bytes(4, "little") + header + body


def test_the_worked_example_reads_to_the_pages_numbers(tmp_path):
    data = example_bytes()
    assert len(data) == int(re.search(r"A complete `\.q51` of (\d+) bytes", DOC)[1])
    n = int(re.search(r"N = (\d+)", DOC)[1])
    assert int.from_bytes(data[8:12], "little") == n
    assert data[8:12].hex(" ") == re.search(r"bytes 8-11\s+are `([0-9a-f ]+)`", DOC)[1]
    header, arrays = doc_load(data)
    assert header["sha256"] == re.search(r"SHA-256 gives\s+`([0-9a-f]{64})`", DOC)[1]
    # the page's shortcut: cutting `"sha256":"…",` out of the stored header leaves the canonical rest
    text = block("header").strip()
    cut = text.replace(f'"sha256":"{header["sha256"]}",', "")
    body = data[12 + n :]
    assert cut != text and hashlib.sha256(cut.encode() + body).hexdigest() == header["sha256"]
    values = {k.strip(): [int(v) for v in rest.split(",")] for k, rest in
              (line.split("=") for line in block("arrays").strip().splitlines())}
    assert {k: a.ravel().tolist() for k, a in arrays.items()} == values
    # the same bytes are what digit51 reads, and what digit51 writes for these arrays
    path = tmp_path / "example.q51"
    path.write_bytes(data)
    m = int_file.load(path)
    assert m.sizes == header["meta"]["sizes"] and m.pool == 4 and m.deskew is False
    for i, (w, b) in enumerate(zip(m.weights, m.biases)):
        assert np.array_equal(w, arrays[f"W{i}"]) and np.array_equal(b, arrays[f"B{i}"])
    assert np.array_equal(m.shifts[0], arrays["S0"])
    again = tmp_path / "again.q51"
    int_file.save(again, int_file.IntModel(m.weights, m.biases, m.shifts, 4, {}, False))
    assert again.read_bytes() == data


def test_the_checksum_catches_a_changed_header_value_or_array_byte(tmp_path):
    data = bytearray(example_bytes())
    for at in (data.index(b'"pool":4') + 7, len(data) - 1):  # pool 4 -> 5 in the header; the last array byte
        bad = bytearray(data)
        bad[at] ^= 0x01
        with pytest.raises(AssertionError, match="checksum"):
            doc_load(bytes(bad))
        (tmp_path / "bad.q51").write_bytes(bytes(bad))
        with pytest.raises(Digit51Error):
            int_file.load(tmp_path / "bad.q51")


def field_names(heading: str) -> set[str]:
    """The names in the first column of the tables under a `## heading`, up to the next one."""
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return {name for row in re.findall(r"^\| ([^|]+) \|", section, re.M) for name in re.findall(r"`([A-Za-z_{}0-9]+)`", row)}


def test_the_doc_loader_reads_digit51s_own_files_and_names_every_field(mnist_data, tmp_path):
    from digit51.quantize.measure import quantize_and_measure
    from digit51.quantize.quantizer import QuantConfig
    from digit51.trainer.config import TrainConfig

    rng = np.random.default_rng(1)
    params = [rng.standard_normal((6, 49)).astype(np.float32) * 0.3, rng.standard_normal(6).astype(np.float32),
              rng.standard_normal((10, 6)).astype(np.float32), rng.standard_normal(10).astype(np.float32)]
    model = float_file.FloatModel(params, TrainConfig(hidden=(6,), pool=4, deskew=True), {"validation": 0.5, "test": 0.5}, 1)
    float_file.save(tmp_path / "m.d51", model)
    qmodel, _ = quantize_and_measure(model, mnist_data, QuantConfig(calibration_images=200, per_tensor=True))
    int_file.save(tmp_path / "m.q51", qmodel)

    header, arrays = doc_load((tmp_path / "m.d51").read_bytes())
    assert header["kind"] == "float-model" and header["version"] == float_file.MLP_VERSION
    loaded = float_file.load(tmp_path / "m.d51")
    for i in range(2):
        assert arrays[f"W{i}"].dtype == "<f4" and np.array_equal(arrays[f"W{i}"], loaded.params[2 * i])
        assert arrays[f"b{i}"].dtype == "<f4" and np.array_equal(arrays[f"b{i}"], loaded.params[2 * i + 1])
    assert set(header["meta"]) <= field_names("The float model") and header["meta"]["config"]["deskew"] is True

    header, arrays = doc_load((tmp_path / "m.q51").read_bytes())
    assert header["kind"] == "int-model" and header["version"] == int_file.MLP_VERSION
    meta, loaded = header["meta"], int_file.load(tmp_path / "m.q51")
    assert set(meta) <= field_names("The integer model") and meta["deskew"] is True
    for layer in meta["layers"]:
        assert set(layer) <= field_names("The integer model")
    assert {a: arrays[a].dtype.str for a in arrays} == {"W0": "|i1", "W1": "|i1", "B0": "<i4", "B1": "<i4", "S0": "|u1"}
    assert np.array_equal(arrays["W0"], loaded.weights[0]) and np.array_equal(arrays["S0"], loaded.shifts[0])
    # --per-tensor, as the page says: one shift per neuron, all equal, and recorded in two places
    assert len(set(arrays["S0"].tolist())) == 1 and meta["layers"][0]["shift_min"] == meta["layers"][0]["shift_max"]
    assert meta["quant_config"]["per_tensor"] is True and "[per tensor]" in meta["scheme"]["weights"]
    # logit x logit_scale is the dequantized logit: close to the float model's logit
    x = loaded.preprocess(mnist_data.test_images[:50]).astype(np.float64) / 255
    hidden = np.maximum(x @ params[0].T.astype(np.float64) + params[1], 0)
    float_logits = hidden @ params[2].T.astype(np.float64) + params[3]
    from digit51.quantize.simulate import run

    logits, _ = run(loaded, mnist_data.test_images[:50])
    err = np.abs(logits * meta["layers"][-1]["logit_scale"] - float_logits).max()
    assert err <= 0.1 * np.abs(float_logits).max(), err
