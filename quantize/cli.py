"""`digit51 quantize`."""

from __future__ import annotations

import argparse
import json
import sys

from digit51.quantize import model_file as int_model_file
from digit51.quantize.measure import quantize_and_measure, summary
from digit51.quantize.quantizer import QuantConfig
from digit51.trainer import mnist
from digit51.trainer import model_file as float_model_file
from digit51.trainer.cli import add_data_option
from digit51.trainer.errors import Digit51Error
from digit51.trainer.files import check_output


def print_summary(s: dict, out=sys.stdout) -> None:
    name = s["graph"] if "graph" in s else f"{'-'.join(map(str, s['sizes']))}, pool {s['pool']}"
    print(f"model      {name}, {s['weight_bytes']} weight bytes", file=out)
    print(f"float test {100 * s['float_test_accuracy']:.2f}%", file=out)
    print(f"int8 test  {100 * s['int_test_accuracy']:.2f}%  ({100 * (s['int_test_accuracy'] - s['float_test_accuracy']):+.2f} points)", file=out)
    for L in s["layers"]:
        op = f" {L['op']}" if "op" in L else ""
        head = f"layer {L['layer']}{op}  {L['inputs']:4d}->{L['outputs']:<4d} acc bound {L['acc_bound']} ({L['acc_bits']} of 32 bits)"
        if "shift_min" in L:
            tail = (f"shift {L['shift_min']}..{L['shift_max']}  act scale {L['output_scale']:.3g}  "
                    f"clipped {100 * L['activation_clip_rate']:.3f}%  max err {L['max_error_lsb']:.2f} LSB")
        else:
            tail = f"logit scale {L['logit_scale']:.3g}  max logit err {L['max_error']:.3g}"
        print(f"{head}  {tail}  weights clipped {100 * L['weight_clip_rate']:.3f}%", file=out)


def cmd_quantize(a: argparse.Namespace) -> int:
    try:
        qcfg = QuantConfig(calibration_images=a.calibration, percentile=a.percentile, per_tensor=a.per_tensor)
    except ValueError as e:
        raise Digit51Error(f"bad quantization option: {e}") from None
    if a.qat_epochs < 0:
        raise Digit51Error("--qat-epochs must be 0 or more")
    check_output(a.output, inputs=[a.model])
    model = float_model_file.load(a.model)
    data = mnist.load(a.data)
    qmodel, _ = quantize_and_measure(model, data, qcfg, a.qat_epochs)
    int_model_file.save(a.output, qmodel, inputs=[a.model])
    if a.json:
        print(json.dumps(summary(qmodel), sort_keys=True))
    else:
        print_summary(summary(qmodel))
    return 0


def add_quant_options(p: argparse.ArgumentParser) -> None:
    d = QuantConfig()
    p.add_argument("--calibration", type=int, default=d.calibration_images, metavar="N", help=f"calibrate on the first N training images (default {d.calibration_images})")
    p.add_argument("--percentile", type=float, default=d.percentile, help=f"activation range: this percentile of calibration activations (default {d.percentile})")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per hidden layer instead of one per neuron")
    p.add_argument("--qat-epochs", type=int, default=0, metavar="N", help="quantization-aware fine-tuning epochs before quantizing (default 0)")


def register(sub) -> None:
    p = sub.add_parser("quantize", help="float model -> int8 model", description="Quantize a float model to int8 and measure it with the integer simulator.")
    p.add_argument("model", metavar="MODEL", help="float model file from `digit51 train`")
    p.add_argument("-o", "--output", required=True, metavar="QMODEL", help="where to write the integer model file")
    add_data_option(p)
    add_quant_options(p)
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.set_defaults(func=cmd_quantize)
