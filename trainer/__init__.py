"""digit51 stage 1: MNIST data and the NumPy MLP trainer."""
