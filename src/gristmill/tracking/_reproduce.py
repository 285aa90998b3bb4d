"""Reproduce a tracked run from its logged spec and LF sources, and compare the outcome."""

from __future__ import annotations

import filecmp
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gristmill.exceptions import TrackingError
from gristmill.io import atomic_write_text
from gristmill.tracking import _store
from gristmill.tracking._hashing import dataset_digest, file_digest
from gristmill.tracking._lineage import run_lineage
from gristmill.tracking._sources import kept_path, module_key
from gristmill.tracking._tracker import _LF_DIR, _SLICE_DIR, TAG, flatten_metrics, split_task


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
    from_working_copy : list of pathlib.Path
        Python modules the spec names (slicing-function modules of runs logged before they
        were kept with the run) that the run did not log, so the rerun used the files as
        they are now.
    """

    run_id: str
    spec_path: Path
    metrics: pd.DataFrame
    tolerance: float
    result: Any
    from_working_copy: list[Path] = field(default_factory=list)

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
    runner: Callable[[Path, str | None], Any] | None = None,
    project_dir: str | os.PathLike[str] = ".",
    tracking_uri: str | None = None,
) -> Reproduction:
    """Rerun a tracked run from its logged spec, LF and slice modules and compare the metrics.

    The LF and slice modules import the helper modules logged with them, not the project's
    current ones.

    The data files the run read must still have the digests it logged: this is checked before
    rerunning (file digests) and after loading (table digests). Every label-model and
    end-model metric the run logged is compared (each task's, for several tasks).

    Parameters
    ----------
    run_id : str
        An MLflow run logged by gristmill.
    tolerance : float, default 1e-6
        Largest absolute metric difference counted as reproduced.
    track : bool, default False
        Track the rerun as a new run (registering a new version) in the store of the run it
        reproduces, not in one of its own in the workdir.
    workdir : path-like, optional
        A new or empty directory where the spec is rewritten, the logged LF and slice modules
        are laid out as in the project (the rerun's spec names them, and a tracked rerun's
        lineage keeps them, as the run did) and the rerun writes; default a new temporary
        directory, left to the caller (``spec_path.parent``) to inspect or remove.
    runner : callable, optional
        ``runner(spec_path, tracking_uri) -> PipelineResult``, where ``tracking_uri`` is the
        store of the run reproduced with ``track``, else None (run untracked); default
        ``Pipeline.from_yaml(spec_path).run(track=tracking_uri is not None,
        tracking_uri=tracking_uri)``. The environment is not changed.
    project_dir, tracking_uri
        Where the store is (see :func:`resolve_tracking_uri`).

    Returns
    -------
    Reproduction

    Raises
    ------
    TrackingError
        When the tolerance is negative or not finite, ``workdir`` is a file or a directory
        that is not empty, the run is unknown, was not logged by gristmill or logged no metric
        to compare, or when a dataset's digest differs from the logged one (naming the split,
        source and both digests).
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise TrackingError(
            f"the reproduction tolerance must be a finite number >= 0; got {tolerance}"
        )
    if workdir is not None:
        _check_workdir(Path(workdir))
    client = _store.connect(project_dir, tracking_uri)
    mlflow = _store.import_mlflow()
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(f"no tracked run with id {run_id!r}: {exc.message}") from exc
    tags = run.data.tags
    if TAG + "spec_file" not in tags:
        raise TrackingError(f"run {run_id} was not logged by a gristmill pipeline run")
    if not any(_compared(key) for key in run.data.metrics):
        raise TrackingError(f"run {run_id} logged no label-model or end-model metric to compare")
    doc = run_lineage(client, run_id)
    _check_files(run_id, doc)

    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="gristmill-reproduce-"))
    work.mkdir(parents=True, exist_ok=True)
    spec_path, from_working_copy = _restore_spec(client, run_id, tags, doc, work)
    store = _store.resolve_tracking_uri(project_dir, tracking_uri) if track else None
    result = (runner or _run_pipeline)(spec_path, store)
    _check_tables(run_id, doc, result)
    table = compare_metrics(run.data.metrics, flatten_metrics(result.metrics), tolerance)
    return Reproduction(
        run_id=run_id,
        spec_path=spec_path,
        metrics=table,
        tolerance=tolerance,
        result=result,
        from_working_copy=from_working_copy,
    )


def _run_pipeline(spec_path: Path, tracking_uri: str | None) -> Any:
    """Run the rewritten spec, tracked in ``tracking_uri`` when given, else untracked.

    Never in the store the rerun's pipeline would default to (``mlflow.db`` beside the spec,
    in the workdir), a throwaway store the default temporary workdir is removed with.
    """
    from gristmill.pipeline import Pipeline

    pipeline = Pipeline.from_yaml(spec_path)
    return pipeline.run(track=tracking_uri is not None, tracking_uri=tracking_uri)


