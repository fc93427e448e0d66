"""Measurements of a firmware in s51: time per digit on each chip, cycles per layer, cycles per function."""
