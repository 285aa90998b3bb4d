"""Label models and label matrices at large or extreme shapes: fit seconds and peak memory.

Usage: .venv/bin/python benchmarks/label_models_scale.py   (about 7 minutes)

The shapes a demanding user reaches beyond the 1M x 50 binary table of
``benchmarks/label_models.py``: crowdsourcing with thousands of workers who each label a few
rows (a scipy.sparse matrix; over 5 classes, the Triplet and matrix completion models too, on
random rows and on tasks shared by a few workers), one-class keyword LFs by the thousand, many
classes, and the conversions and summary of a wide label matrix. Each line gives wall seconds,
the peak of memory allocated while it ran (tracemalloc, numpy included) and, for fits, the
accuracy of the predictions against the synthetic gold labels, so that a faster version can be
checked to give the same labels. To time another version of gristmill, run this file with
``PYTHONPATH=<its src folder>`` (the path of the package used is printed first).
"""

from __future__ import annotations

import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

import gristmill
from gristmill.labeling import LabelMatrix, lf_summary
from gristmill.labelmodel import get_label_model


def crowd(
    rng: np.random.Generator, *, rows: int, workers: int, votes: tuple[int, int], k: int = 2
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse votes (class + 1) of ``workers`` who each label ``votes`` random rows.

    Worker accuracies are uniform in [0.5, 0.95]; a wrong vote is the next class.
    """
    gold = rng.integers(0, k, rows)
    at_rows, at_workers, values = [], [], []
    for worker in range(workers):
        count = int(rng.integers(*votes))
        chosen = rng.choice(rows, count, replace=False)
        right = rng.random(count) < rng.uniform(0.5, 0.95)
        values.append(np.where(right, gold[chosen], (gold[chosen] + 1) % k) + 1)
        at_rows.append(chosen)
        at_workers.append(np.full(count, worker))
    matrix = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(at_rows), np.concatenate(at_workers))),
        shape=(rows, workers),
    )
    return matrix, gold


def crowd_in_tasks(
    rng: np.random.Generator, *, rows: int, workers: int, task_rows: int, per_task: int, k: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse votes (class + 1) of ``workers`` on tasks of ``task_rows`` consecutive rows, each
    task labeled by ``per_task`` distinct random workers.

    Worker accuracies are uniform in [0.5, 0.95]; a wrong vote is the next class. Workers who
    share a task co-vote on all its rows, as on crowdsourcing platforms.
    """
    gold = rng.integers(0, k, rows)
    accuracy = rng.uniform(0.5, 0.95, workers)
    tasks = -(-rows // task_rows)
    chosen = np.array([rng.choice(workers, per_task, replace=False) for _ in range(tasks)])
    at_rows = np.arange(rows)[:, None].repeat(per_task, axis=1)
    at_workers = chosen[at_rows[:, 0] // task_rows]
    right = rng.random((rows, per_task)) < accuracy[at_workers]
    truth = gold[:, None]
    values = np.where(right, truth, (truth + 1) % k) + 1
    matrix = sp.csr_matrix(
        (values.ravel(), (at_rows.ravel(), at_workers.ravel())), shape=(rows, workers)
    )
    return matrix, gold


def many_classes(
    rng: np.random.Generator, *, rows: int, sources: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dense int8 votes of ``sources`` that vote every class (coverage 0.1-0.5, accuracy
    0.55-0.9; a wrong vote is a uniformly drawn other class)."""
    gold = rng.integers(0, k, rows)
    votes = np.full((rows, sources), -1, dtype=np.int8)
    for j in range(sources):
        fires = rng.random(rows) < rng.uniform(0.1, 0.5)
        right = rng.random(rows) < rng.uniform(0.55, 0.9)
        wrong = (gold + rng.integers(1, k, rows)) % k
        votes[:, j] = np.where(fires, np.where(right, gold, wrong), -1)
    return votes, gold


def keywords(
    rng: np.random.Generator, *, rows: int, sources: int, k: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Dense int8 votes of one-class keyword-like sources that each fire on 0.05-1% of rows,
    more often on their own class (accuracy 0.5-0.9)."""
    gold = rng.integers(0, k, rows)
    votes = np.full((rows, sources), -1, dtype=np.int8)
    target = rng.integers(0, k, sources)
    for j in range(sources):
        rate, accuracy = rng.uniform(0.0005, 0.01), rng.uniform(0.5, 0.9)
        fires = np.where(
            gold == target[j], rate * accuracy * k, rate * (1 - accuracy) * k / (k - 1)
        )
        votes[rng.random(rows) < fires, j] = target[j]
    return votes, gold


def measured(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``'s result, wall seconds and peak MiB allocated while it ran."""
    tracemalloc.start()
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def fit_line(title: str, model_name: str, votes: Any, gold: np.ndarray) -> None:
    """Fit one model, then print its fit seconds, peak MiB and accuracy against ``gold``."""
    model = get_label_model(model_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, seconds, peak = measured(lambda: model.fit(votes))
    accuracy = float(np.mean(model.predict(votes, tie_break="prior") == gold))
    print(f"| {title} | {model_name} fit | {seconds:.2f} | {peak:.0f} | {accuracy:.6f} |")


def matrix_lines(votes: np.ndarray, gold: np.ndarray) -> None:
    """Time a wide label matrix's sparse conversions and its summary against gold labels."""
    title = f"{votes.shape[0]:,} x {votes.shape[1]:,} keyword LFs"
    matrix = LabelMatrix(votes, [f"kw_{j}" for j in range(votes.shape[1])])
    sparse, seconds, peak = measured(matrix.to_sparse)
    print(f"| {title} | LabelMatrix.to_sparse | {seconds:.2f} | {peak:.0f} | - |")
    _, seconds, peak = measured(lambda: LabelMatrix.from_sparse(sparse, matrix.lf_names))
    print(f"| {title} | LabelMatrix.from_sparse | {seconds:.2f} | {peak:.0f} | - |")
    _, seconds, peak = measured(lambda: lf_summary(matrix, y=gold))
    print(f"| {title} | lf_summary(y=) | {seconds:.2f} | {peak:.0f} | - |")


def main() -> None:
    print(f"gristmill from {gristmill.__file__}")
    print("| case | operation | seconds | peak MiB | accuracy |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    votes, gold = crowd(rng, rows=200_000, workers=5_000, votes=(3, 11))
    fit_line("crowd: 200,000 rows, 5,000 workers, 3-10 votes each", "auto", votes, gold)
    votes, gold = crowd(rng, rows=200_000, workers=5_000, votes=(100, 301))
    fit_line("crowd: 200,000 rows, 5,000 workers, 100-300 votes each", "auto", votes, gold)
    votes, gold = keywords(rng, rows=100_000, sources=3_000)
    fit_line("100,000 rows, 3,000 one-class keyword LFs", "auto", votes, gold)
    matrix_lines(votes[:, :2_000], gold)
    del votes
    votes, gold = many_classes(rng, rows=1_000_000, sources=50, k=20)
    title = "1,000,000 x 50, 20 classes"
    for name in ("auto", "matrix_completion"):
        fit_line(title, name, votes, gold)
    del votes
    crowd_lines()


def crowd_lines() -> None:
    """Triplet and matrix completion on crowds of 200 to 5,000 workers over 5 classes."""
    rng = np.random.default_rng(2)
    for workers in (200, 1_000, 5_000):
        votes, gold = crowd(rng, rows=200_000, workers=workers, votes=(100, 301), k=5)
        title = f"crowd, 5 classes: 200,000 rows, {workers:,} workers, 100-300 votes each"
        for name in ("triplet", "matrix_completion"):
            fit_line(title, name, votes, gold)
    for workers in (200, 1_000, 5_000):
        votes, gold = crowd_in_tasks(
            rng, rows=200_000, workers=workers, task_rows=20, per_task=5, k=5
        )
        title = f"crowd, 5 classes: 200,000 rows in tasks of 20, each by 5 of {workers:,} workers"
        for name in ("auto", "triplet", "matrix_completion"):
            fit_line(title, name, votes, gold)


if __name__ == "__main__":
    main()
