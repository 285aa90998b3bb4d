"""Label models on WRENCH (youtube, sms, trec), crowdsourcing-style and 1M x 50 synthetic data.

Every gristmill label model runs here; Snorkel 0.10's LabelModel (defaults) and
MajorityLabelVoter run in benchmarks/.venv-anchors in a subprocess, on the same matrices, in the
same run. Every model predicts the argmax of its predict_proba with ties broken at random
(seed 0), as WRENCH does, and every test row counts (rows without votes too).

Usage: .venv/bin/python benchmarks/label_models.py [--no-scale]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gristmill.labelmodel import LABEL_MODELS, get_label_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wrench"
ANCHOR_PYTHON = Path(__file__).resolve().parent / ".venv-anchors" / "bin" / "python"
DATASETS = {"youtube": "accuracy", "sms": "f1", "trec": "accuracy"}
CROWD = "crowd (200 workers)"
ORDER = [
    "auto",
    "majority_vote",
    "weighted_majority_vote",
    "dawid_skene",
    "matrix_completion",
    "triplet",
]

# Runs in benchmarks/.venv-anchors: fits Snorkel on each task, saves test probabilities as .npy.
ANCHOR_CODE = r"""
import json, sys, time, numpy as np
from snorkel.labeling.model import LabelModel, MajorityLabelVoter
task = json.load(open(sys.argv[1])); seconds = {}
for name, item in task.items():
    L, Lt, k = np.load(item["train"]), np.load(item["test"]), item["k"]
    model = LabelModel(cardinality=k, verbose=False)
    start = time.perf_counter()
    model.fit(L, seed=0, progress_bar=False)
    seconds[name] = time.perf_counter() - start
    np.save(item["out"] + "_snorkel_label_model.npy", model.predict_proba(Lt))
    voter = MajorityLabelVoter(cardinality=k)
    np.save(item["out"] + "_snorkel_majority.npy", voter.predict_proba(Lt))
json.dump(seconds, open(sys.argv[2], "w"))
"""


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Votes (n, m) and gold labels of one WRENCH split, rows in id order."""
    rows = json.loads((DATA / name / f"{split}.json").read_text())
    ids = sorted(rows, key=int)
    votes = np.array([rows[i]["weak_labels"] for i in ids], dtype=np.int64)
    return votes, np.array([rows[i]["label"] for i in ids], dtype=np.int64)


def random_ties(proba: np.ndarray, seed: int = 0) -> np.ndarray:
    """Argmax per row, ties broken uniformly at random (the same rule for every model)."""
    rng = np.random.default_rng(seed)
    tied = proba >= proba.max(axis=1, keepdims=True) * (1 - 1e-9)
    return np.argmax(np.where(tied, rng.random(proba.shape), -1.0), axis=1)


def metric(gold: np.ndarray, predicted: np.ndarray, name: str) -> float:
    """Accuracy, or binary F1 of class 1."""
    if name == "accuracy":
        return float(np.mean(gold == predicted))
    true_pos = np.sum((gold == 1) & (predicted == 1))
    return float(2 * true_pos / (np.sum(gold == 1) + np.sum(predicted == 1)))


def run_anchors(cases: dict[str, tuple[np.ndarray, np.ndarray, int]], workdir: Path) -> dict:
    """Fit Snorkel's models on each (train, test, k) case: {case: {anchor: (proba, seconds)}}."""
    if not ANCHOR_PYTHON.exists():
        print("(anchors missing: run `make bench-env`)")
        return {}
    task = {}
    for name, (L, Lt, k) in cases.items():
        stem = str(workdir / name.replace(" ", "_"))
        np.save(f"{stem}_L.npy", L)
        np.save(f"{stem}_Lt.npy", Lt)
        task[name] = {"train": f"{stem}_L.npy", "test": f"{stem}_Lt.npy", "k": k, "out": stem}
    spec, out = workdir / "task.json", workdir / "seconds.json"
    spec.write_text(json.dumps(task))
    command = [str(ANCHOR_PYTHON), "-c", ANCHOR_CODE, str(spec), str(out)]
    subprocess.run(command, check=True, capture_output=True)
    seconds = json.loads(out.read_text())
    results = {}
    for name, item in task.items():
        results[name] = {
            "Snorkel LabelModel": (
                np.load(item["out"] + "_snorkel_label_model.npy"),
                seconds[name],
            ),
            "Snorkel MajorityLabelVoter": (np.load(item["out"] + "_snorkel_majority.npy"), 0.0),
        }
    return results


