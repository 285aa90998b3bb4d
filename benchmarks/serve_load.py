"""Serving and monitoring benchmark: a bounded load test against 127.0.0.1, and drift on spam.

Builds the bundled YouTube-spam example in a temporary project (``gristmill init`` + ``gristmill
run``, tracked in its own MLflow store), serves the registered model with ``gristmill serve`` and
measures, all against 127.0.0.1 only and bounded in count and time:

1. single-row requests at a constant rate (default 200 req/s for 60 s), with 1 and with 2
   uvicorn workers: p50 / p99 latency, achieved rate;
2. 1,000-row batch requests: latency;
3. logged records against requests answered (every phase, 1 and 2 workers);
4. an alias switch under load: failed requests and how long the switch took;
5. drift on the spam data: one video's comments only (shifted) vs an i.i.d. split.

The load generator runs on the same (2-core) machine as the server. It is ``wrk`` (Debian package
``wrk``, C; ``make bench-env`` installs it) driven by ``constant_rate.lua`` for an open-loop
constant rate, so that the generator does not compete with the server for the CPU the way a
Python one does; without ``wrk`` on PATH (or with ``--generator python``) a threaded httpx
generator is used instead.

Usage: .venv/bin/python benchmarks/serve_load.py [--rate 200] [--seconds 60] [--quick]
       [--generator auto|wrk|python] [--skip-drift]
"""

from __future__ import annotations

import argparse
import json
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
import psutil

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SPAM_DATA = REPO / "src" / "gristmill" / "examples" / "spam" / "data" / "youtube.csv"
PAYLOAD = ["CONTENT", "AUTHOR", "DATE"]
NAME = "youtube-spam"
WRK_SCRIPT = Path(__file__).with_name("constant_rate.lua")
WRK_CONNECTIONS = 64  # most requests in flight; at 200 req/s that allows 320 ms per request
WRK_GRACE_S = 10  # wrk runs this much past the sending window so requests in flight complete


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

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and its worker processes."""
        total = 0.0
        root = psutil.Process(self.proc.pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

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


def write_bodies(rows: list[dict], path: Path) -> Path:
    """One single-row request body per line, for wrk."""
    path.write_text("".join(json.dumps({"records": [row]}) + "\n" for row in rows))
    return path


def start_wrk(base: str, bodies: Path, rate: float, seconds: float) -> subprocess.Popen:
    """Start wrk sending single-row requests at ``rate`` per second for ``seconds``."""
    command = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{int(seconds) + WRK_GRACE_S}s",
               "--timeout", "30s", "-s", str(WRK_SCRIPT), f"{base}/predict",
               "--", str(rate), str(bodies), "1", str(seconds)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(proc: subprocess.Popen, rate: float, seconds: float) -> dict:
    """Wait for wrk and read its RESULT line (see constant_rate.lua)."""
    out, err = proc.communicate(timeout=seconds + WRK_GRACE_S + 60)
    line = next((text for text in out.splitlines() if text.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{out}\n{err}")
    v = {key: float(value) for key, value in (kv.split("=") for kv in line.split()[1:])}
    ok = v["requests"] - v["status_errors"]
    return {"sent": int(v["sent"]), "ok": int(ok), "failed": int(v["sent"] - ok),
            "unsent": max(0, int(rate * seconds) - int(v["sent"])),
            "p50_ms": v["p50_us"] / 1000, "p99_ms": v["p99_us"] / 1000,
            "max_ms": v["max_us"] / 1000, "achieved_rps": v["sent"] / seconds,
            "late": int(v["late"]), "worst_late_ms": v["worst_late_ms"]}


def single_rows(generator: str, server: Server, rows: list[dict], bodies: Path, rate: float,
                seconds: float) -> dict:
    """Constant-rate single-row load; adds the server's CPU time per answered request."""
    cpu_before = server.cpu_seconds()
    if generator == "wrk":
        result = finish_wrk(start_wrk(server.base, bodies, rate, seconds), rate, seconds)
    else:
        result = rate_load(server.base, rows, rate, seconds)
        result.pop("versions")
    result["cpu_ms"] = (server.cpu_seconds() - cpu_before) * 1000 / max(result["ok"], 1)
    return result


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


