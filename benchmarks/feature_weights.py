"""Cross-validated choice of the classifier's two feature settings.

`DENSE_WEIGHT` (the sentence vector's share against the n-grams) and `ALPHA` (L2
strength) are not thresholds the models pick at each retraining: trying a grid costs a
minute, and retraining after an edit must take seconds. This script is how they were
chosen, and how a city whose examples differ a lot from the sample's can check them:
3-fold out-of-fold accuracy of the intent and service models, and 911 recall at fixed
false-alarm rates of the emergency model, for each pair on the grid.

Run by hand: `python benchmarks/feature_weights.py` (the sample city) or
`--weights 0.5 1 --alphas 1e-5`. `--small` (CI) tries one pair on a tenth of the examples.
Not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import knowledge.classifier as classifier
from knowledge.classifier import Featurizer, cross_validated
from knowledge.embeddings import load_default
from knowledge.learned import MAX_ORDINARY, MAX_PER_LABEL, cap, intent_label, triage_label
from knowledge.loader import load_sample
from knowledge.threads import one_blas_thread
from knowledge.training import REPORT, examples

FALSE_ALARMS = (0.005, 0.01, 0.02)


def accuracy(rows: object, targets: list[str]) -> float:
    classes, probs = cross_validated(rows, targets, folds=3)  # type: ignore[arg-type]
    return round(float(np.mean([classes[i] == t for i, t in zip(probs.argmax(1), targets, strict=True)])), 4)


def recall_at(rows: object, coarse: list[str]) -> dict[str, float]:
    classes, probs = cross_validated(rows, coarse, folds=3)  # type: ignore[arg-type]
    p = probs[:, classes.index("emergency")]
    is_emergency = np.array([c == "emergency" for c in coarse])
    others = np.sort(p[~is_emergency])
    return {
        f"911 recall at {rate:.1%} false alarms": round(
            float((p[is_emergency] > others[-int(rate * len(others)) - 1]).mean()), 4
        )
        for rate in FALSE_ALARMS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-5, 2e-5])
    parser.add_argument("--small", action="store_true", help="one pair, a tenth of the examples (CI)")
    args = parser.parse_args()
    one_blas_thread()
    sample = load_sample()
    assert sample.knowledge is not None
    labelled = examples(sample.training, sample.knowledge, sample.catalogue)
    if args.small:
        labelled = labelled[::10]
        args.weights, args.alphas = [classifier.DENSE_WEIGHT], [classifier.ALPHA]
    texts = [t for _, t in labelled]
    labels = [label for label, _ in labelled]
    coarse = [triage_label(x) for x in labels]
    intents = cap([intent_label(x) for x in labels], MAX_PER_LABEL)
    reports = [i for i, x in enumerate(labels) if x.startswith(REPORT)]
    triage = cap(coarse, MAX_ORDINARY)
    embedder = load_default()
    vectors: dict[str, np.ndarray] = {}
    results = []
    for alpha in args.alphas:
        for weight in args.weights:
            classifier.DENSE_WEIGHT, classifier.ALPHA = weight, alpha
            _, rows = Featurizer.fit(texts, embedder, vectors)
            results.append(
                {
                    "dense_weight": weight,
                    "alpha": alpha,
                    "intents": accuracy(rows[intents], [str(intent_label(labels[i])) for i in intents]),
                    "services": accuracy(rows[reports], [labels[i][len(REPORT) :] for i in reports]),
                    **recall_at(rows[triage], [coarse[i] for i in triage]),
                }
            )
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
