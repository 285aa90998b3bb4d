"""Scale-out: 20 LFs + label model + probabilistic labels on Dask, 1M to 20M rows, vs Snorkel.

Synthetic comments (8 words from a 60-word vocabulary, spam and ham words more likely under their
class, a numeric ``score``) are generated partitioned on disk by the Dask workers (seeded, not
timed). Then, on a 2-worker LocalCluster (one thread each, 4 GiB memory limit):

1. ``apply_lfs_partitioned``: 10 keyword, 5 regex and 5 threshold LFs (vectorized) -> int8 parts;
2. ``fit_partitioned(LabelModel())``: vote-pattern counts per part, merged, weighted fit;
3. ``predict_proba_partitioned``: probabilities written back as parts.

Peak RSS of the client and of each worker process is sampled every 0.1 s with psutil. The anchor
is Snorkel 0.10's ``DaskLFApplier`` (the same 20 LFs as row functions), ``L.compute()`` gathered
to a dense matrix, and Snorkel's ``LabelModel`` fit + ``predict_proba`` in memory, run in
``benchmarks/.venv-anchors`` in a subprocess on its own 2-worker LocalCluster.

The pipeline path (``--pipeline-rows``) runs ``gristmill run`` with ``engine: dask`` on the same
data and cluster: a spec with the same 20 LFs as an LF module, a 20,000-row gold dev set and a
test set of a tenth of the training rows (both generated like the training data, other seeds),
an expression slice, and a logreg end model (2 trials) trained on the default sample of 100,000
covered rows. It times every stage (label, label model, probabilities + sample, train,
evaluate, report) and samples the same peak memories.

    .venv/bin/python benchmarks/scale.py [--rows 1000000 5000000 20000000] [--anchor-rows 1000000]
        [--pipeline-rows 1000000 5000000 20000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ANCHOR_PYTHON = HERE / ".venv-anchors" / "bin" / "python"
PART_ROWS = 500_000
HAM, SPAM = 0, 1

SPAM_WORDS = ["subscribe", "channel", "free", "money", "click"]
HAM_WORDS = ["song", "love", "voice", "dance", "melody"]
REGEXES = [
    (r"\bwin\w*", SPAM), (r"http\S*", SPAM), (r"\bplz\b", SPAM),
    (r"\b(great|nice)\b", HAM), (r"\bbeat\w*", HAM),
]
THRESHOLDS = [(0.9, SPAM), (0.8, SPAM), (0.7, SPAM), (0.1, HAM), (0.2, HAM)]
OTHER_WORDS = (
    "i you the a this is it and to of so my your that in for on me with just what was but "
    "all be are not like one can when who how have really more out now will time best "
    "good her his great nice beats http://x winner plz"
).split()


def generate_part(path: str, n_rows: int, seed: int) -> int:
    """Write one part of synthetic comments (runs on a worker)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    gold = (rng.random(n_rows) < 0.4).astype(np.int8)
    vocabulary = np.array(OTHER_WORDS + SPAM_WORDS + HAM_WORDS)
    n_other = len(OTHER_WORDS)
    words = rng.integers(0, n_other, (n_rows, 8))
    # Two of the eight words come from the row's class list with probability 0.35 each.
    for slot in (0, 1):
        own = rng.random(n_rows) < 0.35
        pick = rng.integers(0, 5, n_rows)
        offset = np.where(gold == SPAM, n_other, n_other + 5)
        words[:, slot * 4] = np.where(own, offset + pick, words[:, slot * 4])
    arrow_vocabulary = pa.array(vocabulary)
    columns = [pc.take(arrow_vocabulary, pa.array(words[:, j])) for j in range(8)]
    text = pc.binary_join_element_wise(*columns, " ")
    score = np.clip(0.45 + 0.25 * (gold == SPAM) - 0.15 * (gold == HAM)
                    + rng.normal(0, 0.25, n_rows), 0, 1)
    frame = pd.DataFrame({"text": text.to_pandas(), "score": score, "gold": gold})
    frame.to_parquet(path)
    return n_rows


def make_lfs() -> list[Any]:
    from gristmill.labeling import keyword_lf, regex_lf, threshold_lf

    lfs = [
        keyword_lf(w, label, case_sensitive=True, word_boundary=False, name=f"kw_{w}")
        for words, label in ((SPAM_WORDS, SPAM), (HAM_WORDS, HAM))
        for w in words
    ]
    lfs += [regex_lf(p, label, name=f"re_{i}") for i, (p, label) in enumerate(REGEXES)]
    for i, (t, label) in enumerate(THRESHOLDS):
        bound = {"lower": t} if label == SPAM else {"upper": t}
        lfs.append(threshold_lf("score", label, name=f"score_{i}", **bound))
    return lfs