def alias_switch(generator: str, base: str, uri: str, rows: list[dict], bodies: Path,
                 log: Path, rate: float, seconds: float) -> dict:
    """Move ``champion`` from version 1 to 2 a quarter into a constant-rate load; put it back.

    With wrk, which version answered when is read from the request log (one row per request).
    """
    import mlflow

    from gristmill.serving import RequestLog

    client = mlflow.MlflowClient(tracking_uri=uri)
    switched: dict[str, float] = {}

    def switch() -> None:
        switched["t"] = time.time()
        client.set_registered_model_alias(NAME, "champion", "2")

    if generator == "wrk":
        began = time.time()
        proc = start_wrk(base, bodies, rate, seconds)
        threading.Timer(0.1 + seconds / 4, switch).start()
        result = finish_wrk(proc, rate, seconds)
        served = RequestLog(log).records(since=began)
        versions = served["_model_version"].tolist()
        times = served["_ts"].tolist()
    else:
        switch_at = int(rate * seconds / 4)

        def tick(i: int) -> None:
            if i == switch_at and "t" not in switched:
                switch()

        result = rate_load(base, rows, rate, seconds, on_tick=tick)
        versions = result.pop("versions")
        times = [switched.get("t", 0.0) + (i - switch_at) / rate for i in range(len(versions))]
    first_v2 = next((i for i, v in enumerate(versions) if v == "2"), None)
    result["switched"] = first_v2 is not None and all(v == "2" for v in versions[first_v2:] if v)
    result["switch_after_s"] = (times[first_v2] - switched["t"]) if first_v2 is not None else None
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
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator: wrk when on PATH (auto), or the Python one")
    parser.add_argument("--skip-drift", action="store_true", help="only the load test")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH; `make bench-env` installs it (Debian package wrk)")
    root = Path(tempfile.mkdtemp(prefix="gristmill-serve-bench-"))
    try:
        uri = build_project(root / "spam")
        # A missing DATE is sent as null: the service refuses "" for a date column.
        data = pd.read_csv(SPAM_DATA)[PAYLOAD].astype(object)
        data = data.where(data.notna(), None)
        rows = data.sample(frac=1.0, random_state=0).to_dict("records")
        bodies = write_bodies(rows, root / "bodies.jsonl")
        results = {}
        log = root / "log.sqlite"
        server = Server(root / "spam", uri, log)
        try:
            httpx.post(f"{server.base}/predict", json={"records": rows[:5]}, timeout=60)  # warm-up
            results["single"] = single_rows(generator, server, rows, bodies, args.rate, seconds)
            results["batch"] = batch_load(server.base, data, 20)
            results["switch"] = alias_switch(generator, server.base, uri, rows, bodies, log,
                                             args.rate / 2, max(20.0, seconds / 3))
        finally:
            server.stop()
        from gristmill.serving import RequestLog

        answered = 1 + sum(r["ok"] for r in results.values())
        logged_1 = RequestLog(log).count()

        log2 = root / "log2.sqlite"
        server = Server(root / "spam", uri, log2, workers=2)
        try:
            results["two_workers"] = single_rows(generator, server, rows, bodies, args.rate,
                                                 seconds)
        finally:
            server.stop()
        logged_2 = RequestLog(log2).count()

        print(f"\nServing (gristmill serve, 127.0.0.1; load generator: {generator}, on the same "
              f"2 cores), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
              f"before the 2-worker phase ended: {os.getloadavg()[0]:.1f}")
        print(f"{'phase':<34}{'sent':>7}{'ok':>7}{'fail':>6}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'max ms':>9}{'req/s':>8}{'unsent':>8}{'late':>6}{'cpu ms':>8}")
        labels = {"single": f"1 row @ {args.rate:.0f}/s x {seconds:.0f}s",
                  "batch": "1,000-row batch (sequential)",
                  "switch": "1 row, alias switch under load",
                  "two_workers": f"1 row @ {args.rate:.0f}/s x {seconds:.0f}s, 2 workers"}
        for key, label in labels.items():
            r = results[key]
            rps = f"{r['achieved_rps']:8.1f}" if "achieved_rps" in r else f"{'':>8}"
            late = r.get("late", r.get("late_p99_ms", ""))
            late = f"{late:.0f}" if isinstance(late, float) else str(late)
            print(f"{label:<34}{r['sent']:>7}{r['ok']:>7}{r['sent'] - r['ok']:>6}"
                  f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{rps}"
                  f"{r.get('unsent', 0):>8}{late:>6}"
                  + (f"{r['cpu_ms']:>8.2f}" if "cpu_ms" in r else ""))
        print("late: wrk sends that left after their due time (all connections busy); the "
              "Python generator reports its p99 lag in ms instead. cpu ms: server CPU time "
              "(all processes) per answered request")
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
        for key, workers in (("single", 1), ("two_workers", 2)):
            r = results[key]
            verdict = "met" if r["p99_ms"] < 50 and r["unsent"] == 0 and r["failed"] == 0 else (
                "MISSED")
            print(f"single-row p99 < 50 ms at {args.rate:.0f} req/s, {workers} worker(s): "
                  f"{verdict} (p99 {r['p99_ms']:.1f} ms, {r['achieved_rps']:.1f} req/s sent)")
        print(f"1,000-row batch target < 200 ms (p50): "
              f"{'met' if results['batch']['p50_ms'] < 200 else 'MISSED'}")

        if not args.skip_drift:
            print("\nDrift on the spam data (reference: random half of the 4 training videos)")
            print(f"{'current data':<38}{'rows':>6}{'flagged':>9}{'seconds':>9}  signals")
            for label, n, flagged, summary, secs in drift_on_spam(uri):
                print(f"{label:<38}{n:>6}{'yes' if flagged else 'no':>9}{secs:>9.1f}  {summary}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
