"""Sentence vectors by key, held as the rows of one matrix.

A dict of 23,000 small arrays costs a Python object and a bytes buffer per vector,
and the novelty check then needs most of them again, stacked into a matrix of
its own: two copies of the same numbers. Here the vectors are the matrix, and
the block the novelty check reads is a view of it (`first`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, Sequence

import numpy as np

DIMENSIONS = 384


class VectorStore(MutableMapping[str, np.ndarray]):
    """A mapping from `text_key` to a float32 vector. Reading a key gives a view of its row:
    vectors are pure functions of their key, so a row is never changed, only moved (by
    `first`, into a new matrix; views taken before keep the old one)."""

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self._rows: dict[str, int] = {}
        self._matrix = np.zeros((0, dimensions), dtype=np.float32)

    def __getitem__(self, key: str) -> np.ndarray:
        row: np.ndarray = self._matrix[self._rows[key]]
        return row

    def __setitem__(self, key: str, vector: np.ndarray) -> None:
        row = self._rows.get(key)
        if row is None:
            row = len(self._rows)
            self._reserve(row + 1)
            self._rows[key] = row
        self._matrix[row] = vector

    def __delitem__(self, key: str) -> None:
        row = self._rows.pop(key)
        last = len(self._rows)
        if row != last:  # the last row fills the hole
            moved = next(k for k, r in self._rows.items() if r == last)
            self._matrix[row] = self._matrix[last]
            self._rows[moved] = row

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, keys: Iterable[str], blobs: Iterable[bytes]) -> int:
        """Stored vectors (float32 bytes, as the database keeps them) under keys not held
        yet; how many were new."""
        added = 0
        for key, blob in zip(keys, blobs, strict=True):
            if key not in self._rows:
                self[key] = np.frombuffer(blob, dtype=np.float32)
                added += 1
        return added

    def first(self, keys: Sequence[str]) -> np.ndarray:
        """The vectors of `keys` (distinct, all held) as one matrix, in their order: a view of
        the store, whose rows are put in that order first if they are not already."""
        rows = [self._rows[k] for k in keys]
        if rows != list(range(len(rows))):
            if len(set(rows)) != len(rows):
                raise ValueError("keys must be distinct")
            chosen = set(rows)
            order = rows + [r for r in range(len(self._rows)) if r not in chosen]
            self._matrix = self._matrix[order]  # a new matrix of exactly the rows held
            moved_to = np.empty(len(order), dtype=np.int64)
            moved_to[order] = np.arange(len(order))
            self._rows = {k: int(moved_to[r]) for k, r in self._rows.items()}
        block: np.ndarray = self._matrix[: len(rows)]
        return block

    def _reserve(self, size: int) -> None:
        if size > len(self._matrix):
            grown = np.zeros((max(size, 2 * len(self._matrix), 1024), self._matrix.shape[1]), np.float32)
            grown[: len(self._rows)] = self._matrix[: len(self._rows)]
            self._matrix = grown
