"""RunTracker: turns one pipeline run into one MLflow run (and a registered model version)."""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gristmill._version import __version__
from gristmill.exceptions import TrackingError
from gristmill.tracking import _store
from gristmill.tracking._hashing import dataset_digest, file_digest
from gristmill.tracking._sources import lf_lineage, slice_lineage, stage_sources
from gristmill.tracking._tags import MAX_TAG_VALUE, spread_tags

CHALLENGER = "challenger"
CHAMPION = "champion"
TAG = "gristmill."
_MAX_PARAM_VALUE = 6000
_BATCH = 100
_BATCH_METRICS = 1000
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "brier")
_STAGES = ("label_model", "end_model")
# Artifact folders (and staging folders) of the LF modules and of the slicing-function
# modules, each with the helper modules they import, laid out as beside the modules.
_LF_DIR = "lfs"
_SLICE_DIR = "slices"


@contextlib.contextmanager
def _own_experiment_selected() -> Iterator[None]:
    """Put aside the experiment a caller selected with ``mlflow.set_experiment``, then restore it.

    gristmill logs each run to the experiment named after its spec, and MLflow's fluent
    ``start_run(run_id=...)`` refuses to resume a run outside the caller's selected experiment
    (a notebook user who called ``set_experiment`` would see the run fail). MLflow keeps that
    selection in a module attribute and offers no public way to read it back.
    """
    fluent: Any = importlib.import_module("mlflow.tracking.fluent")
    selected = getattr(fluent, "_active_experiment_id", None)
    fluent._active_experiment_id = None
    try:
        yield
    finally:
        fluent._active_experiment_id = selected


