"""Benchmark: how fast civic311 understands a message, against a plain rapidfuzz baseline.

Measures, in one run:
- time per message (median, p95) at 60, 1,000 and 10,000 knowledge entries
  (bases beyond the sample city are generated from its entries with varied wording);
- the same for rapidfuzz `process.extractOne` over the questions, as a baseline;
- time to build the index for each size;
- start-up time and peak memory of `civic311 ask` with the bundled base.

Run by hand: `python benchmarks/understanding.py`; CI runs `--small` (60 and 1,000).
Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rapidfuzz import fuzz, process

from knowledge.embeddings import Embedder, load_default
from knowledge.learned import Learned
from knowledge.loader import load_sample
from knowledge.model import KnowledgeBase
from knowledge.threads import one_blas_thread
from knowledge.understand import Understander

FILLER = [
    "permit",
    "fee",
    "office",
    "online",
    "form",
    "city",
    "hall",
    "department",
    "district",
    "street",
    "avenue",
    "resident",
    "weekend",
    "holiday",
    "schedule",
    "application",
    "deadline",
    "renewal",
    "inspection",
    "appointment",
    "service",
    "center",
    "phone",
    "email",
    "neighborhood",
    "block",
    "corner",
    "park",
    "library",
    "school",
    "bus",
    "parking",
    "water",
    "energy",
    "tax",
    "license",
    "record",
    "certificate",
    "program",
    "youth",
    "senior",
    "housing",
    "business",
]


def generate(base: KnowledgeBase, size: int, rng: random.Random) -> KnowledgeBase:
    entries = list(base.entries)
    n = 0
    while len(entries) < size:
        src = base.entries[n % len(base.entries)]
        words = rng.sample(FILLER, 3)
        entries.append(
            replace(
                src,
                id=f"{src.id}-{n}",
                question=f"{src.question.rstrip('?')} for the {words[0]} {words[1]}?",
                alternatives=tuple(f"{a} {words[2]}" for a in src.alternatives[:3]),
                answer=f"{src.answer} See the {words[1]} {words[2]} office.",
            )
        )
        n += 1
    return KnowledgeBase(tuple(entries[:size]), base.synonyms)


def queries(base: KnowledgeBase, rng: random.Random, count: int = 300) -> list[str]:
    pool = [a for e in base.entries for a in e.alternatives] + [
        "who won the game last night",
        "my neighbour's house is on fire",
        "huge pothole on 5th",
        "status 10234",
        "any update on 10234?",
        "can i talk to a real person",
        "bedroom set dumped on the curb",
        "hi",
        "thanks",
        "when is trash day",
        "wen is 311 opne",
    ]
    return [rng.choice(pool) for _ in range(count)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
    }


def timed(fn, items: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


_VECTORS: dict[str, object] = {}


def measure_size(
    base: KnowledgeBase, size: int, rng: random.Random, embedder: Embedder | None
) -> dict[str, object]:
    sample = load_sample()
    training, catalogue = sample.training, sample.catalogue
    kb = generate(base, size, rng)
    vectors = _VECTORS  # as the database keeps them: each text is embedded once across sizes
    started = time.perf_counter()
    understander = Understander(kb, catalogue, training=training, embedder=embedder, vectors=vectors)  # type: ignore[arg-type]
    build_s = time.perf_counter() - started
    # One edit (a new phrasing for one entry): what every save in the admin pages costs.
    edited = KnowledgeBase(
        (
            replace(kb.entries[0], alternatives=(*kb.entries[0].alternatives, "one more way to ask")),
            *kb.entries[1:],
        ),
        kb.synonyms,
    )
    started = time.perf_counter()
    Understander(edited, catalogue, training=training, embedder=embedder, vectors=vectors)  # type: ignore[arg-type]
    from_scratch_s = time.perf_counter() - started
    # As the product retrains: from the models of the revision before.
    started = time.perf_counter()
    Understander(
        edited,
        catalogue,
        training=training,
        embedder=embedder,
        vectors=vectors,  # type: ignore[arg-type]
        previous=understander.learned,
    )
    retrain_s = time.perf_counter() - started
    # Another process loading the stored models instead of training.
    blob = understander.learned.to_bytes()
    started = time.perf_counter()
    stored = Learned.from_bytes(blob)
    Understander(kb, catalogue, training=training, embedder=embedder, vectors=vectors, learned=stored)  # type: ignore[arg-type]
    load_s = time.perf_counter() - started
    qs = queries(base, rng)
    for q in qs[:20]:
        understander.understand(q)  # warm caches
    ours = timed(understander.understand, qs)
    questions = [e.question for e in kb.entries]
    baseline = timed(lambda q: process.extractOne(q, questions, scorer=fuzz.WRatio), qs)
    return {
        "entries": size,
        "examples": len(understander.examples),
        "first_build_s": round(build_s, 3),
        "retrain_after_one_edit_s": round(retrain_s, 3),
        "retrain_from_scratch_s": round(from_scratch_s, 3),
        "load_stored_models_s": round(load_s, 3),
        "stored_models_mb": round(len(blob) / 1e6, 2),
        "civic311": percentiles(ours),
        "rapidfuzz_extractOne": percentiles(baseline),
    }


def measure_ask_startup() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db"}
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "ask", "hi"], env=env, cwd=tmp, capture_output=True, check=True
        )  # first start: migrate + load sample
        runs = []
        peak_kb = 0
        for _ in range(3):
            started = time.perf_counter()
            proc = subprocess.run(
                [
                    "/usr/bin/time",
                    "-f",
                    "%M",
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "ask",
                    "--json",
                    "when is 311 open?",
                ],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(time.perf_counter() - started)
            peak_kb = max(peak_kb, int(proc.stderr.strip().splitlines()[-1]))
    return {
        "ask_startup_s_median": round(statistics.median(runs), 3),
        "ask_peak_memory_mb": round(peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="60 and 1,000 entries only (CI)")
    parser.add_argument("--words-only", action="store_true", help="without the embedding model")
    args = parser.parse_args()
    one_blas_thread()  # as `civic311` runs
    rng = random.Random(311)
    base = load_sample().knowledge
    assert base is not None
    sizes = [len(base.entries), 1000] if args.small else [len(base.entries), 1000, 10_000]
    embedder = None if args.words_only else load_default()
    results: dict[str, object] = {
        "semantic": embedder is not None,
        "sizes": [measure_size(base, s, rng, embedder) for s in sizes],
    }
    if Path("/usr/bin/time").exists():
        results.update(measure_ask_startup())
    print(json.dumps(results, indent=2))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    name = "understanding" + ("-small" if args.small else "") + ("-words" if args.words_only else "")
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
