"""Label models on WRENCH (youtube, sms, trec), crowdsourcing-style and synthetic data.

Also each WRENCH train split fit and scored on itself (the labels a user trains on), and real
data no label model was designed on: the bundled example's YouTube comments and its 10 LFs,
leave one video out (fit on four videos' votes, score the fifth; no dev set); WRENCH's sms, trec
and youtube texts and a tabular dataset (breast cancer) labeled by LFs written for this
benchmark (benchmarks/lfs/, applied to the texts of each split; fit on train, scored on test;
the tabular one fit and scored on all its rows); multiclass tables (Seattle weather, car origin,
wine cultivar; benchmarks/data/) labeled by rules written blind, fit and scored on all rows; and
the error of each model's LF accuracy estimates against the gold labels.

Every gristmill label model runs here; Snorkel 0.10's LabelModel (defaults) and
MajorityLabelVoter run in benchmarks/.venv-anchors in a subprocess, on the same matrices, in the
same run. Every test row counts (rows without votes too). Two protocols, side by side:

* no dev: fit on the train votes only; every model predicts the argmax of its predict_proba
  with ties broken at random (seed 0), as WRENCH does.
* with dev: the labeled dev split (WRENCH's valid.json) is given to every model that takes one:
  gristmill's ``fit(L, L_dev=, y_dev=)``, Snorkel's ``fit(L, Y_dev=)`` (its class balance). On
  the F1 dataset every model, Snorkel's included, predicts class 1 when its probability reaches
  the F1-optimal cut-off found on the dev split (the same sweep for all); accuracy datasets keep
  the argmax.

Usage: .venv/bin/python benchmarks/label_models.py [--no-scale] [--no-dev] [--no-anchors]
       .venv/bin/python benchmarks/label_models.py --scale-only   (only the 1M x 50 table: fit
       time, median of 3, accuracy and memory, gristmill vs Snorkel)
       .venv/bin/python benchmarks/label_models.py --seeds 2,3,4   (only: 1M x 50 accuracy per
       data seed, gristmill vs Snorkel vs the Bayes rule)
       .venv/bin/python benchmarks/label_models.py --real-only   (only the multiclass tables
       labeled by rules written blind: accuracy, macro F1, LF accuracy estimates)
       .venv/bin/python benchmarks/label_models.py --wide-only   (only: 301 keyword LFs over 30
       classes on 3,000 rows, gristmill vs Snorkel (which takes minutes), and 1,000 over 100
       classes on 200,000 rows, gristmill only: fit time and accuracy)
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import gristmill
from gristmill.labeling import apply_lfs
from gristmill.labeling._load import load_lfs
from gristmill.labelmodel import LABEL_MODELS, get_label_model
from gristmill.labelmodel._thresholds import f1_threshold

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wrench"
ANCHOR_PYTHON = Path(__file__).resolve().parent / ".venv-anchors" / "bin" / "python"
DATASETS = {"youtube": "accuracy", "sms": "f1", "trec": "accuracy"}
CROWD = "crowd (200 workers)"
# The bundled example (`gristmill init --example spam`): the UCI YouTube Spam Collection
# (Alberto, Lochter & Almeida, 2015; 1,956 comments on 5 videos) and the example's 10 LFs,
# written for the demo before any label model was tuned on them.
EXAMPLE = Path(gristmill.__file__).resolve().parent / "examples" / "spam"
# LFs written for this benchmark in session 7 (not WRENCH's), applied to the WRENCH texts.
OWN_LFS = Path(__file__).resolve().parent / "lfs"
TABULAR = "breast cancer, threshold rules"
# (dataset, LF module in OWN_LFS, case label): mixed rules, and one keyword per LF (the style of
# WRENCH's sms LFs).
OWN_LF_SETS = [
    ("sms", "sms_lfs.py", "own LFs"),
    ("sms", "sms_keyword_lfs.py", "keyword LFs"),
    ("trec", "trec_lfs.py", "own LFs"),
    ("youtube", "youtube_keyword_lfs.py", "keyword LFs"),
]
# Multiclass tables labeled by rules written in session 10 before any score was computed
# (benchmarks/lfs/): (case, LF module, classes in the order the rules number them). The data
# are in benchmarks/data/ (see its README.md) but for wine, which scikit-learn bundles.
REAL_DATA = Path(__file__).resolve().parent / "data"
MULTICLASS_SETS = [
    ("seattle weather", "seattle_weather_lfs.py", ("drizzle", "fog", "rain", "snow", "sun")),
    ("car origin", "cars_lfs.py", ("Europe", "Japan", "USA")),
    ("wine cultivar", "wine_lfs.py", (0, 1, 2)),
]
ORDER = [
    "auto",
    "majority_vote",
    "weighted_majority_vote",
    "dawid_skene",
    "matrix_completion",
    "triplet",
]

# Runs in benchmarks/.venv-anchors: fits Snorkel on each task (without, then with Y_dev when a
# dev split is given) and saves its test (and dev) probabilities as .npy.
ANCHOR_CODE = r"""
import json, sys, time, numpy as np
from snorkel.labeling.model import LabelModel, MajorityLabelVoter
task = json.load(open(sys.argv[1])); seconds = {}
for name, item in task.items():
    L, k, out = np.load(item["train"]), item["k"], item["out"]
    splits = {"test": np.load(item["test"])}
    dev = {"Y_dev": np.load(item["y_dev"])} if "dev" in item else None
    if dev:
        splits["dev"] = np.load(item["dev"])
    for label, fit_args in [("", {})] + ([("_dev", dev)] if dev else []):
        if item.get("repeats", 1) > 1:  # as gristmill's side: one untimed fit on 1,000 rows
            LabelModel(cardinality=k, verbose=False).fit(L[:1000], seed=0, progress_bar=False)
        times = []
        for _ in range(item.get("repeats", 1)):
            model = LabelModel(cardinality=k, verbose=False)
            start = time.perf_counter()
            model.fit(L, seed=0, progress_bar=False, **fit_args)
            times.append(time.perf_counter() - start)
        seconds[name + label] = sorted(times)[len(times) // 2]
        seconds[name + label + " fits"] = times
        for split, votes in splits.items():
            np.save(f"{out}_lm{label}_{split}.npy", model.predict_proba(votes))
        np.save(f"{out}_lm{label}_accuracies.npy", model.get_weights())
    voter = MajorityLabelVoter(cardinality=k)
    for split, votes in splits.items():
        np.save(f"{out}_mv_{split}.npy", voter.predict_proba(votes))
json.dump(seconds, open(sys.argv[2], "w"))
"""


@functools.cache
def split_rows(name: str, split: str) -> tuple[dict[str, Any], ...]:
    """The rows of one WRENCH split in id order, read once per process (treat as read-only)."""
    rows = json.loads((DATA / name / f"{split}.json").read_text())
    return tuple(rows[i] for i in sorted(rows, key=int))


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Votes (n, m) and gold labels of one WRENCH split, rows in id order."""
    rows = split_rows(name, split)
    votes = np.array([row["weak_labels"] for row in rows], dtype=np.int64)
    return votes, np.array([row["label"] for row in rows], dtype=np.int64)


def random_ties(proba: np.ndarray, seed: int = 0) -> np.ndarray:
    """Argmax per row, ties broken uniformly at random (the same rule for every model)."""
    rng = np.random.default_rng(seed)
    tied = proba >= proba.max(axis=1, keepdims=True) * (1 - 1e-9)
    return np.argmax(np.where(tied, rng.random(proba.shape), -1.0), axis=1)


def metric(gold: np.ndarray, predicted: np.ndarray, name: str) -> float:
    """Accuracy, macro F1 (the mean of each gold class's F1), or binary F1 of class 1."""
    if name == "accuracy":
        return float(np.mean(gold == predicted))
    if name == "macro F1":
        classes = np.unique(gold)
        hits = [np.sum((gold == c) & (predicted == c)) for c in classes]
        sizes = [np.sum(gold == c) + np.sum(predicted == c) for c in classes]
        return float(np.mean(2 * np.array(hits) / np.array(sizes)))
    true_pos = np.sum((gold == 1) & (predicted == 1))
    return float(2 * true_pos / (np.sum(gold == 1) + np.sum(predicted == 1)))


@dataclass
class Case:
    """Votes and gold labels of one dataset: train, test and (optional) labeled dev split."""

    train: np.ndarray
    test: np.ndarray
    y_test: np.ndarray
    k: int
    metric: str = "accuracy"
    dev: np.ndarray | None = None
    y_dev: np.ndarray | None = None
    repeats: int = 1  # fits timed (the median is reported)


# Fits timed per model on the 1M x 50 matrix, Snorkel's included; the median is reported.
SCALE_REPEATS = 5

SNORKEL_LM, SNORKEL_LM_DEV, SNORKEL_MV = (
    "Snorkel LabelModel",
    "Snorkel LabelModel (Y_dev)",
    "Snorkel MajorityLabelVoter",
)


def run_anchors(cases: dict[str, Case], workdir: Path) -> dict:
    """Fit Snorkel's models on each case: {case: {anchor: {"test"|"dev": proba, "seconds": s}}}."""
    if not ANCHOR_PYTHON.exists():
        print("(anchors missing: run `make bench-env`)")
        return {}
    task = {}
    for name, case in cases.items():
        stem = str(workdir / name.replace(" ", "_").replace(",", ""))
        item = {"train": f"{stem}_L.npy", "test": f"{stem}_Lt.npy", "k": case.k, "out": stem}
        item["repeats"] = case.repeats
        np.save(item["train"], case.train)
        np.save(item["test"], case.test)
        if case.dev is not None and case.y_dev is not None:
            item.update(dev=f"{stem}_Lv.npy", y_dev=f"{stem}_yv.npy")
            np.save(item["dev"], case.dev)
            np.save(item["y_dev"], case.y_dev)
        task[name] = item
    spec, out = workdir / "task.json", workdir / "seconds.json"
    spec.write_text(json.dumps(task))
    command = [str(ANCHOR_PYTHON), "-c", ANCHOR_CODE, str(spec), str(out)]
    subprocess.run(command, check=True, capture_output=True)
    seconds = json.loads(out.read_text())
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name, item in task.items():
        splits = ["test", "dev"] if "dev" in item else ["test"]
        stem = item["out"]
        found = {
            SNORKEL_LM: (f"{stem}_lm", seconds[name]),
            SNORKEL_MV: (f"{stem}_mv", 0.0),
        }
        if "dev" in item:
            found[SNORKEL_LM_DEV] = (f"{stem}_lm_dev", seconds[name + "_dev"])
        results[name] = {}
        for anchor, (prefix, sec) in found.items():
            probas = {split: np.load(f"{prefix}_{split}.npy") for split in splits}
            results[name][anchor] = {"seconds": sec, **probas}
        results[name][SNORKEL_LM]["fits"] = seconds[name + " fits"]
        results[name][SNORKEL_LM]["accuracies"] = np.load(f"{stem}_lm_accuracies.npy")
    return results


def fit_gristmill(name: str, case: Case, with_dev: bool) -> tuple[Any, float]:
    """Fit one gristmill model on the train votes (and the dev split); return it and fit seconds."""
    model = get_label_model(name, cardinality=case.k)
    dev = {"L_dev": case.dev, "y_dev": case.y_dev} if with_dev else {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(case.train, **dev)
    return model, time.perf_counter() - start


def dev_f1_decision(case: Case, test_proba: np.ndarray, dev_proba: np.ndarray) -> np.ndarray:
    """Class 1 where P(1) reaches the cut-off that maximises F1 on the dev split."""
    cut = f1_threshold(dev_proba[:, 1], gold=case.y_dev)
    return (test_proba[:, 1] >= cut).astype(np.int64)


def crowdsourcing(seed: int = 0) -> Case:
    """200 workers of accuracy 0.35-0.95 over 3 classes, 3-10 votes per row.

    10,000 train rows, a 500-row dev split, 9,500 test rows.
    """
    rng = np.random.default_rng(seed)
    n, m, k = 20_000, 200, 3
    gold = rng.integers(0, k, n)
    accuracy = rng.uniform(0.35, 0.95, m)
    votes = np.full((n, m), -1, dtype=np.int64)
    for i, count in enumerate(rng.integers(3, 11, n)):
        workers = rng.choice(m, size=count, replace=False)
        right = rng.random(count) < accuracy[workers]
        votes[i, workers] = np.where(right, gold[i], (gold[i] + rng.integers(1, k, count)) % k)
    half, dev_end = n // 2, n // 2 + 500
    return Case(
        train=votes[:half],
        test=votes[dev_end:],
        y_test=gold[dev_end:],
        k=k,
        dev=votes[half:dev_end],
        y_dev=gold[half:dev_end],
    )


def wrench_case(name: str) -> Case:
    """A WRENCH dataset with its train, valid (as dev) and test splits."""
    train, _ = load_split(name, "train")
    test, y_test = load_split(name, "test")
    dev, y_dev = load_split(name, "valid")
    k = int(max(train.max(), test.max(), y_test.max(), y_dev.max()) + 1)
    return Case(train, test, y_test, k, DATASETS[name], dev, y_dev)


def print_table(rows: dict[str, dict[str, tuple[float, float]]], cases: dict[str, Case]) -> None:
    """One Markdown row per model: score (fit seconds) per case and the WRENCH mean."""
    names = list(cases)
    print("| model | " + " | ".join(f"{n} ({cases[n].metric})" for n in names) + " | mean WRENCH |")
    print("|---" * (len(names) + 2) + "|")
    for model, scores in rows.items():
        cells = [f"{scores[n][0]:.3f} ({scores[n][1]:.2f}s)" if n in scores else "-" for n in names]
        wrench = [scores[n][0] for n in DATASETS if n in scores]
        mean = f"{np.mean(wrench):.3f}" if len(wrench) == len(DATASETS) else "-"
        print(f"| {model} | " + " | ".join(cells) + f" | {mean} |")


def quality_table(cases: dict[str, Case], anchors: dict, *, with_dev: bool) -> None:
    """Score of every model on every dataset under one protocol, as a Markdown table."""
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for name, case in cases.items():
        f1_by_threshold = with_dev and case.metric == "f1"
        for model_name in ORDER:
            model, seconds = fit_gristmill(model_name, case, with_dev)
            if f1_by_threshold:
                predicted = model.predict(case.test, threshold="f1")
            else:
                predicted = random_ties(model.predict_proba(case.test))
            score = metric(case.y_test, predicted, case.metric)
            rows.setdefault(model_name, {})[name] = (score, seconds)
        if not with_dev and case.metric == "f1":
            plug_in_row(rows, name, case)
        used = (SNORKEL_LM_DEV, SNORKEL_MV) if with_dev else (SNORKEL_LM, SNORKEL_MV)
        for anchor in used:
            if anchor not in anchors.get(name, {}):
                continue
            result = anchors[name][anchor]
            if f1_by_threshold:
                predicted = dev_f1_decision(case, result["test"], result["dev"])
            else:
                predicted = random_ties(result["test"])
            score = metric(case.y_test, predicted, case.metric)
            rows.setdefault(anchor, {})[name] = (score, result["seconds"])
    print(f"\nProtocol: {'with dev' if with_dev else 'no dev'}")
    print_table(rows, cases)
    for reference in (SNORKEL_LM_DEV if with_dev else SNORKEL_LM, SNORKEL_MV):
        if reference in rows:
            gaps = [rows["auto"][n][0] - rows[reference][n][0] for n in cases]
            print(f"LabelModel minus {reference}: " + ", ".join(f"{g:+.3f}" for g in gaps))


def plug_in_row(rows: dict[str, dict[str, tuple[float, float]]], name: str, case: Case) -> None:
    """LabelModel with the plug-in F1 threshold (no dev); prints its F1 on the train split too."""
    model, seconds = fit_gristmill("auto", case, False)
    score = metric(case.y_test, model.predict(case.test, threshold="f1"), case.metric)
    rows.setdefault("auto, plug-in F1 threshold", {})[name] = (score, seconds)
    _, y_train = load_split(name, "train")
    argmax = metric(y_train, random_ties(model.predict_proba(case.train)), case.metric)
    plug_in = metric(y_train, model.predict(case.train, threshold="f1"), case.metric)
    print(
        f"{name}: LabelModel F1 on its own train split, argmax {argmax:.3f} vs "
        f"plug-in threshold {plug_in:.3f} (threshold "
        f"{model.f1_threshold_:.3f}, class_balance_ {model.class_balance_.round(3).tolist()})"
    )


def example_cases() -> dict[str, Case]:
    """Leave one video out on the bundled example: fit on four videos' votes, score the fifth."""
    frame = pd.read_csv(EXAMPLE / "data" / "youtube.csv")
    votes = np.asarray(apply_lfs(load_lfs(EXAMPLE / "lfs.py"), frame, progress=False).to_numpy())
    gold = frame["CLASS"].to_numpy()
    videos = frame["VIDEO"].to_numpy()
    return {
        str(video): Case(
            votes[videos != video], votes[videos == video], gold[videos == video], 2
        )
        for video in sorted(set(videos))
    }


def load_texts(name: str, split: str) -> pd.DataFrame:
    """The texts (column ``text``) of one WRENCH split, rows in id order, lower-case.

    trec's test texts in this copy start with TREC's fine-grained label ("dist How far is it
    ...", the answer) and keep their case, unlike its train texts: the label is dropped.
    """
    texts = pd.Series([row["data"]["text"] for row in split_rows(name, split)]).str.lower()
    if name == "trec" and split == "test":
        texts = texts.str.split(n=1).str[1]
    return pd.DataFrame({"text": texts})


def own_lf_cases() -> dict[str, Case]:
    """WRENCH texts labeled by LFs written for this benchmark (benchmarks/lfs/).

    The LFs are applied to the texts of each split. Two cases per dataset: fit on train and
    scored on test (valid as the dev split), and the train split fit and scored on itself.
    """
    cases = {}
    for name, lf_file, label in OWN_LF_SETS:
        lfs = load_lfs(OWN_LFS / lf_file)
        votes, gold = {}, {}
        for split in ("train", "valid", "test"):
            texts = load_texts(name, split)
            votes[split] = np.asarray(apply_lfs(lfs, texts, progress=False).to_numpy())
            gold[split] = load_split(name, split)[1]
        k, score = 1 + max(int(labels.max()) for labels in gold.values()), DATASETS[name]
        cases[f"{name}, {label}"] = Case(
            votes["train"], votes["test"], gold["test"], k, score, votes["valid"], gold["valid"]
        )
        cases[f"{name} train, {label}"] = Case(
            votes["train"], votes["train"], gold["train"], k, score
        )
    return cases


def tabular_case() -> Case:
    """Breast cancer with threshold rules written for this benchmark, fit and scored on all rows.

    The UCI Wisconsin diagnostic breast cancer data (Street, Wolberg & Mangasarian 1993) as
    scikit-learn bundles it: 569 tumours, no split.
    """
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    votes = apply_lfs(load_lfs(OWN_LFS / "breast_cancer_lfs.py"), data.frame, progress=False)
    gold = 1 - data.target.to_numpy()  # 0 benign, 1 malignant (scikit-learn has it reversed)
    values = np.asarray(votes.to_numpy())
    return Case(values, values, gold, 2)


def multiclass_frame(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """The table of one multiclass set and its class column."""
    if name == "wine cultivar":
        from sklearn.datasets import load_wine

        data = load_wine(as_frame=True)
        return data.frame, data.target
    if name == "seattle weather":
        frame = pd.read_csv(REAL_DATA / "seattle-weather.csv")
        return frame, frame["weather"]
    frame = pd.read_json(REAL_DATA / "cars.json")
    return frame, frame["Origin"]


def multiclass_cases() -> dict[str, Case]:
    """Multiclass tables labeled by rules written blind, fit and scored on all their rows.

    Each set twice, scored by accuracy and by macro F1 (its rare classes weigh as much as the
    common ones). Prints each set's class balance and how many rows get a vote.
    """
    cases = {}
    for name, lf_file, classes in MULTICLASS_SETS:
        frame, labels = multiclass_frame(name)
        gold = labels.map({label: index for index, label in enumerate(classes)})
        if gold.isna().any():
            unknown = sorted(set(labels) - set(classes))
            raise ValueError(f"{name}: classes {unknown} are not among {classes}")
        votes = apply_lfs(load_lfs(OWN_LFS / lf_file), frame, progress=False)
        values = np.asarray(votes.to_numpy())
        balance = np.bincount(gold.to_numpy(dtype=np.int64), minlength=len(classes)) / len(gold)
        shares = ", ".join(f"{c} {share:.3f}" for c, share in zip(classes, balance, strict=True))
        covered = np.mean((values >= 0).any(axis=1))
        print(f"{name}: {len(gold)} rows, {values.shape[1]} LFs, {covered:.3f} voted on; {shares}")
        for score in ("accuracy", "macro F1"):
            label = name if score == "accuracy" else f"{name}, macro"
            cases[label] = Case(values, values, gold.to_numpy(dtype=np.int64), len(classes), score)
    return cases


def simple_table(title: str, cases: dict[str, Case], anchors: dict) -> None:
    """No-dev score of every model on each case (its metric), and the mean over the cases."""
    rows: dict[str, list[float]] = {}
    for name, case in cases.items():
        for model_name in ORDER:
            model, _ = fit_gristmill(model_name, case, False)
            predicted = random_ties(model.predict_proba(case.test))
            rows.setdefault(model_name, []).append(metric(case.y_test, predicted, case.metric))
        for anchor in (SNORKEL_LM, SNORKEL_MV):
            if anchor in anchors.get(name, {}):
                predicted = random_ties(anchors[name][anchor]["test"])
                score = metric(case.y_test, predicted, case.metric)
                rows.setdefault(anchor, []).append(score)
    print(f"\n{title}")
    print("| model | " + " | ".join(f"{n} ({c.metric})" for n, c in cases.items()) + " | mean |")
    print("|---" * (len(cases) + 2) + "|")
    for model, scores in rows.items():
        cells = " | ".join(f"{score:.3f}" for score in scores)
        print(f"| {model} | {cells} | {np.mean(scores):.3f} |")


def train_split_cases() -> dict[str, Case]:
    """Each WRENCH dataset's train split, fit and scored on itself (the labels a user trains on)."""
    cases = {}
    for name, case in ((name, wrench_case(name)) for name in DATASETS):
        _, gold = load_split(name, "train")
        cases[f"{name} train"] = Case(case.train, case.train, gold, case.k, case.metric)
    return cases


def gold_accuracies(votes: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Each LF's accuracy on the rows it votes on (NaN for an LF that never votes)."""
    voted = votes >= 0
    right = (votes == gold[:, None]) & voted
    counts = voted.sum(axis=0)
    return np.divide(right.sum(axis=0), counts, out=np.full(counts.shape, np.nan), where=counts > 0)


def accuracy_cases(train_splits: dict[str, Case], own: dict[str, Case]) -> dict[str, Case]:
    """Real label matrices whose gold labels are known: each fit on itself (train = test)."""
    cases = dict(train_splits)
    cases.update({name: case for name, case in own.items() if case.test is case.train})
    examples = list(example_cases().values())
    every = np.concatenate([case.test for case in examples])
    gold = np.concatenate([case.y_test for case in examples])
    cases["bundled example, 5 videos"] = Case(every, every, gold, 2)
    return cases


def lf_accuracy_table(cases: dict[str, Case], anchors: dict) -> None:
    """Mean absolute error of each model's estimated LF accuracies against the gold ones."""
    rows: dict[str, list[float]] = {}
    for name, case in cases.items():
        truth = gold_accuracies(case.train, case.y_test)
        for model_name in ORDER:
            model, _ = fit_gristmill(model_name, case, False)
            rows.setdefault(model_name, []).append(np.nanmean(np.abs(model.lf_accuracies_ - truth)))
        if SNORKEL_LM in anchors.get(name, {}):
            estimate = anchors[name][SNORKEL_LM]["accuracies"]
            rows.setdefault(f"{SNORKEL_LM} (get_weights)", []).append(
                np.nanmean(np.abs(estimate - truth))
            )
    print("\nLF accuracies without gold labels: mean absolute error against each LF's accuracy")
    print("on the gold labels of the rows it votes on (lower is better); fit on all the rows")
    print("| model | " + " | ".join(cases) + " | mean |")
    print("|---" * (len(cases) + 2) + "|")
    for model, errors in rows.items():
        cells = " | ".join(f"{error:.3f}" for error in errors)
        print(f"| {model} | {cells} | {np.mean(errors):.3f} |")


def multiclass_tables(cases: dict[str, Case], anchors: dict) -> None:
    """Scores on the multiclass tables, and the error of the LF accuracy estimates there."""
    title = "Multiclass tables, rules written blind, fit and scored on all rows (no dev)"
    simple_table(title, cases, anchors)
    by_accuracy = {name: case for name, case in cases.items() if case.metric == "accuracy"}
    lf_accuracy_table(by_accuracy, anchors)


def all_cases() -> dict[str, Case]:
    """Every quality case: the WRENCH datasets and the crowdsourcing data."""
    cases = {name: wrench_case(name) for name in DATASETS}
    cases[CROWD] = crowdsourcing()
    return cases


def wide_case(n: int = 3_000, m: int = 301, k: int = 30, seed: int = 0) -> Case:
    """Keyword-style LFs over many classes: LF j votes class j % k only, firing on 30% of the
    rows of its class and 2% of the others; separate train and test draws of ``n`` rows."""
    rng = np.random.default_rng(seed)
    own = np.arange(m) % k

    def draw() -> tuple[np.ndarray, np.ndarray]:
        gold = rng.integers(0, k, n)
        rate = np.where(gold[:, None] == own[None, :], 0.3, 0.02)
        votes = np.where(rng.random((n, m)) < rate, own[None, :], -1)
        return votes, gold

    (train, _), (test, y_test) = draw(), draw()
    return Case(train, test, y_test, k)


def wide_table(workdir: Path, *, anchors: bool) -> None:
    """Fit time and accuracy with many one-class LFs over many classes (no dev).

    Snorkel runs on the first case only: on the second its (m k)^2 co-vote matrix alone would
    take 80 GB.
    """
    for n, m, k in ((3_000, 301, 30), (200_000, 1_000, 100)):
        case = wide_case(n, m, k)
        name = f"{n:,} rows, {m} keyword LFs, {k} classes"
        cases = {name: case}
        found = run_anchors(cases, workdir) if anchors and m * k < 20_000 else {}
        print(f"\n{name} (train and test draws)")
        quality_table(cases, found, with_dev=False)


def traced_peak_mib(work: Callable[[], object]) -> float:
    """Peak MiB of memory allocated (numpy included) while ``work`` runs."""
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def scale_votes(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1,000,000 x 50 binary votes (int8), gold labels and the true accuracies."""
    rng = np.random.default_rng(seed)
    n, m = 1_000_000, 50
    accuracy = rng.uniform(0.55, 0.9, m)
    coverage = rng.uniform(0.1, 0.5, m)
    gold = rng.integers(0, 2, n).astype(np.int8)
    right = rng.random((n, m), dtype=np.float32) < accuracy
    votes = np.where(right, gold[:, None], 1 - gold[:, None]).astype(np.int8)
    del right
    votes[rng.random((n, m), dtype=np.float32) >= coverage] = -1
    return votes, gold, accuracy


def bayes_optimal_accuracy(votes: np.ndarray, gold: np.ndarray, accuracy: np.ndarray) -> float:
    """Accuracy of the Bayes rule with the true accuracies (balanced classes: log-odds vote)."""
    log_odds = np.log(accuracy / (1 - accuracy)).astype(np.float32)
    margin = ((votes == 1) * log_odds).sum(axis=1) - ((votes == 0) * log_odds).sum(axis=1)
    return float(np.mean((margin > 0) == (gold == 1)))


def scale_table(workdir: Path, *, anchors: bool) -> None:
    """Fit time, accuracy and peak memory on 1,000,000 x 50 votes with known accuracies."""
    votes, gold, accuracy = scale_votes(1)
    nnz = int((votes >= 0).sum())
    print(f"\n1,000,000 x 50 binary, coverage 0.1-0.5, accuracy 0.55-0.9, {nnz:,} votes")
    print(
        f"| model | fit s (median of {SCALE_REPEATS}) | accuracy | max error of lf_accuracies_ "
        "| peak MiB of fit |"
    )
    print("|---|---|---|---|---|")
    seconds_of = {}
    for name in ("auto", "matrix_completion", "dawid_skene", "majority_vote"):
        get_label_model(name).fit(votes[:1000])  # warm-up: one-time imports and BLAS probing
        times = []
        for _ in range(SCALE_REPEATS):
            model = get_label_model(name)
            start = time.perf_counter()
            model.fit(votes)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        peak = traced_peak_mib(lambda model=model: model.fit(votes))
        acc = float(np.mean(random_ties(model.predict_proba(votes)) == gold))
        error = float(np.nanmax(np.abs(model.lf_accuracies_ - accuracy)))
        seconds_of[name] = seconds
        print(f"| {name} | {seconds:.2f} | {acc:.6f} | {error:.4f} | {peak:.0f} |")
        print(f"({name}: fits of " + ", ".join(f"{t:.2f}" for t in times) + " s)")
        if name == "auto":
            print(f"(auto: learner {model.learner_}, mixture_ {float(model.mixture_)})")
    oracle = bayes_optimal_accuracy(votes, gold, accuracy)
    print(f"| Bayes-optimal (true accuracies) | - | {oracle:.6f} | 0 | - |")
    if not anchors:
        return
    big = Case(train=votes, test=votes, y_test=gold, k=2, repeats=SCALE_REPEATS)
    found = run_anchors({"big": big}, workdir)
    if found:
        snorkel = found["big"][SNORKEL_LM]
        acc = float(np.mean(random_ties(snorkel["test"]) == gold))
        print(f"| Snorkel LabelModel | {snorkel['seconds']:.2f} | {acc:.6f} | - | - |")
        print("(Snorkel: fits of " + ", ".join(f"{t:.2f}" for t in snorkel["fits"]) + " s)")
        for name in ("auto", "matrix_completion"):
            speed_up = snorkel["seconds"] / seconds_of[name]
            print(f"speed-up of {name} over Snorkel: {speed_up:.1f}x")


def seeds_table(workdir: Path, seeds: list[int]) -> None:
    """Accuracy on 1M x 50 votes drawn with other seeds: gristmill vs Snorkel vs the Bayes rule."""
    print("\n| data seed | auto | matrix_completion | Snorkel LabelModel | Bayes-optimal |")
    print("|---|---|---|---|---|")
    for seed in seeds:
        votes, gold, accuracy = scale_votes(seed)
        cells = []
        for name in ("auto", "matrix_completion"):
            model = get_label_model(name).fit(votes)
            cells.append(float(np.mean(random_ties(model.predict_proba(votes)) == gold)))
        found = run_anchors({"seed": Case(train=votes, test=votes, y_test=gold, k=2)}, workdir)
        snorkel = found["seed"][SNORKEL_LM]["test"] if found else None
        cells.append(float("nan") if snorkel is None else np.mean(random_ties(snorkel) == gold))
        cells.append(bayes_optimal_accuracy(votes, gold, accuracy))
        print(f"| {seed} | " + " | ".join(f"{c:.6f}" for c in cells) + " |")


def main() -> None:
    assert set(ORDER) == set(LABEL_MODELS)
    use_anchors = "--no-anchors" not in sys.argv
    if "--seeds" in sys.argv:
        seeds = [int(s) for s in sys.argv[sys.argv.index("--seeds") + 1].split(",")]
        with tempfile.TemporaryDirectory() as directory:
            seeds_table(Path(directory), seeds)
        return
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        if "--scale-only" in sys.argv:
            scale_table(workdir, anchors=use_anchors)
            return
        if "--wide-only" in sys.argv:
            wide_table(workdir, anchors=use_anchors)
            return
        if "--real-only" in sys.argv:
            multiclass = multiclass_cases()
            multiclass_tables(multiclass, run_anchors(multiclass, workdir) if use_anchors else {})
            return
        cases = all_cases()
        examples = example_cases()
        train_splits = train_split_cases()
        own = {**own_lf_cases(), TABULAR: tabular_case()}
        with_gold = accuracy_cases(train_splits, own)
        multiclass = multiclass_cases()
        everything = {**cases, **examples, **train_splits, **own, **with_gold, **multiclass}
        anchors = run_anchors(everything, workdir) if use_anchors else {}
        quality_table(cases, anchors, with_dev=False)
        if "--no-dev" not in sys.argv:
            quality_table(cases, anchors, with_dev=True)
        simple_table(
            "WRENCH train splits, fit and scored on themselves (no dev)", train_splits, anchors
        )
        title = "Bundled example (YouTube comments, the example's 10 LFs), leave one video out"
        simple_table(title, examples, anchors)
        title = "Real data with LFs written for this benchmark (no dev)"
        simple_table(title, own, anchors)
        if "--no-dev" not in sys.argv:
            with_dev = {name: case for name, case in own.items() if case.dev is not None}
            quality_table(with_dev, anchors, with_dev=True)
        lf_accuracy_table(with_gold, anchors)
        multiclass_tables(multiclass, anchors)
        if "--no-scale" not in sys.argv:
            scale_table(workdir, anchors=use_anchors)


if __name__ == "__main__":
    main()