class RunTracker:
    """Record a pipeline run in MLflow: params, metrics, artifacts, datasets, lineage, model.

    The pipeline calls :meth:`check`, :meth:`start`, :meth:`log_trial` (per search trial),
    then :meth:`finish` or, when the run raises, :meth:`fail`. Nothing is registered for a
    failed run.

    Parameters
    ----------
    project_dir : path-like
        The project directory; the default store is ``<project_dir>/mlflow.db``.
    tracking_uri : str, optional
        Overrides ``$MLFLOW_TRACKING_URI`` and the default store.
    timeout : float, default 3.0
        Seconds :meth:`check` waits for a tracking server.

    Attributes
    ----------
    tracking_uri_ : str
        The resolved tracking URI.
    run_id_ : str or None
        The MLflow run id once :meth:`start` was called.
    model_version_ : str or None
        The registered model version once :meth:`finish` succeeded.
    """

    def __init__(
        self,
        *,
        project_dir: str | os.PathLike[str] = ".",
        tracking_uri: str | None = None,
        timeout: float = 3.0,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.tracking_uri = tracking_uri
        self.timeout = timeout
        self.tracking_uri_ = _store.resolve_tracking_uri(project_dir, tracking_uri)
        self.run_id_: str | None = None
        self.model_version_: str | None = None
        self._client: Any = None
        self._spec_dict: dict[str, Any] = {}
        self._experiment_id: str | None = None
        self.run_name_: str | None = None

    # -- the hooks the pipeline calls -------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`TrackingError` now if the store is unreachable (before long work).

        The message names where the URI came from: the ``tracking_uri`` given, or
        ``$MLFLOW_TRACKING_URI`` (``gristmill run`` has no option to give one).
        """
        if self.tracking_uri:
            where = "pass another tracking_uri"
        else:
            where = "fix MLFLOW_TRACKING_URI (or unset it to track in the project's mlflow.db)"
        _store.check_store(
            self.tracking_uri_,
            timeout=self.timeout,
            remedy=f"start the server, {where}, or run with --no-track",
        )

    def start(
        self, result_name: str, spec_dict: Mapping[str, Any], spec_path: str | os.PathLike[str]
    ) -> None:
        """Open the MLflow run: experiment ``result_name``, the spec as params, tags, spec file.

        Raises
        ------
        TrackingError
            When the run cannot be opened, or ``start`` was already called.
        """
        if self.run_id_ is not None:
            raise TrackingError("RunTracker.start was already called; use one tracker per run")
        self._spec_dict = dict(spec_dict)
        try:
            self._open_run(result_name, Path(spec_path).resolve())
        except TrackingError:
            raise
        except Exception as exc:  # MLflow raises store-specific types
            raise TrackingError(
                f"could not open a tracking run in {self.tracking_uri_}: {exc}"
            ) from exc

    def _open_run(self, result_name: str, spec_path: Path) -> None:
        _store.import_mlflow()
        self._client = _store.open_client(self.tracking_uri_)
        experiment = _store.experiment_id(self._client, self.tracking_uri_, result_name)
        self._experiment_id = experiment
        tags = {
            TAG + "version": __version__,
            TAG + "spec_name": result_name,
            TAG + "spec_dir": str(spec_path.parent),
            TAG + "spec_file": spec_path.name,
            TAG + "kind": "pipeline",
        }
        commit = git_commit(spec_path.parent)
        if commit:
            tags[TAG + "git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit
        run = self._client.create_run(experiment, tags=tags)
        self.run_id_ = run.info.run_id
        self.run_name_ = run.info.run_name
        _log_batch(self._client, self.run_id_, params=flatten(self._spec_dict))
        if spec_path.exists():
            self._client.log_artifact(self.run_id_, str(spec_path), artifact_path="spec")

    def log_trial(self, number: int, params: Mapping[str, Any], value: float | None) -> None:
        """Record one model-search trial as a nested run (three store writes, no more)."""
        self._require_started()
        tags = {
            "mlflow.parentRunId": str(self.run_id_),
            TAG + "kind": "trial",
            TAG + "trial": str(number),
        }
        trial = self._client.create_run(
            self._experiment_id, tags=tags, run_name=f"{self.run_name_}-trial-{number}"
        )
        metrics = {"value": float(value)} if value is not None and _is_number(value) else {}
        _log_batch(self._client, trial.info.run_id, params=flatten(dict(params)), metrics=metrics)
        self._client.set_terminated(trial.info.run_id, status="FINISHED")

    def finish(self, result: Any) -> str:
        """Log everything about a successful run, log and register the model, close the run.

        Parameters
        ----------
        result : PipelineResult
            See docs/CONTRACTS.md, "Pipeline result".

        Returns
        -------
        str
            The new model version, which carries the alias ``challenger``.

        Raises
        ------
        TrackingError
            When logging or registration fails; the run is then marked FAILED and nothing is
            registered.
        """
        self._require_started()
        with _store.fluent_api_on(self.tracking_uri_) as mlflow, _own_experiment_selected():
            try:
                mlflow.start_run(run_id=self.run_id_)  # the fluent API logs the model to it
                with tempfile.TemporaryDirectory(prefix="gristmill-track-") as tmp:
                    lineage = self._log_result(mlflow, result, Path(tmp))
                    model_info = self._log_model(result, Path(tmp) / "bundle", Path(tmp) / _LF_DIR)
                    version = self._register(mlflow, result.name, model_info.model_uri, lineage)
            except Exception as exc:
                self.fail(exc)
                if isinstance(exc, TrackingError):
                    raise
                raise TrackingError(
                    f"tracking run {self.run_id_} failed while logging the result of "
                    f"{result.name!r}: {exc}"
                ) from exc
            mlflow.end_run(status="FINISHED")
        self.model_version_ = version
        return version

    def fail(self, exc: BaseException) -> None:
        """Mark the run FAILED (recording the error) without registering anything."""
        if self.run_id_ is None:
            return  # the run never opened: there is nothing to mark
        with _store.fluent_api_on(self.tracking_uri_) as mlflow:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self.run_id_:
                mlflow.end_run(status="FAILED")
        message = f"{type(exc).__name__}: {exc}"[:MAX_TAG_VALUE]
        self._client.set_tag(self.run_id_, TAG + "error", message)
        self._client.set_terminated(self.run_id_, status="FAILED")

    # -- helpers ----------------------------------------------------------------------------

    def _require_started(self) -> None:
        """Refuse to log before :meth:`start` opened the run."""
        if self.run_id_ is None:
            raise TrackingError("RunTracker.start must be called before logging to a run")

    def _log_model(self, result: Any, staging: Path, lf_dir: Path) -> Any:
        """Log the pyfunc model, then the run's metrics linked to it (one write, no look-ups).

        ``lf_dir`` holds the LF modules with their helpers, as :meth:`_log_result` staged them.

        Logged after the model, the metrics carry its id, so MLflow need not read every metric's
        history back to link them; when logging the model fails they are still logged.
        """
        from gristmill.tracking._pyfunc import log_pyfunc

        metrics = flatten_metrics(result.metrics)
        try:
            model_info = log_pyfunc(result, staging, lf_dir)
        except Exception:
            _log_batch(self._client, str(self.run_id_), metrics=metrics)
            raise
        _log_batch(self._client, str(self.run_id_), metrics=metrics, model_id=model_info.model_id)
        return model_info

    def _log_result(self, mlflow: Any, result: Any, tmp: Path) -> dict[str, Any]:
        """Log lineage, tags, datasets and the LF and slice sources (staged in tmp/lfs, slices)."""
        _log_lf_summary(mlflow, result.lf_summary, tmp)
        lineage = build_lineage(result, self._spec_dict)
        sources = {
            _LF_DIR: (result.lf_paths, lineage["lfs"]),
            _SLICE_DIR: (result.slice_paths, lineage["slices"]),
        }
        spec_dir = Path(result.spec_path).parent
        for folder, (paths, entries) in sources.items():
            staged = stage_sources(paths, entries, spec_dir, tmp / folder)
            mlflow.log_artifacts(str(staged), artifact_path=folder)
        _log_run_dir(mlflow, result)
        _log_datasets(mlflow, result, lineage, self.tracking_uri_)
        primary = primary_metric(self._spec_dict, result.metrics)
        tags = {
            TAG + "primary_metric": primary or "",
            TAG + "label_model": lineage["label_model"]["type"],
            TAG + "end_model": lineage["end_model"]["type"],
            **digest_tags(lineage),
        }
        for split, entry in lineage["data"].items():
            tags[f"{TAG}data.{split}.digest"] = entry["digest"]
            tags[f"{TAG}data.{split}.source"] = entry["source"]
            if entry.get("file_digest"):
                tags[f"{TAG}data.{split}.file_digest"] = entry["file_digest"]
        _log_batch(self._client, str(self.run_id_), tags=tags)
        lineage_path = tmp / "lineage.json"
        lineage_path.write_text(json.dumps(lineage, indent=2, default=str), encoding="utf-8")
        mlflow.log_artifact(str(lineage_path))
        return lineage

    def _register(self, mlflow: Any, name: str, model_uri: str, lineage: Mapping[str, Any]) -> str:
        tags = spread_tags(digest_tags(lineage))
        with _store.store_lock(self.tracking_uri_):
            version = mlflow.register_model(model_uri, name, tags=tags)
            try:
                self._client.set_registered_model_alias(name, CHALLENGER, version.version)
            except Exception:
                # A version without its alias would be a half-registered run: take it back.
                self._client.delete_model_version(name, version.version)
                raise
        return str(version.version)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts to ``a.b.c`` keys with string values (lists as JSON).

    Examples
    --------
    >>> flatten({"a": {"b": 1, "c": [1, 2]}, "d": None})
    {'a.b': '1', 'a.c': '[1, 2]', 'd': 'None'}
    """
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(list(value), default=str)
        else:
            flat[name] = str(value)
    return flat


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Flatten the pipeline's metric tree to MLflow metric keys.

    ``{"end_model": {"test": {"overall": {"f1": .9}, "slices": {"short": {"f1": .8}}}}}``
    becomes ``{"end_model.test.f1": .9, "end_model.test.slice.short.f1": .8}``.
    """
    flat: dict[str, float] = {}

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                key = str(key)
                step = [] if key == "overall" else ["slice"] if key == "slices" else [key]
                walk(value, path + step)
        elif _is_number(node):
            flat[metric_key(".".join(path))] = float(node)

    walk(metrics, [])
    return flat


def metric_key(name: str) -> str:
    """Replace characters MLflow does not accept in metric names by ``_``."""
    return _UNSAFE_KEY.sub("_", name)[:250]


def lower_is_better(metric: str) -> bool:
    """True for losses and errors, where a smaller value is an improvement."""
    return any(word in metric.lower() for word in _LOWER_IS_BETTER)


def primary_metric(spec_dict: Mapping[str, Any], metrics: Mapping[str, Any]) -> str | None:
    """The end model's headline test metric: the one the spec names, else the first reported.

    With several tasks, one name for all of them: the spec's metric (which applies to every
    task) when each task reports it, else the first that every task reports.
    """
    reported = []
    for task_metrics in by_task(metrics).values():
        test = task_metrics.get("end_model", {}).get("test", {})
        overall = test.get("overall", test) if isinstance(test, Mapping) else {}
        reported.append([str(k) for k, v in overall.items() if _is_number(v)])
    names = [n for n in reported[0] if all(n in other for other in reported)] if reported else []
    for candidate in _find_values(spec_dict, "metric"):
        if candidate in names:
            return candidate
    return names[0] if names else None


def by_task(metrics: Mapping[str, Any]) -> dict[str | None, Mapping[str, Any]]:
    """The pipeline's metric tree per task: ``{None: metrics}`` for a one-task run.

    A one-task run's tree starts with ``label_model`` / ``end_model``; a run of several tasks
    has one such tree per task name.
    """
    if any(stage in metrics for stage in _STAGES):
        return {None: metrics}
    return {str(task): tree for task, tree in metrics.items() if isinstance(tree, Mapping)}


def split_task(key: str) -> tuple[str | None, str]:
    """Split a logged metric key into its task and the one-task key.

    Runs of several tasks log ``<task>.end_model.test.f1`` where a one-task run logs
    ``end_model.test.f1``; task names may hold dots, so the task is everything before the
    first stage name.

    Examples
    --------
    >>> split_task("spam.v2.end_model.test.f1")
    ('spam.v2', 'end_model.test.f1')
    >>> split_task("label_model.dev.accuracy")
    (None, 'label_model.dev.accuracy')
    """
    if key.startswith(tuple(f"{stage}." for stage in _STAGES)):
        return None, key
    at = min((i for i in (key.find(f".{stage}.") for stage in _STAGES) if i > 0), default=-1)
    if at < 0:
        return None, key
    return key[:at], key[at + 1 :]


def build_lineage(result: Any, spec_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The chain data → cleaning → LFs → label model → end model, as a JSON-able dict.

    ``lfs`` holds each LF module's lineage by its path from the spec's folder (see
    :func:`~gristmill.tracking._sources.lf_lineage`), ``slices`` that of each slicing-function
    module (see :func:`~gristmill.tracking._sources.slice_lineage`); ``tasks`` the task names
    of a run of several tasks, whose metrics are keyed ``<task>.<split>.<metric>``.
    """
    data: dict[str, Any] = {}
    for split, (frame, source) in result.datasets.items():
        entry: dict[str, Any] = {
            "source": str(source),
            "digest": dataset_digest(frame),
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
        }
        source_path = source_file(str(source))
        if source_path is not None:
            entry["file"] = str(source_path)
            entry["file_digest"] = file_digest(source_path)
        data[str(split)] = entry
    trees = by_task(result.metrics)
    tasks = [t for t in trees if t is not None]

    def stage_metrics(stage: str) -> dict[str, float]:
        if not tasks:
            return flatten_metrics(result.metrics.get(stage, {}))
        return flatten_metrics({task: trees[task].get(stage, {}) for task in tasks})

    return {
        "data": data,
        "cleaning": _cleaning(result, spec_dict),
        "lfs": lf_lineage(result),
        "slices": slice_lineage(result),
        "lf_names": [str(n) for n in getattr(result.lf_summary, "index", [])],
        "tasks": tasks,
        "label_model": {**_label_model(result), "metrics": stage_metrics("label_model")},
        "end_model": {
            "type": type(result.model).__name__,
            "params": _params(result.model),
            "metrics": stage_metrics("end_model"),
            "classes": [str(c) for c in result.classes],
            "payload_columns": [str(c) for c in result.payload_columns],
        },
    }