def _check_workdir(work: Path) -> None:
    """Refuse a workdir with files in it: the rerun's spec and modules would replace them."""
    if work.is_dir() and not any(work.iterdir()):
        return
    if work.exists():
        what = "is not empty" if work.is_dir() else "is a file"
        raise TrackingError(
            f"the workdir {work} {what}: give a new or empty folder (the rerun writes its "
            "spec, LF and slice modules and run directory there)"
        )


def compare_metrics(
    logged: dict[str, float], reproduced: dict[str, float], tolerance: float
) -> pd.DataFrame:
    """Compare logged with reproduced label-model and end-model metrics (of every task).

    A metric the rerun did not report counts as not reproduced (``reproduced`` is NaN).
    """
    keys = sorted(k for k in logged if _compared(k))
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


def _compared(key: str) -> bool:
    """Whether a logged metric is one reproduce compares: a label model's or end model's."""
    return split_task(key)[1].startswith(("label_model.", "end_model."))


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


def _restore_spec(
    client: Any, run_id: str, tags: dict[str, str], doc: dict[str, Any], work: Path
) -> tuple[Path, list[Path]]:
    """Download the logged spec, LF and slice modules into ``work``; point the spec at them.

    ``doc`` is the run's lineage, which names the logged modules. Returns the rewritten spec
    and the modules it names that the run did not log (taken from the working copy).
    """
    spec_name = tags[TAG + "spec_file"]
    spec_dir = Path(tags[TAG + "spec_dir"])
    spec_file = Path(client.download_artifacts(run_id, f"spec/{spec_name}", str(work)))
    spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    copies = {
        kind: _download_modules(client, run_id, kind, doc.get(kind) or {}, work)
        for kind in (_LF_DIR, _SLICE_DIR)
    }
    from_working_copy: list[Path] = []
    rewritten = _rewrite_paths(spec, spec_dir, work, copies, _LF_DIR, from_working_copy)
    target = work / spec_name
    atomic_write_text(target, yaml.safe_dump(rewritten, sort_keys=False))
    return target, from_working_copy


def _download_modules(
    client: Any, run_id: str, kind: str, logged: dict[str, Any], work: Path
) -> dict[str, Path]:
    """The logged modules of one kind (artifact folder ``lfs`` or ``slices``) by key.

    ``logged`` is the lineage of those modules, by the keys the run kept them under (see
    :func:`~gristmill.tracking._sources.module_key`; file names for older runs). The whole
    folder is restored, the helper modules the modules import with them, laid out in ``work``
    (the rerun's spec folder) as in the project: each module at its key from there, so that
    the rerun's spec names it, and its lineage keeps it, as the run did. Where a file would
    replace one of other content (modules of both kinds kept by file name), the folder is
    laid out in ``work/<kind>`` instead.
    """
    if not logged or not client.list_artifacts(run_id, kind):
        return {}
    staging = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=work))
    try:
        folder = Path(client.download_artifacts(run_id, kind, str(staging)))
        root = work if _fits(folder, work) else work / kind
        shutil.copytree(folder, root, dirs_exist_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    copies = {key: root / kept_path(key) for key in logged}
    return {key: copy.resolve() for key, copy in copies.items() if copy.is_file()}


def _fits(folder: Path, target: Path) -> bool:
    """Whether copying ``folder`` into ``target`` replaces no file of other content."""
    for path in folder.rglob("*"):
        there = target / path.relative_to(folder)
        if not there.exists():
            continue
        if path.is_file() != there.is_file():
            return False
        if path.is_file() and not filecmp.cmp(path, there, shallow=False):
            return False
    return True


def _rewrite_paths(
    node: Any,
    spec_dir: Path,
    work: Path,
    copies: dict[str, dict[str, Path]],
    kind: str,
    from_working_copy: list[Path],
) -> Any:
    """Point modules at the logged copies and make other relative file paths absolute.

    ``kind`` is the artifact folder of the modules the node may name: ``slices`` under the
    spec's ``slices`` key, ``lfs`` elsewhere. A module whose copy lies where the node names
    it from ``work`` keeps the node. A module without a logged copy is taken from the working
    copy and added to ``from_working_copy``.
    """
    if isinstance(node, dict):
        return {
            k: _rewrite_paths(
                v, spec_dir, work, copies, _SLICE_DIR if k == "slices" else kind, from_working_copy
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_paths(v, spec_dir, work, copies, kind, from_working_copy) for v in node]
    if not isinstance(node, str) or not node:
        return node
    if node.endswith(".py"):
        logged = copies[kind]
        # By key; older runs kept each module under its file name.
        copy = logged.get(module_key(spec_dir / node, spec_dir)) or logged.get(Path(node).name)
        if copy is not None:
            return node if (work / node).resolve() == copy else str(copy)
    try:
        candidate = spec_dir / node  # an absolute node stays itself
        if not candidate.is_file():
            return node
    except (OSError, ValueError):
        return node
    if node.endswith(".py"):
        from_working_copy.append(candidate.resolve())
    return node if Path(node).is_absolute() else str(candidate.resolve())
