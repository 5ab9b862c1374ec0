"""Which language a message is in, when it is clearly not English.

py3langid (a maintained fork of langid.py, its model shipped in the package)
decides, restricted to the languages residents of a US city most often write
in. Short or mixed messages ("ok", "gracias", "pothole on Mission") stay
English: the bot only switches when it is sure, since a wrong switch is worse
than an answer in English.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import tempfile
import threading
import unicodedata
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings import cache_folder

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es", "zh", "tl", "vi", "ru", "ko", "ar", "fr", "pt", "ja")
MIN_WORDS = 3
CONFIDENT = 0.95

_identifier: Any = None
_lock = threading.Lock()


def _model() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            _identifier = _restricted()
    return _identifier


def _restricted() -> Any:
    """The identifier for LANGUAGES only, built from just their columns of the model.
    `set_languages` would give the same identifier but keep the whole model (142 columns,
    28 MB) beside its 11 columns for a later reset, which this process never asks for."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    keep = [i for i, c in enumerate(classes) if c in LANGUAGES]
    return LanguageIdentifier(
        np.asarray(ptc)[:, keep],
        np.asarray(pc)[keep],
        [classes[i] for i in keep],
        _mapped(nextmove, MODEL_DIR / MODEL_FILE),
        array("i", output),  # a state's feature: 4 bytes each, not a list of int objects
        norm_probs=True,
        tk_row=row,
    )


def _mapped(nextmove: array[int], model: Path) -> Sequence[int]:
    """The tokenizer's state table (39 MB) as a file mapped into memory, when there is a
    cache folder: a message's walk touches a few hundred of its 38,000 rows, so only those
    pages are resident, shared by the processes of the machine. Else the table itself."""
    folder = cache_folder()
    if folder is None:
        return nextmove
    with model.open("rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    path = folder / f"langid-states-{digest}-{nextmove.typecode}{nextmove.itemsize}.bin"
    try:
        if not path.is_file() or path.stat().st_size != len(nextmove) * nextmove.itemsize:
            with tempfile.NamedTemporaryFile(dir=folder, delete=False) as out:
                nextmove.tofile(out)
            os.replace(out.name, path)  # whole or not at all, whoever writes it
        with path.open("rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        log.warning("cannot map the language model's table from %s (%s)", folder, exc)
        return nextmove
    view: Any = memoryview(mapped)
    table: Sequence[int] = view.cast(nextmove.typecode)  # indexed as the array was
    return table


def warm_up() -> None:
    """Start loading the model in the background: it takes about 0.4 s (it is read from a
    compressed file), which a process about to answer messages can overlap with its own
    start-up instead of adding to the first answer. Only a cache is filled, so nothing is
    lost if the process ends first."""
    threading.Thread(target=_model, name="language-model", daemon=True).start()


def _non_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin / len(letters) < 0.5


def detect(text: str) -> str | None:
    """The language code of a message that is clearly not in English, else None."""
    if text.isascii() and len(text.split()) < MIN_WORDS:
        return None
    if not _non_latin(text) and len(text.split()) < MIN_WORDS:
        return None
    if text.isascii() and not any(c.isalpha() for c in text):
        return None
    language, probability = _model().classify(text)
    if language == "en" or probability < CONFIDENT:
        return None
    return str(language)