def _label_model(result: Any) -> dict[str, Any]:
    """Type and parameters of the label model: of each task's, for a run of several tasks."""
    tasks = getattr(result, "tasks", None) or {}
    if result.label_model is None and len(tasks) > 1:
        models = {str(name): task.label_model for name, task in tasks.items()}
        return {
            "type": ", ".join(f"{name}: {_type_name(m)}" for name, m in models.items()),
            "params": {name: str(_params(m)) for name, m in models.items()},
        }
    return {"type": _type_name(result.label_model), "params": _params(result.label_model)}


def _type_name(model: Any) -> str:
    return type(model).__name__ if model is not None else "none"


def source_file(source: str) -> Path | None:
    """The data file a dataset description starts with, if any.

    The pipeline describes a split as ``"<path>"`` or ``"<path> where <filter> sample(...)"``;
    the longest leading run of words naming an existing file is the file.
    """
    words = source.split(" ")
    for end in range(len(words), 0, -1):
        candidate = Path(" ".join(words[:end]))
        try:
            if candidate.is_absolute() and candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def git_commit(directory: Path) -> str | None:
    """The HEAD commit of the git repository holding ``directory``, if any."""
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def _cleaning(result: Any, spec_dict: Mapping[str, Any]) -> Any:
    reported = getattr(result, "cleaning", None)
    if reported is not None:
        return json.loads(json.dumps(reported, default=str))
    for key in ("cleaning", "clean"):
        if key in spec_dict:
            return json.loads(json.dumps(spec_dict[key], default=str))
    return None