class PeakMemory:
    """Samples the RSS of this process and of given worker pids in a thread; keeps the peaks."""

    def __init__(self, worker_pids: list[int]) -> None:
        import psutil

        self.client = psutil.Process()
        self.workers = [psutil.Process(pid) for pid in worker_pids]
        self.peaks = [0] * (1 + len(self.workers))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, process in enumerate([self.client, *self.workers]):
                try:
                    self.peaks[i] = max(self.peaks[i], process.memory_info().rss)
                except Exception:
                    pass
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def generate(client: Any, directory: Path, n_rows: int, seed: int = 1000) -> None:
    if (directory / "_done").exists():
        return
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    sizes = [min(PART_ROWS, n_rows - start) for start in range(0, n_rows, PART_ROWS)]
    futures = [
        client.submit(generate_part, str(directory / f"part.{i:05d}.parquet"), size, seed + i,
                      pure=False)
        for i, size in enumerate(sizes)
    ]
    client.gather(futures)
    (directory / "_done").write_text("ok")


def run_gristmill(client: Any, data: Path, work: Path, worker_pids: list[int]) -> dict[str, Any]:
    import dask.dataframe as dd
    import pandas as pd

    from gristmill.labeling import apply_lfs_partitioned
    from gristmill.labelmodel import LabelModel, fit_partitioned, predict_proba_partitioned

    shutil.rmtree(work, ignore_errors=True)
    ddf = dd.read_parquet(str(data), columns=["text", "score"])
    times = {}
    with PeakMemory(worker_pids) as memory:
        started = time.perf_counter()
        matrix = apply_lfs_partitioned(make_lfs(), ddf, work / "L", client=client)
        times["apply"] = time.perf_counter() - started
        mark = time.perf_counter()
        model = fit_partitioned(LabelModel(), matrix, client=client)
        times["fit"] = time.perf_counter() - mark
        mark = time.perf_counter()
        predict_proba_partitioned(model, matrix, work / "P", client=client)
        times["proba"] = time.perf_counter() - mark
        times["total"] = time.perf_counter() - started
    # Quality check on one part only (reading all gold labels on the client would defeat the
    # point): accuracy of the probabilistic labels on part 0.
    gold = pd.read_parquet(data / "part.00000.parquet", columns=["gold"])["gold"].to_numpy()
    proba = pd.read_parquet(work / "P" / "part.000000.parquet").to_numpy()
    accuracy = float(np.mean(proba.argmax(axis=1) == gold))
    return {
        "rows": matrix.n_rows, "parts": matrix.n_partitions, **times,
        "client_gb": memory.peaks[0] / 1e9,
        "worker_gb": [p / 1e9 for p in memory.peaks[1:]],
        "accuracy_part0": accuracy,
    }


LF_MODULE = """
from gristmill.labeling import keyword_lf, regex_lf, threshold_lf

for words, label in (({spam!r}, 1), ({ham!r}, 0)):
    for w in words:
        globals()[f"kw_{{w}}"] = keyword_lf(
            w, label, case_sensitive=True, word_boundary=False, name=f"kw_{{w}}"
        )
for i, (pattern, label) in enumerate({regexes!r}):
    globals()[f"re_{{i}}"] = regex_lf(pattern, label, name=f"re_{{i}}")
for i, (t, label) in enumerate({thresholds!r}):
    bound = {{"lower": t}} if label == 1 else {{"upper": t}}
    globals()[f"score_{{i}}"] = threshold_lf("score", label, name=f"score_{{i}}", **bound)
"""


