"""Serving and monitoring benchmark: a bounded load test against 127.0.0.1, and drift on spam.

Builds the bundled YouTube-spam example in a temporary project (``gristmill init`` + ``gristmill
run``, tracked in its own MLflow store), serves the registered model with ``gristmill serve`` and
measures, all against 127.0.0.1 only and bounded in count and time:

1. single-row requests at a fixed rate (default 200 req/s for 60 s): p50 / p99 latency;
2. 1,000-row batch requests: latency;
3. logged records against requests answered (every phase, 1 and 2 uvicorn workers);
4. an alias switch under load: failed requests and how long the switch took;
5. drift on the spam data: one video's comments only (shifted) vs an i.i.d. split.

The load generator runs on the same (shared, 2-core) machine as the server.

Usage: .venv/bin/python benchmarks/serve_load.py [--rate 200] [--seconds 60] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SPAM_DATA = REPO / "src" / "gristmill" / "examples" / "spam" / "data" / "youtube.csv"
PAYLOAD = ["CONTENT", "AUTHOR", "DATE"]
NAME = "youtube-spam"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_project(root: Path) -> str:
    """Init and run the spam example; register versions 1 (champion) and 2 (same artifacts)."""
    import mlflow

    subprocess.run([BIN / "gristmill", "init", str(root)], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([BIN / "gristmill", "run"], cwd=root, check=True, capture_output=True)
    print(f"pipeline run (train + register): {time.perf_counter() - started:.0f} s")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    first = client.get_model_version_by_alias(NAME, "challenger")
    client.set_registered_model_alias(NAME, "champion", first.version)
    # A second version for the alias switch: same artifacts, a new registry entry.
    second = client.create_model_version(NAME, first.source, run_id=first.run_id)
    while client.get_model_version(NAME, second.version).status != "READY":
        time.sleep(0.2)
    return uri


class Server:
    """``gristmill serve`` in a subprocess on 127.0.0.1."""

    def __init__(self, root: Path, uri: str, log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stderr = (root / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [BIN / "gristmill", "serve", f"{NAME}@champion", "--port", str(self.port),
             "--tracking-uri", uri, "--log", str(log), "--workers", str(workers),
             "--poll-interval", "1"],
            cwd=root, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {self.stderr.name}")
            time.sleep(0.25)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.stderr.close()


def rate_load(base: str, rows: list[dict], rate: float, seconds: float, *,
              on_tick=None) -> dict:  # noqa: ANN001
    """Open-loop load: request i is sent at t0 + i / rate (bounded: rate * seconds requests)."""
    total = int(rate * seconds)
    latencies = np.full(total, np.nan)
    lag = np.zeros(total)
    statuses: list[int] = [0] * total
    versions: list[str] = [""] * total
    counter = iter(range(total))
    lock = threading.Lock()
    local = threading.local()
    t0 = time.perf_counter() + 0.2
    hard_stop = t0 + 2 * seconds + 10  # bounded in time too: a slow server gets fewer requests

    def worker() -> None:
        local.client = httpx.Client(base_url=base, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None or time.perf_counter() > hard_stop:
                break
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if on_tick is not None:
                on_tick(i)
            start = time.perf_counter()
            lag[i] = start - due
            try:
                response = local.client.post("/predict", json={"records": [rows[i % len(rows)]]})
                statuses[i] = response.status_code
                if response.status_code == 200:
                    versions[i] = response.json()["model"]["version"]
            except httpx.HTTPError:
                statuses[i] = -1
            latencies[i] = time.perf_counter() - start
        local.client.close()

    with ThreadPoolExecutor(max_workers=48) as pool:
        for _ in range(48):
            pool.submit(worker)
    elapsed = time.perf_counter() - t0
    attempted = np.array(statuses) != 0
    ok = np.array(statuses) == 200
    return {"sent": int(attempted.sum()), "ok": int(ok.sum()),
            "failed": int((attempted & ~ok).sum()), "unsent": int((~attempted).sum()),
            "p50_ms": float(np.nanpercentile(latencies, 50) * 1000),
            "p99_ms": float(np.nanpercentile(latencies, 99) * 1000),
            "max_ms": float(np.nanmax(latencies) * 1000),
            "achieved_rps": int(attempted.sum()) / elapsed,
            "late_p99_ms": float(np.percentile(lag, 99) * 1000),
            "versions": versions}


def batch_load(base: str, frame: pd.DataFrame, n_batches: int) -> dict:
    records = frame.to_dict("records")
    latencies, ok = [], 0
    with httpx.Client(base_url=base, timeout=60) as client:
        for b in range(n_batches):
            batch = [records[(b * 1000 + j) % len(records)] for j in range(1000)]
            start = time.perf_counter()
            response = client.post("/predict", json={"records": batch})
            latencies.append(time.perf_counter() - start)
            ok += response.status_code == 200 and len(response.json()["predictions"]) == 1000
    return {"sent": n_batches, "ok": ok, "p50_ms": float(np.percentile(latencies, 50) * 1000),
            "p99_ms": float(np.percentile(latencies, 99) * 1000),
            "max_ms": float(np.max(latencies) * 1000)}


def alias_switch(base: str, uri: str, rows: list[dict], rate: float, seconds: float) -> dict:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    switch_at = int(rate * seconds / 4)
    switched: dict[str, float] = {}

    def tick(i: int) -> None:
        if i == switch_at and "t" not in switched:
            switched["t"] = time.perf_counter()
            client.set_registered_model_alias(NAME, "champion", "2")

    result = rate_load(base, rows, rate, seconds, on_tick=tick)
    versions = result.pop("versions")
    first_v2 = next((i for i, v in enumerate(versions) if v == "2"), None)
    result["switched"] = first_v2 is not None and all(v == "2" for v in versions[first_v2:] if v)
    result["switch_after_s"] = ((first_v2 - switch_at) / rate) if first_v2 is not None else None
    client.set_registered_model_alias(NAME, "champion", "1")
    return result


def drift_on_spam(uri: str) -> list[tuple[str, int, bool, str, float]]:
    from gristmill.monitoring import monitor
    from gristmill.serving import load_served_model

    model = load_served_model(f"{NAME}/1", tracking_uri=uri)
    data = pd.read_csv(SPAM_DATA)
    train_videos = data[data["VIDEO"] != "Shakira"]
    rng = np.random.default_rng(0)
    in_a = rng.random(len(train_videos)) < 0.5
    reference, other = train_videos[in_a], train_videos[~in_a]
    cases = [("i.i.d. half of the training videos", other)]
    cases += [(f"{video} comments only", data[data["VIDEO"] == video])
              for video in ("Psy", "Shakira")]
    rows = []
    for label, current in cases:
        started = time.perf_counter()
        result = monitor(model, current=current[PAYLOAD], reference=reference[PAYLOAD])
        seconds = time.perf_counter() - started
        drifted = [f"{f.column} ({f.method} {f.statistic:.2f})" for f in result.features
                   if f.drifted]
        lf_drifted = sum(d.drifted for d in result.lfs)
        summary = ", ".join(drifted) or "none"
        summary += f"; LFs drifted {lf_drifted}/{len(result.lfs)}"
        if result.agreement is not None:
            summary += f"; est. acc. {result.agreement.estimated_accuracy:.3f}"
        rows.append((label, len(current), result.drifted, summary, seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="10 s phases, for a smoke run")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    root = Path(tempfile.mkdtemp(prefix="gristmill-serve-bench-"))
    try:
        uri = build_project(root / "spam")
        data = pd.read_csv(SPAM_DATA)[PAYLOAD].fillna("")
        rows = data.sample(frac=1.0, random_state=0).to_dict("records")
        results = {}
        log = root / "log.sqlite"
        server = Server(root / "spam", uri, log)
        try:
            httpx.post(f"{server.base}/predict", json={"records": rows[:5]}, timeout=60)  # warm-up
            results["single"] = rate_load(server.base, rows, args.rate, seconds)
            results["single"].pop("versions")
            results["batch"] = batch_load(server.base, data, 20)
            results["switch"] = alias_switch(server.base, uri, rows, args.rate / 2,
                                             max(20.0, seconds / 3))
        finally:
            server.stop()
        from gristmill.serving import RequestLog

        answered = 1 + sum(r["ok"] for r in results.values())
        logged_1 = RequestLog(log).count()

        log2 = root / "log2.sqlite"
        server = Server(root / "spam", uri, log2, workers=2)
        try:
            results["two_workers"] = rate_load(server.base, rows, args.rate, seconds / 3)
            results["two_workers"].pop("versions")
        finally:
            server.stop()
        logged_2 = RequestLog(log2).count()

        print(f"\nServing (gristmill serve, 127.0.0.1; load generator on the same 2 cores), "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"{'phase':<34}{'sent':>7}{'ok':>7}{'fail':>6}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'max ms':>9}{'req/s':>8}{'unsent':>8}")
        labels = {"single": f"1 row @ {args.rate:.0f}/s x {seconds:.0f}s",
                  "batch": "1,000-row batch (sequential)",
                  "switch": "1 row, alias switch under load",
                  "two_workers": f"1 row @ {args.rate:.0f}/s, 2 workers"}
        for key, label in labels.items():
            r = results[key]
            rps = f"{r['achieved_rps']:8.1f}" if "achieved_rps" in r else f"{'':>8}"
            print(f"{label:<34}{r['sent']:>7}{r['ok']:>7}{r['sent'] - r['ok']:>6}"
                  f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{rps}"
                  f"{r.get('unsent', 0):>8}")
        s = results["switch"]
        print(f"\nalias switch: switched={s['switched']}, new version served "
              f"{s['switch_after_s']:.1f} s after the alias moved (poll interval 1 s), "
              f"failed requests {s['failed']}" if s["switch_after_s"] is not None
              else f"\nalias switch: NOT observed; failed requests {s['failed']}")
        print(f"request log, 1 worker: {logged_1} logged of {answered} answered "
              f"(lost {answered - logged_1})")
        answered_2 = results["two_workers"]["ok"]
        print(f"request log, 2 workers: {logged_2} logged of {answered_2} answered "
              f"(lost {answered_2 - logged_2})")
        print(f"single-row p99 target < 50 ms: "
              f"{'met' if results['single']['p99_ms'] < 50 else 'MISSED'}; "
              f"1,000-row batch target < 200 ms (p50): "
              f"{'met' if results['batch']['p50_ms'] < 200 else 'MISSED'}")

        print("\nDrift on the spam data (reference: random half of the 4 training videos)")
        print(f"{'current data':<38}{'rows':>6}{'flagged':>9}{'seconds':>9}  signals")
        for label, n, flagged, summary, secs in drift_on_spam(uri):
            print(f"{label:<38}{n:>6}{'yes' if flagged else 'no':>9}{secs:>9.1f}  {summary}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