def _params(estimator: Any) -> dict[str, str]:
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    try:
        return {str(k): str(v) for k, v in get_params(deep=False).items()}
    except TypeError:
        return {str(k): str(v) for k, v in get_params().items()}


def _find_values(node: Any, key: str) -> Iterator[str]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from _find_values(v, key)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _find_values(item, key)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _log_batch(
    client: Any,
    run_id: str,
    *,
    params: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    model_id: str | None = None,
) -> None:
    """Log params, metrics and tags in as few store writes as MLflow's batch limits allow.

    Each write to an embedded SQLite store is a synced commit, so batching is what keeps the
    tracking overhead of a run low. Metrics with a ``model_id`` are also the logged model's.
    A tag value longer than a tag holds is kept whole in parts (see :func:`spread_tags`).
    """
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    param_items = [Param(metric_key(k), v[:_MAX_PARAM_VALUE]) for k, v in (params or {}).items()]
    metric_items = [
        Metric(k, float(v), now, 0, model_id=model_id) for k, v in (metrics or {}).items()
    ]
    tag_items = [RunTag(k, v) for k, v in spread_tags(tags or {}).items()]
    while param_items or metric_items or tag_items:
        client.log_batch(
            run_id,
            metrics=metric_items[:_BATCH_METRICS],
            params=param_items[:_BATCH],
            tags=tag_items[:_BATCH],
        )
        param_items = param_items[_BATCH:]
        metric_items = metric_items[_BATCH_METRICS:]
        tag_items = tag_items[_BATCH:]


