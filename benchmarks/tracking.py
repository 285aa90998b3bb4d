"""Tracking overhead of `gristmill run` on the spam example, and warm model load + prediction.

Runs the bundled YouTube-spam example (src/gristmill/examples/spam) with the CLI, alternating
``--no-track`` and tracked runs (``--no-cache`` both ways) in one session (wall and CPU seconds
of each process), then times each tracker hook inside tracked runs in fresh processes (how long
the pipeline waits in each), and then loading the registered model by alias plus one prediction.

    .venv/bin/python benchmarks/tracking.py [--rounds 3] [--phases 3]

Wall times depend on what else runs on the machine; the CPU seconds and the time spent waiting in
the hooks less so.

Targets (issue 7): tracking adds < 3 s per run; load by alias + one prediction < 0.5 s warm.
There is no anchor for this benchmark: the comparison is gristmill with vs without tracking.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

PHASE_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from gristmill.pipeline import Pipeline
from gristmill.tracking import RunTracker
waited = {}
def timed(name, into):
    original = getattr(RunTracker, name)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - start
    setattr(RunTracker, name, wrapper)
for hook in ("check", "start", "log_trial", "finish"):
    timed(hook, waited)
t = time.perf_counter()
Pipeline.from_yaml(Path(sys.argv[1]) / "gristmill.yaml").run(track=True, use_cache=False)
print(json.dumps({"run": time.perf_counter() - t, "waited": waited}))
"""


def run_cli(project: Path, track: bool) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and its children) of one run."""
    args = [str(BIN / "gristmill"), "run", "gristmill.yaml", "--no-cache"]
    if not track:
        args.append("--no-track")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"`{' '.join(args)}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def run_phases(project: Path, count: int) -> None:
    """Time the tracker hooks in ``count`` tracked runs, each in a fresh process."""
    found = []
    for _ in range(count):
        proc = subprocess.run(
            [sys.executable, "-c", PHASE_SCRIPT, str(project)],
            capture_output=True,
            text=True,
            check=True,
        )
        found.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    def median(group: str, name: str) -> float:
        return statistics.median(r[group].get(name, 0.0) for r in found)

    rows = [
        ("check(): store reachable", median("waited", "check")),
        ("start(): import MLflow, open store, run, params, spec", median("waited", "start")),
        ("log_trial(), all trials", median("waited", "log_trial")),
        ("finish(): datasets, artifacts, model, registration", median("waited", "finish")),
        ("**total in tracker hooks**", statistics.median(sum(r["waited"].values()) for r in found)),
        ("whole tracked run in-process", statistics.median(r["run"] for r in found)),
    ]
    print(f"\n| tracker phase (median of {count} fresh processes) | seconds |")
    print("|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


def print_cli_table(rows: list[tuple[int, str, float, float]], rounds: int) -> None:
    """Print wall and CPU seconds per round and the median time tracking adds."""
    print()
    print("| round | --no-track (s) | tracked (s) | added (s) | CPU plain / tracked (s) | note |")
    print("|---|---|---|---|---|---|")
    added, added_cpu = [], []
    for round_ in range(rounds):
        plain, plain_cpu = next((w, c) for r, m, w, c in rows if r == round_ and m == "--no-track")
        tracked, tracked_cpu = next((w, c) for r, m, w, c in rows if r == round_ and m == "tracked")
        added.append(tracked - plain)
        added_cpu.append(tracked_cpu - plain_cpu)
        note = "first tracked run creates mlflow.db" if round_ == 0 else ""
        print(
            f"| {round_} | {plain:.2f} | {tracked:.2f} | {tracked - plain:+.2f} "
            f"| {plain_cpu:.2f} / {tracked_cpu:.2f} | {note} |"
        )
    later, later_cpu = added[1:] or added, added_cpu[1:] or added_cpu
    print(
        f"\nmedian added by tracking: {statistics.median(added):+.2f} s over all rounds, "
        f"{statistics.median(later):+.2f} s excluding the store-creating first round "
        f"(target < 3 s); CPU added {statistics.median(later_cpu):+.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="CLI rounds (both modes each)")
    parser.add_argument("--phases", type=int, default=3, help="in-process tracked runs (0: none)")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    workdir = Path(tempfile.mkdtemp(prefix="gristmill-bench-tracking-"))
    project = workdir / "spam"
    shutil.copytree(EXAMPLE, project)
    name = "youtube-spam"

    rows: list[tuple[int, str, float, float]] = []
    for round_ in range(args.rounds):
        # Alternate the order so drift in machine load does not favour one mode.
        for track in (False, True) if round_ % 2 == 0 else (True, False):
            mode = "tracked" if track else "--no-track"
            rows.append((round_, mode, *run_cli(project, track)))
            print(f"round {round_}: {mode:<10} {rows[-1][2]:6.2f} s", flush=True)
    if rows:
        print_cli_table(rows, args.rounds)
    if args.phases:
        run_phases(project, args.phases)

    load = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, f"{name}@challenger", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    timings = json.loads(load.stdout.strip().splitlines()[-1])
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
