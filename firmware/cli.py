"""The `digit51` command: one subcommand per pipeline stage."""

from __future__ import annotations

import argparse
import sys

from digit51.firmware import classify, commands, doctor, flash, monitor, report, signals, ui
from digit51.quantize import cli as quantize_cli
from digit51.trainer import cli as trainer_cli
from digit51.trainer.errors import Digit51Error


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="digit51",
        description="Handwritten-digit recognition from NumPy training down to an 8051 microcontroller.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    trainer_cli.register(sub)
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
    try:
        with signals.handled():
            return args.func(args)
    except Digit51Error as e:
        print(f"digit51: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # SIGINT, SIGTERM, SIGHUP: child processes and temp folders are gone by now
        code, name = signals.status(e)
        print(f"digit51: stopped by {name}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
