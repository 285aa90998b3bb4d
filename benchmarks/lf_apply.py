"""LF application speed: gristmill's engines versus Snorkel 0.10's PandasLFApplier.

The same 10 keyword LFs (case-insensitive substring match, as ``kw in x.text.lower()``) label the
same synthetic comments, written as gristmill row LFs, as gristmill vectorized ``keyword_lf``s,
and as Snorkel ``@labeling_function``s run in ``benchmarks/.venv-anchors`` in a subprocess. Every
matrix must equal Snorkel's. Also measured: memory of a 10,000,000 x 20 label matrix built by
``apply_lfs``, and the Dask engine on a 2-worker LocalCluster.

    .venv/bin/python benchmarks/lf_apply.py [--rows 200000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

import gristmill as gm

HERE = Path(__file__).resolve().parent
ANCHOR_PYTHON = HERE / ".venv-anchors" / "bin" / "python"
HAM, SPAM = 0, 1

# name, keywords, class: the same definitions are sent to the Snorkel subprocess.
KEYWORD_LFS = [
    ("kw_check_out", ["check out"], SPAM),
    ("kw_my_channel", ["my channel"], SPAM),
    ("kw_subscribe", ["subscribe"], SPAM),
    ("kw_link", ["http", "www"], SPAM),
    ("kw_please", ["please", "plz"], SPAM),
    ("kw_money", ["free", "money"], SPAM),
    ("kw_views", ["views"], SPAM),
    ("kw_song", ["song"], HAM),
    ("kw_love", ["love"], HAM),
    ("kw_voice", ["voice", "beautiful"], HAM),
]

COMMON = (
    "i you the a this is it and to of so my your that in for on me with just what was but "
    "all be are not like one love can when who how have really more out now will time best "
    "great good her his she he we they its still every day year ever never much people here"
).split()
MUSIC = (
    "song songs video music voice beautiful dance beat lyrics album singer amazing awesome "
    "favorite catchy chorus melody listening listen played playing hit views billion"
).split()
SPAMMY = [
    "check out my channel", "subscribe", "please subscribe", "plz", "free", "money",
    "http://bit.ly/x1", "www.example.com", "my channel", "visit", "click", "earn", "views",
]

SNORKEL_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
from snorkel.labeling import PandasLFApplier, labeling_function
data_path, out_path, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
frame = pd.read_parquet(data_path)

def make(name, keywords, label):
    @labeling_function(name=name)
    def lf(x):
        text = x.text.lower()
        return label if any(k in text for k in keywords) else -1
    return lf

lfs = [make(*item) for item in spec]
start, start_cpu = time.perf_counter(), time.process_time()
L = PandasLFApplier(lfs).apply(frame, progress_bar=False)
elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
np.save(out_path, L)
print(json.dumps({"seconds": elapsed, "cpu": cpu}))
"""


