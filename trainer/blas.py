"""One BLAS thread for the float math whose results are saved (training, quantization).

OpenBLAS splits a matrix product differently for different thread counts, and the float
sums then round differently: `OPENBLAS_NUM_THREADS=1` and `=3` gave other weights for
784-128-10. Pinning the BLAS pool to one thread while the numbers that end up in a file
are computed makes them independent of OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS on one machine (docs/training.md, "Determinism").
"""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def one_thread(fn):
    """Run `fn` with every BLAS / OpenMP pool limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return wrapper
