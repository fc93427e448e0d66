"""The digit51 command and its faces: cli, build/sim/demo/fit, monitor, classify, ui, report, flash, and the pytest plugin."""