def _log_lf_summary(mlflow: Any, summary: pd.DataFrame | None, tmp: Path) -> None:
    if summary is None:
        return
    table = summary.reset_index(names="lf")
    table.columns = [str(c) for c in table.columns]
    path = tmp / "lf_summary.csv"
    table.to_csv(path, index=False)
    mlflow.log_artifact(str(path))
    json_ready = table.astype(object).where(table.notna(), None)
    mlflow.log_table(data=json_ready, artifact_file="lf_summary.json")


def _log_run_dir(mlflow: Any, result: Any) -> None:
    report = getattr(result, "report_path", None)
    if report is not None and Path(report).is_file():
        mlflow.log_artifact(str(report), artifact_path="report")
    run_dir = getattr(result, "run_dir", None)
    if run_dir is not None:
        for name in ("metrics.json", "spec.yaml"):
            path = Path(run_dir) / name
            if path.is_file():
                mlflow.log_artifact(str(path), artifact_path="run")


def _log_datasets(mlflow: Any, result: Any, lineage: Mapping[str, Any], uri: str) -> None:
    with warnings.catch_warnings():
        # MLflow registers its local-file source twice (schemes "" and "file") and warns that a
        # path is ambiguous between the two identical classes; and it hints, when it infers a
        # dataset's schema, that integer columns cannot hold missing values. Neither asks
        # anything of the user.
        warnings.filterwarnings("ignore", message="The specified dataset source can be")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        _log_datasets_quietly(mlflow, result, lineage, uri)


def _log_datasets_quietly(mlflow: Any, result: Any, lineage: Mapping[str, Any], uri: str) -> None:
    import mlflow.data
    from mlflow.data.code_dataset_source import CodeDatasetSource

    datasets, contexts = [], []
    for split, (frame, source) in result.datasets.items():
        entry = lineage["data"][str(split)]
        location: Any = entry.get("file")
        if location is None:
            # A query or other non-file source: keep it as a description, not a location.
            location = CodeDatasetSource(tags={"source": str(source)})
        dataset = mlflow.data.from_pandas(
            frame,
            source=location,
            name=f"{result.name}-{split}",
            digest=entry["digest"],
        )
        datasets.append(dataset)
        contexts.append(str(split))
    if datasets:
        # MLflow looks a dataset up and inserts it when new, in two steps: runs in other
        # processes logging the same data must not interleave there.
        with _store.store_lock(uri):
            mlflow.log_inputs(
                datasets=datasets, contexts=contexts, tags_list=[None] * len(datasets)
            )


def digest_tags(lineage: Mapping[str, Any]) -> dict[str, str]:
    """The tags listing a run's data and LF digests, which ``models_trained_on`` searches.

    Each is a comma-separated list, sorted; a list too long for one tag is continued in
    numbered tags (see :func:`~gristmill.tracking._tags.tag_parts`).
    """
    return {
        TAG + "data_digests": ",".join(_all_data_digests(lineage)),
        TAG + "lf_digests": ",".join(_all_lf_digests(lineage)),
    }


def _all_data_digests(lineage: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for entry in lineage["data"].values():
        found.append(entry["digest"])
        if entry.get("file_digest"):
            found.append(entry["file_digest"])
    return sorted(set(found))


def _all_lf_digests(lineage: Mapping[str, Any]) -> list[str]:
    found: set[str] = set()
    for entry in lineage["lfs"].values():
        found.add(entry["digest"])
        found.update(entry["functions"].values())
        found.update(entry["helpers"].values())
    return sorted(found)
