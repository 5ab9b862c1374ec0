"""How many threads the numeric libraries use in a civic311 process.

Answering a message is a handful of small matrix products (a sentence vector
against a few thousand phrasings). OpenBLAS splits each over every core, which on
the two-core machines cities run this on costs more than it gives: the threads
wait for each other and for whatever else the machine is doing (measured: 12.7 ms
a message with one thread against 32 ms with two, on a busy machine). The web
server answers many residents at once, so parallelism belongs across messages,
not inside one product. ONNX Runtime is set to one thread where the model is
loaded (knowledge/embeddings.py).
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

BLAS_THREADS = "OPENBLAS_NUM_THREADS"


def one_blas_thread() -> None:
    """For the whole process; call once, at start-up. Libraries loaded later read the
    environment (an operator's own setting wins); those already loaded are told now."""
    os.environ.setdefault(BLAS_THREADS, "1")
    threadpool_limits(limits=int(os.environ[BLAS_THREADS]), user_api="blas")
