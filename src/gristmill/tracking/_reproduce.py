"""Reproduce a tracked run from its logged spec and LF sources, and compare the outcome."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gristmill.exceptions import TrackingError
from gristmill.io import atomic_write_text
from gristmill.tracking import _store
from gristmill.tracking._hashing import dataset_digest, file_digest
from gristmill.tracking._lineage import run_lineage
from gristmill.tracking._tracker import TAG, flatten_metrics


@dataclass(frozen=True)
class Reproduction:
    """Outcome of :func:`reproduce`.

    Attributes
    ----------
    run_id : str
        The run that was reproduced.
    spec_path : pathlib.Path
        The rewritten spec that was run (beside copies of the logged LF files).
    metrics : pandas.DataFrame
        Columns ``metric``, ``logged``, ``reproduced``, ``delta``, ``within`` (bool).
    tolerance : float
    result : object
        The new PipelineResult.
    """

    run_id: str
    spec_path: Path
    metrics: pd.DataFrame
    tolerance: float
    result: Any

    @property
    def matches(self) -> bool:
        """True when every logged metric was reproduced within the tolerance."""
        return bool(len(self.metrics)) and bool(self.metrics["within"].all())


def reproduce(
    run_id: str,
    *,
    tolerance: float = 1e-6,
    track: bool = False,
    workdir: str | os.PathLike[str] | None = None,
    runner: Callable[[Path], Any] | None = None,
    project_dir: str | os.PathLike[str] = ".",
    tracking_uri: str | None = None,
) -> Reproduction:
    """Rerun a tracked run from its logged spec and LF sources and compare the metrics.

    The data files the run read must still have the digests it logged: this is checked before
    rerunning (file digests) and after loading (table digests).

    Parameters
    ----------
    run_id : str
        An MLflow run logged by gristmill.
    tolerance : float, default 1e-6
        Largest absolute metric difference counted as reproduced.
    track : bool, default False
        Track the rerun as a new run (registering a new version).
    workdir : path-like, optional
        Where the spec and LF files are rewritten and the rerun writes; default a new
        temporary directory.
    runner : callable, optional
        ``runner(spec_path) -> PipelineResult``; default
        ``Pipeline.from_yaml(spec_path).run(track=track)``.
    project_dir, tracking_uri
        Where the store is (see :func:`resolve_tracking_uri`).

    Returns
    -------
    Reproduction

    Raises
    ------
    TrackingError
        When the run is unknown or was not logged by gristmill, or when a dataset's digest
        differs from the logged one (naming the split, source and both digests).
    """
    client = _store.connect(project_dir, tracking_uri)
    mlflow = _store.import_mlflow()
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(f"no tracked run with id {run_id!r}: {exc.message}") from exc
    tags = run.data.tags
    if TAG + "spec_file" not in tags:
        raise TrackingError(f"run {run_id} was not logged by a gristmill pipeline run")
    doc = run_lineage(client, run_id)
    _check_files(run_id, doc)

    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="gristmill-reproduce-"))
    work.mkdir(parents=True, exist_ok=True)
    spec_path = _restore_spec(client, run_id, tags, work)
    if runner is None:
        from gristmill.pipeline import Pipeline

        def runner(path: Path) -> Any:
            return Pipeline.from_yaml(path).run(track=track)

    result = runner(spec_path)
    _check_tables(run_id, doc, result)
    table = compare_metrics(run.data.metrics, flatten_metrics(result.metrics), tolerance)
    return Reproduction(
        run_id=run_id, spec_path=spec_path, metrics=table, tolerance=tolerance, result=result
    )


def compare_metrics(
    logged: dict[str, float], reproduced: dict[str, float], tolerance: float
) -> pd.DataFrame:
    """Compare logged with reproduced label-model and end-model metrics."""
    keys = sorted(k for k in logged if k.startswith(("label_model.", "end_model.")))
    rows = []
    for key in keys:
        new = reproduced.get(key, math.nan)
        delta = new - logged[key]
        rows.append(
            {
                "metric": key,
                "logged": logged[key],
                "reproduced": new,
                "delta": delta,
                "within": bool(abs(delta) <= tolerance),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "logged", "reproduced", "delta", "within"])


def _check_files(run_id: str, doc: dict[str, Any]) -> None:
    for split, entry in doc["data"].items():
        if not entry.get("file_digest"):
            continue
        source = Path(entry.get("file", entry["source"]))
        if not source.is_file():
            raise TrackingError(
                f"cannot reproduce run {run_id}: its {split} data {source} no longer exists"
            )
        now = file_digest(source)
        if now != entry["file_digest"]:
            raise TrackingError(
                f"cannot reproduce run {run_id}: the {split} data {source} changed since the "
                f"run (file digest {now}, logged {entry['file_digest']})"
            )


def _check_tables(run_id: str, doc: dict[str, Any], result: Any) -> None:
    for split, entry in doc["data"].items():
        if split not in result.datasets:
            raise TrackingError(f"the rerun of {run_id} has no {split} dataset to compare")
        frame, source = result.datasets[split]
        now = dataset_digest(frame)
        if now != entry["digest"]:
            raise TrackingError(
                f"cannot reproduce run {run_id}: the {split} data ({source}) has digest {now}, "
                f"but the run logged {entry['digest']}"
            )


def _restore_spec(client: Any, run_id: str, tags: dict[str, str], work: Path) -> Path:
    """Download the logged spec and LF files into ``work`` and point the spec at them."""
    spec_name = tags[TAG + "spec_file"]
    spec_dir = Path(tags[TAG + "spec_dir"])
    lf_dir = Path(client.download_artifacts(run_id, "lfs", str(work)))
    spec_file = Path(client.download_artifacts(run_id, f"spec/{spec_name}", str(work)))
    spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    lf_copies = {p.name: p.resolve() for p in lf_dir.glob("*.py")}
    rewritten = _rewrite_paths(spec, spec_dir, lf_copies)
    target = work / spec_name
    atomic_write_text(target, yaml.safe_dump(rewritten, sort_keys=False))
    return target


def _rewrite_paths(node: Any, spec_dir: Path, lf_copies: dict[str, Path]) -> Any:
    """Point LF files at the logged copies and make other relative file paths absolute."""
    if isinstance(node, dict):
        return {k: _rewrite_paths(v, spec_dir, lf_copies) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_paths(v, spec_dir, lf_copies) for v in node]
    if isinstance(node, str) and node.endswith(".py") and Path(node).name in lf_copies:
        return str(lf_copies[Path(node).name])
    if isinstance(node, str) and node and not Path(node).is_absolute():
        try:
            candidate = spec_dir / node
            if candidate.is_file():
                return str(candidate.resolve())
        except (OSError, ValueError):
            return node
    return node
