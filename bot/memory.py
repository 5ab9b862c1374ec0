"""Giving memory back to the system, for long-running processes (`serve`, `worker`).

Building an understander allocates and frees a few hundred MB (database rows, the
sentence model while it is optimized, training). glibc's malloc keeps freed memory
for reuse, and by default raises its threshold for mapping large blocks each time one
is freed, so later large arrays come from the heap, where a single live block can pin
everything around it. A process that built its index once then stays 80-150 MB above
what it uses. Elsewhere than glibc (macOS, musl) these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt parameters, from glibc's malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept fixed: big blocks are always mapped
ARENAS = 2  # malloc arenas: one per thread up to 8 per core by default, each keeping its free memory


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def tune_for_serving() -> None:
    """Before the process starts building: large blocks (arrays) mapped on their own, so
    freeing one returns it at once, and few arenas, so threads share their free memory."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_ARENA_MAX, ARENAS)


def release_memory() -> None:
    """Return the freed memory that malloc still holds, in every arena (a few ms)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
