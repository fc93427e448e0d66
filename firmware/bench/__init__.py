"""Benchmarks and sweeps: the accuracy/size/speed frontier and its rule, the kernel benchmark, verification of all test images."""
