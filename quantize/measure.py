"""Quantize a float model (after optional QAT) and measure both accuracies: the one path
the API's `digit51.quantize`, `digit51 quantize` and `digit51 demo` share."""

from __future__ import annotations

from digit51.quantize.model_file import IntModel
from digit51.quantize.quantizer import QuantConfig, quantize
from digit51.quantize.simulate import run
from digit51.trainer import blas
from digit51.trainer.train import accuracy


@blas.one_thread  # calibration and QAT are float math whose results are saved: same bytes whatever the BLAS threads
def quantize_and_measure(model, data, qcfg: QuantConfig, qat_epochs: int = 0) -> tuple[IntModel, dict]:
    """(IntModel, summary dict): quantize, optionally after QAT, and measure both accuracies
    (kept in the model's meta["accuracy"])."""
    if qat_epochs and model.config.arch:
        from digit51.trainer.errors import Digit51Error

        raise Digit51Error("quantization-aware fine-tuning (--qat-epochs) does not take layer graphs yet: quantize with --qat-epochs 0")
    if qat_epochs:
        from digit51.quantize.qat import finetune

        model = finetune(model, data, qat_epochs, qcfg)
    qmodel = quantize(model, data.train_images[: qcfg.calibration_images], qcfg)
    qmodel.meta["qat_epochs"] = qat_epochs
    _, pred = run(qmodel, data.test_images)
    qmodel.meta["accuracy"] = {"float_test": accuracy(model.params, data.test_images, data.test_labels, model.preprocess, net=model.config.net),
                               "int_test": float((pred == data.test_labels).mean())}
    return qmodel, summary(qmodel)


def summary(qmodel: IntModel) -> dict:
    """What `digit51 quantize` prints, from a model quantize_and_measure made."""
    return {
        "sizes": qmodel.sizes,
        **({"graph": qmodel.graph} if qmodel.graph else {}),
        "pool": qmodel.pool,
        "float_test_accuracy": qmodel.meta["accuracy"]["float_test"],
        "int_test_accuracy": qmodel.meta["accuracy"]["int_test"],
        "weight_bytes": int(sum(w.size for w in qmodel.weights)),
        "layers": qmodel.meta["layers"],
    }