def write_project(root: Path, train: Path, dev: Path, test: Path) -> Path:
    """A pipeline project over the generated data: the 20 LFs as a module, a dask-engine spec."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    (root / "lfs.py").write_text(LF_MODULE.format(
        spam=SPAM_WORDS, ham=HAM_WORDS, regexes=REGEXES, thresholds=THRESHOLDS))
    spec = {
        "name": "scale",
        "engine": "dask",
        "data": {"train": {"path": str(train)}, "dev": {"path": str(dev)},
                 "test": {"path": str(test)}},
        "payloads": {"text": "text", "score": "numeric"},
        "tasks": {"spam": {"kind": "binary", "classes": ["ham", "spam"], "gold": "gold",
                           "supervision": {"lfs": ["lfs.py"]}}},
        "slices": {"expressions": {"high_score": "score > 0.8"}, "discover": False},
        "model": {"candidates": ["logreg"], "budget": {"trials": 2}},
    }
    path = root / "gristmill.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_pipeline(client: Any, spec: Path, work: Path, worker_pids: list[int]) -> dict[str, Any]:
    from gristmill.pipeline import Pipeline

    shutil.rmtree(work, ignore_errors=True)
    pipeline = Pipeline.from_yaml(spec).with_engine("dask", scheduler=client.scheduler.address)
    with PeakMemory(worker_pids) as memory:
        started = time.perf_counter()
        result = pipeline.run(track=False, run_dir=work, use_cache=False)
        total = time.perf_counter() - started
    stages = {s.name: s.seconds for s in result.stages}
    test = result.metrics
    return {
        "rows": result.label_matrix.n_rows, "total": total, **stages,
        "client_gb": memory.peaks[0] / 1e9,
        "worker_gb": [p / 1e9 for p in memory.peaks[1:]],
        "test_rows": int(test["end_model"]["test"]["overall"]["n"]),
        "lm_acc": test["label_model"]["test"]["overall"]["accuracy"],
        "em_acc": test["end_model"]["test"]["overall"]["accuracy"],
    }


def pipeline_row(r: dict[str, Any]) -> str:
    workers = " / ".join(f"{w:.2f}" for w in r["worker_gb"])
    return (
        f"| {r['rows']:,} | {r['test_rows']:,} | {r['validate']:.1f} | {r['label']:.1f} | "
        f"{r['label_model']:.1f} | {r['probs']:.1f} | {r['train']:.1f} | {r['evaluate']:.1f} | "
        f"{r['total']:.1f} | {r['rows'] / r['total']:,.0f} | {r['client_gb']:.2f} | {workers} | "
        f"{r['lm_acc']:.3f} / {r['em_acc']:.3f} |"
    )


PIPELINE_HEADER = (
    "| train rows | test rows | validate s | label s | label model s | probs s | train s | "
    "evaluate s | total s | train rows/s | client GB | worker GB | test acc LM / EM |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def linear_fit(label: str, rows: list[int], seconds: list[float]) -> None:
    if len(rows) < 2:
        return
    x, y = np.array(rows, dtype=float), np.array(seconds)
    slope, intercept = np.polyfit(x, y, 1)
    print(f"\n{label} linear fit: total s = {intercept:.2f} + {slope * 1e6:.2f} s per million "
          f"rows; per-row time at the largest size / smallest: "
          f"{(y[-1] / x[-1]) / (y[0] / x[0]):.2f}")


ANCHOR_SCRIPT = r'''
import json, os, re, sys, threading, time
import numpy as np, psutil
import dask.dataframe as dd
from dask.distributed import Client, LocalCluster
from snorkel.labeling import labeling_function
from snorkel.labeling.apply.dask import DaskLFApplier
from snorkel.labeling.model import LabelModel

spec = json.loads(sys.argv[1])
# Snorkel's DaskLFApplier lets dask infer the output schema by running the LFs on a fake row
# whose text is NA or NaN with current dask, so the text LFs check for a string first.
def make_lfs():
    lfs = []
    for words, label in ((spec["spam"], 1), (spec["ham"], 0)):
        for w in words:
            lfs.append(labeling_function(name=f"kw_{w}")(
                lambda x, w=w, label=label:
                    label if isinstance(x.text, str) and w in x.text else -1))
    for i, (pattern, label) in enumerate(spec["regexes"]):
        compiled = re.compile(pattern)
        lfs.append(labeling_function(name=f"re_{i}")(
            lambda x, c=compiled, label=label:
                label if isinstance(x.text, str) and c.search(x.text) else -1))
    for i, (t, label) in enumerate(spec["thresholds"]):
        if label == 1:
            f = lambda x, t=t: 1 if x.score >= t else -1
        else:
            f = lambda x, t=t: 0 if x.score <= t else -1
        lfs.append(labeling_function(name=f"score_{i}")(f))
    return lfs

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", memory_limit="4GiB") as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        procs = [psutil.Process()] + [psutil.Process(p) for p in pids]
        peaks = [0] * len(procs)
        stop = threading.Event()
        def sample():
            while not stop.is_set():
                for i, p in enumerate(procs):
                    try:
                        peaks[i] = max(peaks[i], p.memory_info().rss)
                    except Exception:
                        pass
                stop.wait(0.1)
        thread = threading.Thread(target=sample, daemon=True); thread.start()
        files = sorted(f for f in os.listdir(spec["data"]) if f.endswith(".parquet"))
        ddf = dd.read_parquet([os.path.join(spec["data"], f) for f in files],
                              columns=["text", "score"])
        started = time.perf_counter()
        L = DaskLFApplier(make_lfs()).apply(ddf, scheduler=client)
        apply_s = time.perf_counter() - started
        mark = time.perf_counter()
        model = LabelModel(cardinality=2, verbose=False)
        model.fit(L, n_epochs=100, seed=0)
        fit_s = time.perf_counter() - mark
        mark = time.perf_counter()
        proba = model.predict_proba(L)
        proba_s = time.perf_counter() - mark
        total = time.perf_counter() - started
        stop.set(); thread.join()
        gold = dd.read_parquet(os.path.join(spec["data"], files[0]), columns=["gold"]).compute()
        acc = float(np.mean(proba[: len(gold)].argmax(1) == gold["gold"].to_numpy()))
        print(json.dumps({"rows": int(L.shape[0]), "apply": apply_s, "fit": fit_s,
                          "proba": proba_s, "total": total, "client_gb": peaks[0] / 1e9,
                          "worker_gb": [p / 1e9 for p in peaks[1:]], "accuracy_part0": acc,
                          "matrix_dtype": str(L.dtype)}))
'''


def run_snorkel(data: Path) -> dict[str, Any] | None:
    if not ANCHOR_PYTHON.exists():
        print(f"(no anchor interpreter at {ANCHOR_PYTHON}; skipping Snorkel)")
        return None
    spec = {"spam": SPAM_WORDS, "ham": HAM_WORDS, "regexes": REGEXES,
            "thresholds": THRESHOLDS, "data": str(data)}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(ANCHOR_SCRIPT)
    try:
        done = subprocess.run(
            [str(ANCHOR_PYTHON), handle.name, json.dumps(spec)], capture_output=True, text=True,
            timeout=3600,
        )
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        print("Snorkel anchor failed:\n" + done.stderr[-3000:])
        return None
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def row(name: str, r: dict[str, Any]) -> str:
    workers = " / ".join(f"{w:.2f}" for w in r["worker_gb"])
    return (
        f"| {name} | {r['rows']:,} | {r['apply']:.1f} | {r['fit']:.1f} | {r['proba']:.1f} | "
        f"{r['total']:.1f} | {r['rows'] / r['total']:,.0f} | {r['client_gb']:.2f} | {workers} | "
        f"{r['accuracy_part0']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--anchor-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--pipeline-rows", type=int, nargs="*",
                        default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "gm-scale")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from dask.distributed import Client, LocalCluster

    results: list[tuple[str, dict[str, Any]]] = []
    pipelines: list[dict[str, Any]] = []
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", memory_limit="4GiB",
    ) as cluster, Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        for n in sorted(set(args.rows) | set(args.anchor_rows)):
            data = args.workdir / f"data_{n}"
            started = time.perf_counter()
            generate(client, data, n)
            print(f"data {n:,} rows ready ({time.perf_counter() - started:.1f} s)", flush=True)
            if n in args.rows:
                result = run_gristmill(client, data, args.workdir / f"out_{n}", pids)
                results.append(("gristmill (dask)", result))
                print(row("gristmill (dask)", result), flush=True)
        if args.pipeline_rows:
            dev = args.workdir / "dev_20000"
            generate(client, dev, 20_000, seed=9000)
        for n in sorted(args.pipeline_rows):
            data, test = args.workdir / f"data_{n}", args.workdir / f"test_{n // 10}"
            generate(client, data, n)
            generate(client, test, n // 10, seed=5000)
            spec = write_project(args.workdir / f"project_{n}", data, dev, test)
            result = run_pipeline(client, spec, args.workdir / f"run_{n}", pids)
            pipelines.append(result)
            print(pipeline_row(result), flush=True)
    for n in args.anchor_rows:
        anchor = run_snorkel(args.workdir / f"data_{n}")
        if anchor is not None:
            results.append(("Snorkel DaskLFApplier + LabelModel", anchor))
            print(row("Snorkel DaskLFApplier + LabelModel", anchor), flush=True)

    if results:
        print("\n| engine | rows | LFs s | fit s | proba s | total s | rows/s | client GB | "
              "worker GB | acc (part 0) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results:
        print(row(name, r))
    ours = [r for name, r in results if name.startswith("gristmill")]
    linear_fit("LFs + label model + probabilities", [r["rows"] for r in ours],
               [r["total"] for r in ours])
    if pipelines:
        print("\ngristmill run, engine: dask (2 workers)\n" + PIPELINE_HEADER)
        for r in pipelines:
            print(pipeline_row(r))
        linear_fit("pipeline", [r["rows"] for r in pipelines], [r["total"] for r in pipelines])
    for name, r in results:
        if not name.startswith("gristmill"):
            same = [o for o in ours if o["rows"] == r["rows"]]
            if same:
                print(f"Snorkel / gristmill at {r['rows']:,} rows: total time "
                      f"{r['total'] / same[0]['total']:.1f}x, client memory "
                      f"{r['client_gb'] / same[0]['client_gb']:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
