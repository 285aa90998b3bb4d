"""ModelBundle: a registered model with everything serving and monitoring need beside it."""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gristmill.exceptions import TrackingError
from gristmill.io import read_table
from gristmill.tracking import _store
from gristmill.tracking._registry import ModelRef, resolve_version
from gristmill.tracking._sources import kept_path
from gristmill.tracking._tasks import task_columns


class ModelBundle:
    """A loaded model version: the pyfunc, the end model, its LFs, label model and reference data.

    Built by :func:`load_bundle`; see docs/CONTRACTS.md, "Served model and model bundle".
    ``lfs`` and ``label_model`` are loaded on first access.

    Attributes
    ----------
    name, version, alias, run_id : str (alias may be None)
    pyfunc : mlflow.pyfunc.PyFuncModel
        Predicts ``prediction`` and ``proba_<class>`` columns from payload columns.
    end_model : object
        The fitted end model (``predict_proba(frame)``).
    reference : pandas.DataFrame
        Up to 5,000 training rows of the payload columns.
    classes, payload_columns : list of str
    spec : dict
        The pipeline spec the model was trained from.
    artifacts : dict of str to pathlib.Path
        Local paths of the bundle's artifacts.
    """

    def __init__(
        self,
        *,
        name: str,
        version: str,
        alias: str | None,
        run_id: str,
        pyfunc: Any,
        artifacts: dict[str, Path],
    ) -> None:
        python_model = pyfunc.unwrap_python_model()
        self.name = name
        self.version = version
        self.alias = alias
        self.run_id = run_id
        self.pyfunc = pyfunc
        self.artifacts = artifacts
        self.end_model = python_model.end_model
        self.classes = list(python_model.classes)
        self.tasks: list[dict[str, Any]] = list(getattr(python_model, "tasks", None) or [])
        self.task: str | None = None
        self.payload_columns = list(python_model.payload_columns)
        self.reference: pd.DataFrame = read_table(artifacts["reference.parquet"])
        self.spec: dict[str, Any] = (
            yaml.safe_load(artifacts["spec.yaml"].read_text(encoding="utf-8")) or {}
        )
        meta = json.loads(artifacts["bundle.json"].read_text(encoding="utf-8"))
        self._lf_modules: list[str] | None = meta.get("lf_modules")
        self._task_lf_modules: dict[str, list[str]] = meta.get("task_lf_modules", {})

    @functools.cached_property
    def lfs(self) -> list[Any]:
        """The labeling functions the training labels came from, in the order the pipeline used.

        Modules in the order the spec lists them (task by task), each module's LFs in
        definition order: the column order of the label model's votes.
        """
        from gristmill.labeling import load_lfs

        modules = self._lf_modules
        task = self.task
        if task is not None and task in self._task_lf_modules:
            modules, task = self._task_lf_modules[task], None
        files = lf_files(self.artifacts["lfs"], self.spec, task=task, modules=modules)
        return [lf for path in files for lf in load_lfs(path)]

    @functools.cached_property
    def label_model(self) -> Any:
        """The fitted label model, or None when the pipeline used none.

        A multilabel task's is a :class:`~gristmill.labelmodel.BinaryRelevanceLabelModel`.
        """
        path = self.artifacts.get("label_model")
        if path is not None and self.task is not None:
            path = path / self.task
        if path is None or not path.exists():
            return None
        from gristmill.labelmodel import load_label_model

        return load_label_model(path)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``bundle.pyfunc.predict(frame)``; a task's view keeps that task's columns, unprefixed."""
        return task_columns(self.pyfunc.predict(frame), self.task)

    def for_task(self, task: str) -> ModelBundle:
        """The bundle as one of its tasks: that task's classes, LFs, label model and predictions.

        A model of one task is its own view.

        Raises
        ------
        TrackingError
            When the model has no task of that name.
        """
        names = [str(t["name"]) for t in self.tasks]
        if task not in names:
            raise TrackingError(
                f"model {self.name}/{self.version} has no task {task!r}; its tasks: {names}"
            )
        if len(names) == 1:
            return self
        view = copy.copy(self)
        for cached in ("lfs", "label_model"):  # cached_property values of the whole bundle
            view.__dict__.pop(cached, None)
        view.task = task
        view.classes = [str(c) for c in self.tasks[names.index(task)]["classes"]]
        return view

    def __repr__(self) -> str:
        return f"ModelBundle({self.name!r}, version={self.version!r}, alias={self.alias!r})"


def lf_files(
    lf_dir: Path,
    spec: dict[str, Any],
    *,
    task: str | None = None,
    modules: list[str] | None = None,
) -> list[Path]:
    """The LF modules of a bundle in the order the pipeline applied them.

    ``modules`` names the LF modules among the bundle's files (the rest are helper modules
    they import) in that order, each by its path from the spec's folder (see
    :func:`~gristmill.tracking._sources.module_key`). Older bundles are read by the spec:
    without ``modules`` (logged before helpers were kept: every file is an LF module), or with
    ``task`` (logged before each task's modules were listed: ``modules`` are file names), the
    modules come in the order of each task's ``supervision.lfs``, task by task, matched by
    file name; with ``task`` that task's alone, else any other module after them, by name.
    """
    if modules is not None and task is None:
        return [lf_dir / kept_path(key) for key in modules if (lf_dir / kept_path(key)).is_file()]
    listed: list[str] = []
    found = spec.get("tasks")
    tasks: dict[str, Any] = found if isinstance(found, dict) else {}
    chosen = [tasks.get(task)] if task is not None else list(tasks.values())
    for task_spec in chosen:
        supervision = task_spec.get("supervision") if isinstance(task_spec, dict) else None
        for module in (supervision or {}).get("lfs") or []:
            name = Path(str(module)).name
            if name not in listed:
                listed.append(name)
    present = {
        path.name: path for path in lf_dir.glob("*.py") if modules is None or path.name in modules
    }
    ordered = [present[name] for name in listed if name in present]
    if task is not None:
        return ordered
    return ordered + [present[name] for name in sorted(present) if name not in listed]


def load_bundle(
    ref: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> ModelBundle:
    """Load a registered model version and its bundle.

    Parameters
    ----------
    ref : str
        ``"NAME@ALIAS"`` (e.g. ``"spam@champion"``) or ``"NAME/VERSION"``.
    project_dir, tracking_uri
        Where the store is (see :func:`resolve_tracking_uri`).

    Returns
    -------
    ModelBundle

    Raises
    ------
    TrackingError
        When the store is unreachable, the reference resolves to no version, or the version
        cannot be loaded or was not logged by gristmill.
    """
    parsed = ModelRef.parse(ref)
    client = _store.connect(project_dir, tracking_uri)
    version = resolve_version(client, parsed)
    from gristmill.tracking._pyfunc import GristmillPyfunc, mlflow

    pinned = f"{version.name}/{version.version}"
    try:
        with _store.fluent_api_on(client.tracking_uri):
            pyfunc = mlflow.pyfunc.load_model(f"models:/{pinned}")
    except Exception as exc:  # MLflow raises many types for a model it cannot load
        raise TrackingError(f"cannot load model {pinned}: {exc}") from exc
    try:
        python_model = pyfunc.unwrap_python_model()
    except mlflow.exceptions.MlflowException:  # another flavour than a python model
        python_model = None
    if not isinstance(python_model, GristmillPyfunc):
        raise TrackingError(
            f"model {pinned} was not logged by gristmill (it has no gristmill bundle); "
            "load it with mlflow.pyfunc.load_model"
        )
    paths = {k: Path(v) for k, v in python_model.artifact_paths.items()}
    return ModelBundle(
        name=version.name,
        version=str(version.version),
        alias=parsed.alias,
        run_id=version.run_id,
        pyfunc=pyfunc,
        artifacts=paths,
    )