def fit_gristmill(name: str, L: np.ndarray, Lt: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Fit one gristmill model on L; return its test probabilities and fit seconds."""
    model = get_label_model(name, cardinality=k)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(L)
    return model.predict_proba(Lt), time.perf_counter() - start


def crowdsourcing(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """200 workers of accuracy 0.35-0.95 over 3 classes, 3-10 votes per row; train/test halves."""
    rng = np.random.default_rng(seed)
    n, m, k = 20_000, 200, 3
    gold = rng.integers(0, k, n)
    accuracy = rng.uniform(0.35, 0.95, m)
    votes = np.full((n, m), -1, dtype=np.int64)
    for i, count in enumerate(rng.integers(3, 11, n)):
        workers = rng.choice(m, size=count, replace=False)
        right = rng.random(count) < accuracy[workers]
        votes[i, workers] = np.where(right, gold[i], (gold[i] + rng.integers(1, k, count)) % k)
    half = n // 2
    return votes[:half], gold[:half], votes[half:], gold[half:]


def quality_table(workdir: Path) -> None:
    """Score of every model on every dataset, with fit times, as a Markdown table."""
    cases = {name: (*load_split(name, "train"), *load_split(name, "test")) for name in DATASETS}
    cases[CROWD] = crowdsourcing()
    metrics = {**DATASETS, CROWD: "accuracy"}
    cardinality = {name: int(max(L.max(), yt.max()) + 1) for name, (L, _, _, yt) in cases.items()}
    anchors = run_anchors(
        {name: (L, Lt, cardinality[name]) for name, (L, _, Lt, _) in cases.items()}, workdir
    )
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for name, (L, _, Lt, yt) in cases.items():
        for model in ORDER:
            proba, seconds = fit_gristmill(model, L, Lt, cardinality[name])
            rows.setdefault(model, {})[name] = (
                metric(yt, random_ties(proba), metrics[name]),
                seconds,
            )
        for anchor, (proba, seconds) in anchors.get(name, {}).items():
            score = metric(yt, random_ties(proba), metrics[name])
            rows.setdefault(anchor, {})[name] = (score, seconds)
    names = list(cases)
    print("| model | " + " | ".join(f"{n} ({metrics[n]})" for n in names) + " | mean WRENCH |")
    print("|---" * (len(names) + 2) + "|")
    for model, scores in rows.items():
        cells = [f"{scores[n][0]:.3f} ({scores[n][1]:.2f}s)" for n in names]
        mean = np.mean([scores[n][0] for n in DATASETS])
        print(f"| {model} | " + " | ".join(cells) + f" | {mean:.3f} |")
    if anchors:
        for reference in ("Snorkel LabelModel", "Snorkel MajorityLabelVoter"):
            gaps = [rows["auto"][n][0] - rows[reference][n][0] for n in names]
            print(f"LabelModel minus {reference}: " + ", ".join(f"{g:+.3f}" for g in gaps))


def traced_peak_mib(work: Callable[[], object]) -> float:
    """Peak MiB of memory allocated (numpy included) while ``work`` runs."""
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def scale_table(workdir: Path) -> None:
    """Fit time, accuracy and peak memory on 1,000,000 x 50 votes with known accuracies."""
    rng = np.random.default_rng(1)
    n, m = 1_000_000, 50
    accuracy = rng.uniform(0.55, 0.9, m)
    coverage = rng.uniform(0.1, 0.5, m)
    gold = rng.integers(0, 2, n).astype(np.int8)
    right = rng.random((n, m), dtype=np.float32) < accuracy
    votes = np.where(right, gold[:, None], 1 - gold[:, None]).astype(np.int8)
    del right
    votes[rng.random((n, m), dtype=np.float32) >= coverage] = -1
    nnz = int((votes >= 0).sum())
    print(f"\n1,000,000 x 50 binary, coverage 0.1-0.5, accuracy 0.55-0.9, {nnz:,} votes")
    print("| model | fit s | accuracy | max error of lf_accuracies_ | peak MiB of fit |")
    print("|---|---|---|---|---|")
    seconds_of = {}
    for name in ("auto", "matrix_completion", "majority_vote"):
        model = get_label_model(name)
        start = time.perf_counter()
        model.fit(votes)
        seconds = time.perf_counter() - start
        peak = traced_peak_mib(lambda model=model: model.fit(votes))
        acc = float(np.mean(random_ties(model.predict_proba(votes)) == gold))
        error = float(np.nanmax(np.abs(model.lf_accuracies_ - accuracy)))
        seconds_of[name] = seconds
        print(f"| {name} | {seconds:.2f} | {acc:.4f} | {error:.4f} | {peak:.0f} |")
    anchors = run_anchors({"big": (votes, votes, 2)}, workdir)
    if anchors:
        proba, seconds = anchors["big"]["Snorkel LabelModel"]
        acc = float(np.mean(random_ties(proba) == gold))
        print(f"| Snorkel LabelModel | {seconds:.2f} | {acc:.4f} | - | - |")
        for name in ("auto", "matrix_completion"):
            print(f"speed-up of {name} over Snorkel: {seconds / seconds_of[name]:.1f}x")


def main() -> None:
    assert set(ORDER) == set(LABEL_MODELS)
    with tempfile.TemporaryDirectory() as directory:
        quality_table(Path(directory))
        if "--no-scale" not in sys.argv:
            scale_table(Path(directory))


if __name__ == "__main__":
    main()
