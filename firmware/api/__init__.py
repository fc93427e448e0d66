"""digit51: handwritten-digit recognition from NumPy training down to an 8051.

Installed as the root package `digit51`; the pipeline stages are `digit51.trainer`,
`digit51.quantize`, `digit51.codegen` and `digit51.firmware`.
"""
