"""Which language a message is in, when it is clearly not English.

py3langid (a maintained fork of langid.py, its model shipped in the package)
decides, restricted to the languages residents of a US city most often write
in. Short or mixed messages ("ok", "gracias", "pothole on Mission") stay
English: the bot only switches when it is sure, since a wrong switch is worse
than an answer in English.
"""

from __future__ import annotations

import threading
import unicodedata
from array import array
from typing import Any

import numpy as np

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
        nextmove,
        array("i", output),  # a state's feature: 4 bytes each, not a list of int objects
        norm_probs=True,
        tk_row=row,
    )


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
