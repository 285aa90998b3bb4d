"""Data repair benchmark: gristmill.cleaning on hospital and flights, beside the floors.

Run from the repository root::

    .venv/bin/python benchmarks/clean.py            # hospital + flights (about a minute)
    .venv/bin/python benchmarks/clean.py --scale    # also the synthetic 1,000,000 x 10 table
    .venv/bin/python benchmarks/clean.py --scale-only --engine dask   # synthetic tables on Dask
    .venv/bin/python benchmarks/clean.py --wide     # only: 1,000 rows x 25/50/100 columns
    .venv/bin/python benchmarks/clean.py --long     # only: hospital replicated to 20k/100k rows

``--engine dask`` writes the synthetic dirty table as Parquet parts, reads them as a Dask
DataFrame on a ``LocalCluster`` (``--workers`` processes, one thread each) and repairs it with
``Cleaner(engine="dask")``; peak memory is reported for the client and each worker (RSS
sampled every 0.2 s).

Rows printed per dataset:

- ``fd-majority`` (floor, implemented here): per functional dependency of the constraint file,
  every cell of a conflicting group is set to the group's most frequent value;
- ``gristmill constraints``: ``Cleaner`` with the constraint file only (no ground truth);
- ``gristmill 20 examples``: 20 random rows of the clean table given as corrected examples, mean
  over seeds, scored on the other rows;
- ``Raha->Baran 20 tuples`` (with ``--raha``): raha 1.26 from ``benchmarks/.venv-raha``
  (``benchmarks/raha_anchor.py`` in a subprocess) labelling the same 20 rows per seed, scored
  the same way. Without ``--raha`` the issue's Raha->Baran numbers are printed.

Scores follow Raha/Baran (precision = correct changes / changed cells, recall = correct changes /
erroneous cells), cells aligned by position after html-unescape / whitespace normalisation.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gristmill.cleaning import (
    Cleaner,
    detect_errors,
    evaluate,
    parse_constraints,
    read_constraints,
)
from gristmill.io import read_table

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cleaning"
SEEDS = (0, 1, 2)
FLOORS = {  # from the issue: Raha->Baran end to end with 20 labelled tuples
    "hospital": "Raha->Baran 0.79 in 128 s",
    "flights": "Raha->Baran 0.684 (third-party report)",
}


def fd_majority(dirty: pd.DataFrame, constraints: object) -> pd.DataFrame:
    """The floor: majority vote inside each FD group that holds conflicting values."""
    repaired = dirty.copy()
    for fd in constraints.all_fds():  # type: ignore[attr-defined]
        keyed = repaired[[*fd.lhs, fd.rhs]].dropna(subset=list(fd.lhs))
        mode = keyed.groupby(list(fd.lhs))[fd.rhs].agg(
            lambda v: v.value_counts().index[0] if v.notna().any() else pd.NA
        )
        conflict = keyed.groupby(list(fd.lhs))[fd.rhs].transform("nunique") > 1
        rows = keyed.index[conflict.to_numpy()]
        majority = keyed.loc[rows, list(fd.lhs)].merge(
            mode.rename("__mode").reset_index(), on=list(fd.lhs), how="left"
        )["__mode"]
        repaired.loc[rows, fd.rhs] = majority.to_numpy()
    return repaired


RAHA_PYTHON = Path(__file__).resolve().parent / ".venv-raha" / "bin" / "python"


def picked_rows(n_rows: int, seed: int) -> np.ndarray:
    """The 20 rows given as corrected examples (to gristmill and to Raha->Baran) for a seed."""
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=20, replace=False))


def run_raha(name: str, dirty: pd.DataFrame, clean: pd.DataFrame) -> dict[str, object]:
    """Raha->Baran labelling the same 20 rows per seed, in its own venv (see raha_anchor.py)."""
    import json
    import tempfile

    scores, times = [], []
    for seed in SEEDS:
        picked = picked_rows(len(dirty), seed)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "repaired.csv"
            done = subprocess.run(
                [
                    str(RAHA_PYTHON),
                    str(Path(__file__).with_name("raha_anchor.py")),
                    str(DATA / name),
                    str(out),
                    "--rows",
                    ",".join(str(r) for r in picked),
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=folder,
            )
            times.append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
            repaired = read_table(out, as_strings=True)
        repaired.columns = dirty.columns
        others = np.setdiff1d(np.arange(len(dirty)), picked)
        scores.append(evaluate(dirty.iloc[others], repaired.iloc[others], clean.iloc[others]))
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    row = _row(name, f"Raha->Baran 20 tuples (mean of {len(SEEDS)} seeds)", mean, np.mean(times))
    row["note"] = "F1 per seed " + ", ".join(f"{s['repair_f1']:.3f}" for s in scores)
    return row


def run_dataset(name: str, raha: bool = False) -> list[dict[str, object]]:
    folder = DATA / name
    dirty = read_table(folder / "dirty.csv", as_strings=True)
    clean = read_table(folder / "clean.csv", as_strings=True)
    constraints = read_constraints(folder / "constraints.txt")
    rows: list[dict[str, object]] = []

    start = time.perf_counter()
    floor = fd_majority(dirty, constraints)
    rows.append(
        _row(
            name, "fd-majority (floor)", evaluate(dirty, floor, clean), time.perf_counter() - start
        )
    )

    start, cpu = time.perf_counter(), time.process_time()
    cleaner = Cleaner(constraints=constraints).fit(dirty)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    row = _row(name, "gristmill constraints", evaluate(dirty, cleaner.repaired_, clean), seconds)
    row["cpu seconds"] = cpu
    rows.append(row)

    scores, times, cpus = [], [], []
    for seed in SEEDS:
        picked = picked_rows(len(dirty), seed)
        examples = clean.iloc[picked].copy()
        examples.columns = dirty.columns
        examples.insert(0, "_row", picked)
        start, cpu = time.perf_counter(), time.process_time()
        fitted = Cleaner(constraints=constraints).fit(dirty, examples=examples)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        others = np.setdiff1d(np.arange(len(dirty)), picked)
        scores.append(
            evaluate(dirty.iloc[others], fitted.repaired_.iloc[others], clean.iloc[others])
        )
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    row = _row(
        name, f"gristmill 20 examples (mean of {len(SEEDS)} seeds)", mean, float(np.mean(times))
    )
    row["cpu seconds"] = float(np.mean(cpus))
    row["note"] = "F1 per seed " + ", ".join(f"{s['repair_f1']:.3f}" for s in scores)
    rows.append(row)
    if raha:
        rows.append(run_raha(name, dirty, clean))
    else:
        rows.append({"dataset": name, "method": "anchor", "note": FLOORS[name]})
    return rows


def _row(dataset: str, method: str, scores: dict[str, float], seconds: float) -> dict[str, object]:
    return {
        "dataset": dataset,
        "method": method,
        "det P": scores["detection_precision"],
        "det R": scores["detection_recall"],
        "det F1": scores["detection_f1"],
        "rep P": scores["repair_precision"],
        "rep R": scores["repair_recall"],
        "rep F1": scores["repair_f1"],
        "seconds": seconds,
    }


def synthetic(
    n_rows: int, seed: int = 0, rate: float = 0.02
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """n x 10 table: an entity key with 4 dependent columns, a second key with 2, 3 free columns."""
    rng = np.random.default_rng(seed)
    n_entities, n_regions = max(n_rows // 20, 10), 500
    entity = rng.integers(0, n_entities, size=n_rows)
    region = rng.integers(0, n_regions, size=n_rows)
    cols = {
        "entity": pd.Series(entity).map(lambda e: f"e{e:07d}"),
        "name": pd.Series(entity).map(lambda e: f"name {e * 7919 % 1_000_003:07d}"),
        "city": pd.Series(entity % 4000).map(lambda c: f"city{c:04d}"),
        "phone": pd.Series(entity).map(lambda e: f"{(e * 104729) % 10**10:010d}"),
        "type": pd.Series(entity % 7).map(lambda t: f"type-{t}"),
        "region": pd.Series(region).map(lambda r: f"r{r:03d}"),
        "state": pd.Series(region % 50).map(lambda s: f"s{s:02d}"),
        "tax": pd.Series(region % 13).map(lambda s: f"{s / 10:.1f}%"),
        "score": pd.Series(rng.integers(0, 1000, size=n_rows)).astype(str),
        "day": pd.Series(rng.integers(1, 29, size=n_rows)).map(lambda d: f"2024-01-{d:02d}"),
    }
    clean = pd.DataFrame(cols).astype("string")
    dirty = clean.copy()
    for col in ("name", "city", "phone", "type", "state", "tax"):
        hit = np.flatnonzero(rng.random(n_rows) < rate)
        values = dirty[col].to_numpy(dtype=object)
        pos = rng.integers(0, 4, size=len(hit))
        values[hit] = [v[:p] + "x" + v[p + 1 :] for v, p in zip(values[hit], pos, strict=True)]
        dirty[col] = pd.array(values, dtype="string")
    fds = ["entity -> name, city, phone, type", "region -> state, tax"]
    return dirty, clean, fds


def run_scale(n_rows: int, engine: str = "pandas", workers: int = 2) -> dict[str, object]:
    """Repair the synthetic table in this process; report wall time and peak memory."""
    dirty, clean, fds = synthetic(n_rows)
    worker_peaks: list[float] = []
    worker_cpu = 0.0
    if engine == "dask":
        cleaner, seconds, cpu_seconds, worker_peaks, worker_cpu = _repair_on_dask(
            dirty, fds, workers
        )
    else:
        start, cpu_start = time.perf_counter(), time.process_time()
        cleaner = Cleaner(constraints=fds).fit(dirty)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    scores = (
        evaluate(dirty, cleaner.repaired_, clean)
        if n_rows <= 200_000
        else _fast_scores(dirty, cleaner.repaired_, clean)
    )
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out = _row(f"synthetic {n_rows:,} x 10", f"gristmill FDs ({engine})", scores, seconds)
    out["cpu seconds"] = cpu_seconds
    out["peak GB"] = peak_gb
    if worker_peaks:
        out["worker cpu seconds"] = worker_cpu
        out["peak GB"] = f"client {peak_gb:.2f}, workers " + ", ".join(
            f"{w:.2f}" for w in worker_peaks
        )
    return out


def _repair_on_dask(
    dirty: pd.DataFrame, fds: list[str], workers: int
) -> tuple[Cleaner, float, float, list[float], float]:
    """Write ``dirty`` as Parquet parts, read them on a LocalCluster, repair with Dask.

    Returns the cleaner, wall and client CPU seconds, each worker's peak RSS (GB) and the
    workers' CPU seconds.
    """
    import tempfile
    import threading

    import dask.dataframe as dd
    import psutil
    from dask.distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as folder:
        for i, start in enumerate(range(0, len(dirty), 250_000)):
            part = dirty.iloc[start : start + 250_000]
            part.to_parquet(Path(folder) / f"part-{i:04d}.parquet", index=False)
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
            Client(cluster) as client,
        ):
            peaks: dict[str, float] = {}
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    rss = client.run(lambda: psutil.Process().memory_info().rss)
                    for name, value in rss.items():
                        peaks[name] = max(peaks.get(name, 0.0), value / 1024**3)
                    done.wait(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()

            def cpu() -> float:
                return float(sum(psutil.Process().cpu_times()[:2]))

            worker_start = sum(client.run(cpu).values())
            start, cpu_start = time.perf_counter(), time.process_time()
            table = dd.read_parquet(folder)
            cleaner = Cleaner(constraints=fds, engine="dask").fit(table)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            worker_cpu = sum(client.run(cpu).values()) - worker_start
            done.set()
            sampler.join()
    return cleaner, seconds, cpu_seconds, [peaks[k] for k in sorted(peaks)], worker_cpu


def _fast_scores(
    dirty: pd.DataFrame, repaired: pd.DataFrame, clean: pd.DataFrame
) -> dict[str, float]:
    """Exact scores without the per-cell html normalisation (synthetic values need none)."""
    d, r, c = (t.fillna("").to_numpy(dtype=object) for t in (dirty, repaired, clean))
    err, changed = d != c, r != d
    right = int((changed & (r == c)).sum())
    detect = int((changed & err).sum())
    p_d, r_d = detect / max(changed.sum(), 1), detect / max(err.sum(), 1)
    p_r, r_r = right / max(changed.sum(), 1), right / max(err.sum(), 1)
    return {
        "detection_precision": p_d,
        "detection_recall": r_d,
        "detection_f1": _f1(p_d, r_d),
        "repair_precision": p_r,
        "repair_recall": r_r,
        "repair_f1": _f1(p_r, r_r),
    }


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def print_table(rows: list[dict[str, object]]) -> None:
    frame = pd.DataFrame(rows).astype(object).fillna("")
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60
    ):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def run_wide(columns: int, seed: int = 0) -> dict[str, object]:
    """Seconds of error detection and of a whole ``Cleaner().fit`` on a wide synthetic table.

    1,000 rows of ``columns`` categorical columns that all follow one hidden key (each column a
    function of it, one time in two shifted by one), so every pair of columns co-occurs: the
    weak co-occurrence detector compares all of them, columns x (columns - 1) pairs.
    """
    rng = np.random.default_rng(seed)
    n = 1_000
    key = rng.integers(0, 8, n)
    frame = pd.DataFrame(
        {
            f"c{j}": ((key * (j % 3 + 1) + rng.integers(0, 2, n)) % (5 + j % 7)).astype(str)
            for j in range(columns)
        }
    )
    started = time.perf_counter()
    flagged = detect_errors(frame)
    detect_s = time.perf_counter() - started
    started = time.perf_counter()
    Cleaner().fit(frame)
    return {
        "columns": columns,
        "cells flagged": len(flagged),
        "detect_errors s": round(detect_s, 2),
        "Cleaner().fit s": round(time.perf_counter() - started, 2),
    }


def long_hospital(n_rows: int) -> pd.DataFrame:
    """The dirty hospital table repeated to ``n_rows`` rows, each copy its own hospitals.

    The entity columns of copy b get the suffix ``-b``, so the copies do not pool their
    evidence and every functional dependency holds within a copy as in the original.
    """
    base = read_table(DATA / "hospital" / "dirty.csv", as_strings=True)
    copies = []
    for copy in range(-(-n_rows // len(base))):
        block = base.copy()
        for column in ("ProviderNumber", "HospitalName", "Address1", "PhoneNumber", "ZipCode"):
            block[column] = block[column] + f"-{copy}"
        block["index"] = (block["index"].astype(int) + copy * len(base)).astype(str)
        copies.append(block)
    return pd.concat(copies, ignore_index=True).iloc[:n_rows].reset_index(drop=True)


# Denial constraints over pairs of rows that are not functional dependencies: a join per
# group of equal keys, compared by order.
_PAIR_DCS = (
    "t1&t2&EQ(t1.State,t2.State)&LT(t1.Score,t2.Score)&GT(t1.Sample,t2.Sample)\n"
    "t1&t2&EQ(t1.MeasureCode,t2.MeasureCode)&IQ(t1.Condition,t2.Condition)&EQ(t1.City,t2.City)"
)


def run_long(rules: str, n_rows: int) -> dict[str, object]:
    """Seconds (wall and CPU) and peak RSS of a repair of the hospital table made long.

    ``rules`` is ``"hospital constraints"`` (its constraint file) or ``"two pair DCs"``
    (:data:`_PAIR_DCS`, whose joins grow with the square of a State's rows); the table is
    :func:`long_hospital` of ``n_rows``. Peak RSS is the process's so far (it only grows).
    """
    frame = long_hospital(n_rows)
    if rules == "hospital constraints":
        constraints = read_constraints(DATA / "hospital" / "constraints.txt")
    else:
        constraints = parse_constraints(_PAIR_DCS)
    started, cpu = time.perf_counter(), time.process_time()
    cleaner = Cleaner(constraints=constraints).fit(frame)
    return {
        "rows": n_rows,
        "rules": rules,
        "wall s": round(time.perf_counter() - started, 1),
        "CPU s": round(time.process_time() - cpu, 1),
        "peak RSS GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "cells flagged": len(cleaner.detections_),
        "repairs": len(cleaner.repairs_),
    }


# (rules, rows) of --long: the pair DCs' joins grow quadratically, so they stop at 20,000 rows.
_LONG_CASES = (
    ("hospital constraints", 20_000),
    ("hospital constraints", 100_000),
    ("two pair DCs", 5_000),
    ("two pair DCs", 20_000),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wide", action="store_true", help="only the wide-table timings")
    parser.add_argument("--long", action="store_true", help="only the long-table timings")
    parser.add_argument(
        "--long-case",
        action="append",
        help="with --long, run only RULES:ROWS (e.g. 'two pair DCs:5000'); repeatable",
    )
    parser.add_argument("--scale", action="store_true", help="also repair 1,000,000 x 10")
    parser.add_argument("--scale-only", action="store_true", help="only the synthetic tables")
    parser.add_argument(
        "--raha", action="store_true", help="also run Raha->Baran (benchmarks/.venv-raha)"
    )
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["pandas", "dask"], default="pandas")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--_scale-worker", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._scale_worker:
        result = run_scale(args._scale_worker, args.engine, args.workers)
        print(pd.DataFrame([result]).to_json(orient="records"))
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(f"machine: {os.cpu_count()} cores shared with other jobs; wall times are noisy\n")
    if args.wide:
        print(pd.DataFrame([run_wide(c) for c in (25, 50, 100)]).to_string(index=False))
        return
    if args.long:
        cases = _LONG_CASES
        if args.long_case:
            cases = tuple((rules, int(n)) for rules, n in (c.split(":") for c in args.long_case))
        for rules, n_rows in cases:  # one line each as it finishes: the slow ones take minutes
            print(pd.DataFrame([run_long(rules, n_rows)]).to_string(index=False), flush=True)
        return
    if not args.scale_only:
        rows = run_dataset("hospital", args.raha) + run_dataset("flights", args.raha)
        print_table(rows)
    if args.scale or args.scale_only:
        sizes = sorted({100_000, args.scale_rows})
        scale_rows = []
        for n in sizes:
            # A fresh process per size, so the peak memory is that of one repair.
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--_scale-worker",
                    str(n),
                    "--engine",
                    args.engine,
                    "--workers",
                    str(args.workers),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            last = out.stdout.strip().splitlines()[-1]
            scale_rows += pd.read_json(io.StringIO(last)).to_dict("records")
        print()
        print_table(scale_rows)


if __name__ == "__main__":
    main()
