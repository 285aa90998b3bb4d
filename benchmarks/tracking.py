"""Tracking overhead of `gristmill run` on the spam example, and warm model load + prediction.

Runs the bundled YouTube-spam example (src/gristmill/examples/spam) with the CLI, alternating
``--no-track`` and tracked runs (``--no-cache`` both ways) in one session, and then times
loading the registered model by alias plus one prediction in a fresh process.

    .venv/bin/python benchmarks/tracking.py [--rounds 3]

Targets (issue 7): tracking adds < 3 s per run; load by alias + one prediction < 0.5 s warm.
There is no anchor for this benchmark: the comparison is gristmill with vs without tracking.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "src" / "gristmill" / "examples" / "spam"
BIN = Path(sys.executable).parent

LOAD_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from gristmill.tracking import load_bundle
import mlflow.pyfunc
ref, project = sys.argv[1], sys.argv[2]
t1 = time.perf_counter()
bundle = load_bundle(ref, project_dir=project)
row = bundle.reference.head(1)
bundle.predict(row)
cold = time.perf_counter() - t1
warm_bundle, warm_pyfunc = [], []
name, alias = ref.split("@")
for _ in range(7):
    t = time.perf_counter()
    load_bundle(ref, project_dir=project).predict(row)
    warm_bundle.append(time.perf_counter() - t)
    t = time.perf_counter()
    mlflow.pyfunc.load_model(f"models:/{name}@{alias}").predict(row)
    warm_pyfunc.append(time.perf_counter() - t)
print(json.dumps({"import": t1 - t0, "cold": cold, "bundle": warm_bundle, "pyfunc": warm_pyfunc}))
"""


def run_cli(project: Path, track: bool) -> float:
    args = [str(BIN / "gristmill"), "run", "gristmill.yaml", "--no-cache"]
    if not track:
        args.append("--no-track")
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"`{' '.join(args)}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    workdir = Path(tempfile.mkdtemp(prefix="gristmill-bench-tracking-"))
    project = workdir / "spam"
    shutil.copytree(EXAMPLE, project)
    name = "youtube-spam"

    rows: list[tuple[int, str, float]] = []
    for round_ in range(args.rounds):
        # Alternate the order so drift in machine load does not favour one mode.
        for track in (False, True) if round_ % 2 == 0 else (True, False):
            rows.append((round_, "tracked" if track else "--no-track", run_cli(project, track)))
            print(f"round {round_}: {rows[-1][1]:<10} {rows[-1][2]:6.2f} s", flush=True)

    load = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, f"{name}@challenger", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    timings = json.loads(load.stdout.strip().splitlines()[-1])

    print()
    print("| round | --no-track (s) | tracked (s) | added (s) | note |")
    print("|---|---|---|---|---|")
    added = []
    for round_ in range(args.rounds):
        plain = next(t for r, m, t in rows if r == round_ and m == "--no-track")
        tracked = next(t for r, m, t in rows if r == round_ and m == "tracked")
        added.append(tracked - plain)
        note = "first tracked run creates mlflow.db" if round_ == 0 else ""
        print(f"| {round_} | {plain:.2f} | {tracked:.2f} | {tracked - plain:+.2f} | {note} |")
    later = added[1:] or added
    print(
        f"\nmedian added by tracking: {statistics.median(added):+.2f} s over all rounds, "
        f"{statistics.median(later):+.2f} s excluding the store-creating first round "
        "(target < 3 s)"
    )
    print()
    print("| model load by alias + 1 prediction | seconds |")
    print("|---|---|")
    once = timings["import"]
    print(f"| import gristmill.tracking + mlflow.pyfunc (once per process) | {once:.2f} |")
    print(f"| cold: first load_bundle + predict in a process | {timings['cold']:.3f} |")
    print(
        f"| warm: load_bundle + predict, median of 7 | {statistics.median(timings['bundle']):.3f} |"
    )
    print(
        f"| warm: mlflow.pyfunc.load_model(models:/…@challenger) + predict, median of 7 "
        f"| {statistics.median(timings['pyfunc']):.3f} |"
    )
    print("\n(target: warm load by alias + one prediction < 0.5 s)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
