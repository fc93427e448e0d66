"""digit51 stage 1: MNIST (or another IDX image set) and the NumPy trainer (MLPs and layer graphs)."""