def synthetic_comments(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Comment-like text: Zipf-distributed common words, music words and spam phrases."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array(COMMON + MUSIC)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 0.8
    weights /= weights.sum()
    lengths = np.clip(rng.lognormal(2.3, 0.6, n_rows).astype(int), 1, 60)
    words = rng.choice(vocabulary, size=int(lengths.sum()), p=weights)
    spam_rows = rng.random(n_rows) < 0.45
    phrases = rng.choice(np.array(SPAMMY, dtype=object), size=n_rows)
    texts, start = [], 0
    for i, length in enumerate(lengths):
        parts = list(words[start : start + length])
        start += length
        if spam_rows[i]:
            parts.insert(int(rng.integers(0, len(parts) + 1)), phrases[i])
        text = " ".join(parts)
        shout = rng.random()
        text = text.upper() if shout < 0.05 else text.capitalize() if shout < 0.6 else text
        texts.append(text + ("!" * int(rng.integers(0, 3))))
    return pd.DataFrame({"text": pd.array(texts, dtype="str")})


def row_lfs() -> list[gm.LabelingFunction]:
    def make(name: str, keywords: list[str], label: int) -> gm.LabelingFunction:
        def vote(x):
            text = x.text.lower()
            return label if any(k in text for k in keywords) else -1

        return gm.labeling_function(name=name)(vote)

    return [make(*item) for item in KEYWORD_LFS]


def vectorized_lfs() -> list[gm.LabelingFunction]:
    return [
        gm.keyword_lf(keywords, label, word_boundary=False, name=name)
        for name, keywords, label in KEYWORD_LFS
    ]


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (forked workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, repeat: int = 1):
    """Best wall time over ``repeat`` runs, CPU seconds of that run, and the result."""
    best, cpu, result = float("inf"), float("nan"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = function()
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, cpu = elapsed, cpu_seconds() - start_cpu
    return best, cpu, result


def run_snorkel(frame: pd.DataFrame) -> tuple[float | None, float, np.ndarray | None, str]:
    if not ANCHOR_PYTHON.exists():
        return None, float("nan"), None, "benchmarks/.venv-anchors missing: run `make bench-env`"
    with tempfile.TemporaryDirectory() as tmp:
        data_path, out_path = Path(tmp) / "data.parquet", Path(tmp) / "L.npy"
        frame.to_parquet(data_path)
        spec = json.dumps(KEYWORD_LFS)
        done = subprocess.run(
            [str(ANCHOR_PYTHON), "-c", SNORKEL_SCRIPT, str(data_path), str(out_path), spec],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            return None, float("nan"), None, f"Snorkel run failed: {done.stderr.strip()[-500:]}"
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        return timing["seconds"], timing["cpu"], np.load(out_path), "snorkel 0.10.0"


def measure_matrix_memory(n_rows: int = 10_000_000, n_lfs: int = 20) -> dict[str, float]:
    """Build a n_rows x n_lfs matrix with apply_lfs and trace the memory it allocates."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"score": rng.random(n_rows, dtype=np.float32)})
    lfs = [
        gm.threshold_lf("score", j % 3, lower=j / n_lfs, upper=j / n_lfs + 0.3, name=f"t{j}")
        for j in range(n_lfs)
    ]
    tracemalloc.start()
    start = time.perf_counter()
    matrix = gm.apply_lfs(lfs, frame, engine="pandas", progress=False)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": n_rows,
        "lfs": n_lfs,
        "dtype": str(matrix.values.dtype),
        "matrix_mb": matrix.nbytes / 1e6,
        "peak_mb": peak / 1e6,
        "seconds": seconds,
    }


def run_dask(frame: pd.DataFrame, lfs: list[gm.LabelingFunction]) -> tuple[float, gm.LabelMatrix]:
    from dask.distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster, Client(cluster) as client:
        gm.apply_lfs(lfs, frame.iloc[:2_000], engine="dask", client=client, progress=False)
        seconds, _, matrix = timed(
            lambda: gm.apply_lfs(lfs, frame, engine="dask", client=client, progress=False)
        )
        return seconds, matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    frame = synthetic_comments(args.rows)
    n = len(frame)
    print(f"{n:,} synthetic comments, 10 keyword LFs; cores: {len(os.sched_getaffinity(0))}; "
          f"load average {os.getloadavg()[0]:.1f} (shared machine: timings are noisy)")

    snorkel_s, snorkel_cpu, snorkel_L, snorkel_note = run_snorkel(frame)
    rows = row_lfs()
    vectors = vectorized_lfs()
    results: list[tuple[str, float, float, gm.LabelMatrix]] = []
    runs = [
        ("gristmill row LFs, in-process", lambda: gm.apply_lfs(rows, frame, engine="pandas",
                                                               progress=False), 1),
        ("gristmill row LFs, processes", lambda: gm.apply_lfs(rows, frame, engine="processes",
                                                              progress=False), 1),
        ("gristmill vectorized keyword_lf", lambda: gm.apply_lfs(vectors, frame, engine="pandas",
                                                                 progress=False), 3),
    ]
    for label, run, repeat in runs:
        results.append((label, *timed(run, repeat)))
    for label, lfs in (("vectorized", vectors), ("row LFs", rows)):
        seconds, L = run_dask(frame, lfs)
        results.append((f"gristmill {label}, dask 2 workers", seconds, float("nan"), L))

    reference = results[0][3].values
    print()
    print(f"{'engine':40s} {'seconds':>9s} {'CPU s':>7s} {'rows/s':>12s} {'vs Snorkel':>11s} "
          f"{'identical':>10s} {'CPU vs Snorkel':>15s}")
    if snorkel_s is not None:
        print(f"{'snorkel PandasLFApplier':40s} {snorkel_s:9.3f} {snorkel_cpu:7.2f} "
              f"{n / snorkel_s:12,.0f} {1.0:10.2f}x {'(anchor)':>10s}")
    else:
        print(f"snorkel: {snorkel_note}")
    for label, seconds, cpu, L in results:
        ratio = f"{snorkel_s / seconds:10.2f}x" if snorkel_s else "n/a"
        same = snorkel_L if snorkel_L is not None else reference
        identical = np.array_equal(L.values, same)
        cpu_text = "n/a" if np.isnan(cpu) else f"{cpu:.2f}"
        cpu_ratio = "n/a" if np.isnan(cpu) or not snorkel_s else f"{snorkel_cpu / cpu:14.2f}x"
        print(f"{label:40s} {seconds:9.3f} {cpu_text:>7s} {n / seconds:12,.0f} {ratio:>11s} "
              f"{str(identical):>10s} {cpu_ratio:>15s}")
    if snorkel_L is not None:
        print(f"\nall matrices equal Snorkel's: "
              f"{all(np.array_equal(L.values, snorkel_L) for *_, L in results)}")

    if not args.skip_memory:
        memory = measure_matrix_memory()
        print(
            f"\nlabel matrix {memory['rows']:,} x {memory['lfs']} ({memory['dtype']}): "
            f"{memory['matrix_mb']:.0f} MB held (target <= 250 MB); "
            f"peak traced during apply_lfs {memory['peak_mb']:.0f} MB; "
            f"built in {memory['seconds']:.1f} s"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
