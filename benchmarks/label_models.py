"""Label models on WRENCH (youtube, sms, trec), crowdsourcing-style and 1M x 50 synthetic data.

Every gristmill label model runs here; Snorkel 0.10's LabelModel (defaults) and
MajorityLabelVoter run in benchmarks/.venv-anchors in a subprocess, on the same matrices, in the
same run. Predictions of every model are argmax of predict_proba with ties broken at random
(seed 0), as WRENCH does; every test row counts. Usage: .venv/bin/python benchmarks/label_models.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from gristmill.labelmodel import LABEL_MODELS, get_label_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wrench"
ANCHOR_PYTHON = Path(__file__).resolve().parent / ".venv-anchors" / "bin" / "python"
DATASETS = {"youtube": "accuracy", "sms": "f1", "trec": "accuracy"}
ORDER = ["auto", "majority_vote", "weighted_majority_vote", "dawid_skene", "matrix_completion", "triplet"]

ANCHOR_CODE = r"""
import json, sys, time, numpy as np
from snorkel.labeling.model import LabelModel, MajorityLabelVoter
task = json.load(open(sys.argv[1])); out = {}
for name, item in task.items():
    L = np.load(item["train"]); Lt = np.load(item["test"]); k = item["k"]
    model = LabelModel(cardinality=k, verbose=False)
    start = time.perf_counter(); model.fit(L, seed=0, progress_bar=False); fit = time.perf_counter() - start
    out[name] = {"snorkel_label_model": [model.predict_proba(Lt).tolist() if item["return"] else None, fit],
                 "snorkel_majority": [MajorityLabelVoter(cardinality=k).predict_proba(Lt).tolist() if item["return"] else None, 0.0]}
    if not item["return"]:
        out[name]["snorkel_label_model"][0] = np.load(item["gold"]).tolist() and float(np.mean(
            model.predict_proba(Lt).argmax(1) == np.load(item["gold"])))
json.dump(out, open(sys.argv[2], "w"))
"""


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    rows = json.loads((DATA / name / f"{split}.json").read_text())
    ids = sorted(rows, key=int)
    votes = np.array([rows[i]["weak_labels"] for i in ids], dtype=np.int64)
    return votes, np.array([rows[i]["label"] for i in ids], dtype=np.int64)


def random_ties(proba: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tied = proba >= proba.max(axis=1, keepdims=True) * (1 - 1e-9)
    return np.argmax(np.where(tied, rng.random(proba.shape), -1.0), axis=1)


def metric(gold: np.ndarray, predicted: np.ndarray, name: str) -> float:
    if name == "accuracy":
        return float(np.mean(gold == predicted))
    tp = np.sum((gold == 1) & (predicted == 1))
    return float(2 * tp / (np.sum(gold == 1) + np.sum(predicted == 1)))


def run_anchors(task: dict, workdir: Path) -> dict:
    if not ANCHOR_PYTHON.exists():
        print("(anchors missing: run `make bench-env`)")
        return {}
    spec, out = workdir / "task.json", workdir / "out.json"
    spec.write_text(json.dumps(task))
    subprocess.run([str(ANCHOR_PYTHON), "-c", ANCHOR_CODE, str(spec), str(out)], check=True,
                   capture_output=True)
    return json.loads(out.read_text())


def fit_gristmill(name: str, L, Lt, k: int) -> tuple[np.ndarray, float]:
    model = get_label_model(name, cardinality=k)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(L)
    return model.predict_proba(Lt), time.perf_counter() - start


def crowdsourcing(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    cases = {name: (*load_split(name, "train"), *load_split(name, "test")) for name in DATASETS}
    cases["crowd(200 workers)"] = crowdsourcing()
    metrics = {**DATASETS, "crowd(200 workers)": "accuracy"}
    task = {}
    for name, (L, _, Lt, yt) in cases.items():
        k = int(max(L.max(), yt.max()) + 1)
        np.save(workdir / f"{name}_L.npy", L)
        np.save(workdir / f"{name}_Lt.npy", Lt)
        task[name] = {"train": str(workdir / f"{name}_L.npy"), "test": str(workdir / f"{name}_Lt.npy"), "k": k, "return": True}
    anchors = run_anchors(task, workdir)
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for name, (L, _, Lt, yt) in cases.items():
        k = int(max(L.max(), yt.max()) + 1)
        for model in ORDER:
            proba, seconds = fit_gristmill(model, L, Lt, k)
            rows.setdefault(model, {})[name] = (metric(yt, random_ties(proba), metrics[name]), seconds)
        for anchor, (proba, seconds) in anchors.get(name, {}).items():
            rows.setdefault(anchor, {})[name] = (metric(yt, random_ties(np.array(proba)), metrics[name]), seconds)
    names = list(cases)
    print("| model | " + " | ".join(f"{n} ({metrics[n]})" for n in names) + " | mean |")
    print("|---" * (len(names) + 2) + "|")
    for model, scores in rows.items():
        cells = [f"{scores[n][0]:.3f} ({scores[n][1]:.2f}s)" for n in names]
        mean = np.mean([scores[n][0] for n in names])
        print(f"| {model} | " + " | ".join(cells) + f" | {mean:.3f} |")


def peak_mib(fn) -> tuple[float, object]:
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20, result


def scale_table(workdir: Path) -> None:
    rng = np.random.default_rng(1)
    n, m = 1_000_000, 50
    accuracy = rng.uniform(0.55, 0.9, m)
    coverage = rng.uniform(0.1, 0.5, m)
    gold = rng.integers(0, 2, n).astype(np.int8)
    votes = np.where(rng.random((n, m), dtype=np.float32) < accuracy, gold[:, None], 1 - gold[:, None]).astype(np.int8)
    votes[rng.random((n, m), dtype=np.float32) >= coverage] = -1
    np.save(workdir / "big_L.npy", votes)
    np.save(workdir / "big_y.npy", gold)
    print(f"\n1,000,000 x 50 synthetic, binary, coverage 0.1-0.5, accuracy 0.55-0.9 (nnz {int((votes >= 0).sum()):,})")
    print("| model | fit s | accuracy | max abs error of lf_accuracies_ | peak MiB (tracemalloc, fit) |")
    print("|---|---|---|---|---|")
    results = {}
    for name in ("auto", "matrix_completion", "majority_vote"):
        model = get_label_model(name)
        start = time.perf_counter()
        peak, _ = peak_mib(lambda model=model: model.fit(votes))
        seconds = time.perf_counter() - start
        acc = float(np.mean(random_ties(model.predict_proba(votes)) == gold))
        err = float(np.nanmax(np.abs(model.lf_accuracies_ - accuracy)))
        results[name] = (seconds, acc)
        print(f"| {name} | {seconds:.2f} | {acc:.4f} | {err:.4f} | {peak:.0f} |")
    task = {"big": {"train": str(workdir / "big_L.npy"), "test": str(workdir / "big_L.npy"), "k": 2,
                    "return": False, "gold": str(workdir / "big_y.npy")}}
    anchors = run_anchors(task, workdir)
    if anchors:
        acc, seconds = anchors["big"]["snorkel_label_model"]
        print(f"| snorkel_label_model | {seconds:.2f} | {acc:.4f} | - | - |")
        for name in ("auto", "matrix_completion"):
            print(f"speed-up of {name} over Snorkel: {seconds / results[name][0]:.1f}x")


def main() -> None:
    assert set(ORDER) == set(LABEL_MODELS)
    with tempfile.TemporaryDirectory() as directory:
        quality_table(Path(directory))
        if "--no-scale" not in sys.argv:
            scale_table(Path(directory))


if __name__ == "__main__":
    main()
