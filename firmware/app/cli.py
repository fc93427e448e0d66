"""The `digit51` command: one subcommand per pipeline stage."""

from __future__ import annotations

import argparse
import sys

from digit51.firmware.app import classify
from digit51.firmware.app import commands
from digit51.firmware.app import doctor
from digit51.firmware.app import flash
from digit51.firmware.app import monitor
from digit51.firmware.app import report
from digit51.firmware.sim import signals
from digit51.firmware.app import ui
from digit51.quantize import cli as quantize_cli
from digit51.trainer import cli as trainer_cli


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="digit51",
        description="Handwritten-digit recognition from NumPy training down to an 8051 microcontroller.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    trainer_cli.register(sub)
    commands.register_train_target(sub.choices["train"])
    quantize_cli.register(sub)
    commands.register(sub)
    monitor.register(sub)
    commands.register_demo(sub)
    commands.register_fit(sub)
    flash.register(sub)
    ui.register(sub)
    classify.register(sub)
    report.register(sub)
    doctor.register(sub)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return signals.run(lambda: args.func(args), "digit51")


if __name__ == "__main__":
    sys.exit(main())
