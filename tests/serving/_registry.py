"""Served-model test helpers: a temporary MLflow store holding the keyword model (registered
with aliases), and what the tests need to drive a real server process (a free port, a wait for
``/health``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

MODEL_CODE = Path(__file__).with_name("keyword_model.py")
NAME = "kw"
CLASSES = ["ham", "spam"]


def reference_frame(n: int = 200, seed: int = 0):  # noqa: ANN201
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array(["hello", "great song", "check out my channel", "subscribe", "love it",
                      "free money", "nice video"])
    text = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(n)]
    return pd.DataFrame({"text": text, "length": [float(len(t)) for t in text]})


def log_version(tracking_uri: str, weights: dict[str, float], bias: float, workdir: Path) -> str:
    """Log and register one version of the keyword model; return its version number."""
    import mlflow
    from mlflow.models import infer_signature

    saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    # set_*_uri export environment variables; do not let them leak into other tests.
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    workdir.mkdir(parents=True, exist_ok=True)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    if client.get_experiment_by_name("serving-tests") is None:
        client.create_experiment("serving-tests",
                                 artifact_location=(workdir / "artifacts").as_uri())
    mlflow.set_experiment("serving-tests")
    weights_path = workdir / f"weights-{len(list(workdir.glob('weights-*')))}.json"
    weights_path.write_text(json.dumps({"weights": weights, "bias": bias, "classes": CLASSES}))
    reference_path = workdir / "reference.parquet"
    reference = reference_frame()
    reference.to_parquet(reference_path)
    sample = reference.head(5)
    output = {"prediction": "ham", **{f"proba_{c}": 0.5 for c in CLASSES}}
    import pandas as pd

    signature = infer_signature(sample, pd.DataFrame([output] * 5))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={"weights": str(weights_path), "reference": str(reference_path)},
            signature=signature,
            input_example=sample,
            # Explicit requirements: inferring them would load the model in a subprocess.
            pip_requirements=["mlflow", "pandas", "numpy"],
            registered_model_name=NAME,
        )
    return str(info.registered_model_version)


def set_alias(tracking_uri: str, alias: str, version: str) -> None:
    import mlflow

    mlflow.MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(NAME, alias, version)


_STORES: dict[str, str] = {}


def cached_store(tmp_path_factory) -> str:  # noqa: ANN001
    """One store per test session, shared by the serving, monitoring and CLI tests."""
    if "uri" not in _STORES:
        _STORES["uri"] = build_store(tmp_path_factory.mktemp("mlflow"))
    return _STORES["uri"]


def build_store(root: Path) -> str:
    """Two versions: v1 (champion) says spam for 'subscribe'; v2 says spam for nothing."""
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    v1 = log_version(tracking_uri, {"subscribe": 4.0, "check out": 3.0, "free": 3.0}, -2.0,
                     root / "w")
    v2 = log_version(tracking_uri, {}, -10.0, root / "w")
    set_alias(tracking_uri, "champion", v1)
    set_alias(tracking_uri, "challenger", v2)
    return tracking_uri


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(
    client: httpx.Client, proc: subprocess.Popen, stderr_path: Path, timeout: float = 120
) -> None:
    """Poll ``GET /health`` until the server answers 200; fail with its stderr if it dies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, stderr_path.read_text()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.25)
