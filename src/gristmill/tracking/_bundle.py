"""ModelBundle: a registered model with everything serving and monitoring need beside it."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gristmill.io import read_table
from gristmill.tracking import _store
from gristmill.tracking._registry import ModelRef, resolve_version


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
        self.payload_columns = list(python_model.payload_columns)
        self.reference: pd.DataFrame = read_table(artifacts["reference.parquet"])
        self.spec: dict[str, Any] = (
            yaml.safe_load(artifacts["spec.yaml"].read_text(encoding="utf-8")) or {}
        )

    @functools.cached_property
    def lfs(self) -> list[Any]:
        """The labeling functions the training labels came from, in the order the pipeline used.

        Modules in the order the spec lists them (task by task), each module's LFs in
        definition order: the column order of the label model's votes.
        """
        from gristmill.labeling import load_lfs

        return [lf for path in lf_files(self.artifacts["lfs"], self.spec) for lf in load_lfs(path)]

    @functools.cached_property
    def label_model(self) -> Any:
        """The fitted label model, or None when the pipeline used none."""
        path = self.artifacts.get("label_model")
        if path is None or not path.exists():
            return None
        from gristmill.labelmodel import load_label_model

        return load_label_model(path)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Shortcut for ``bundle.pyfunc.predict(frame)``."""
        return self.pyfunc.predict(frame)

    def __repr__(self) -> str:
        return f"ModelBundle({self.name!r}, version={self.version!r}, alias={self.alias!r})"


def lf_files(lf_dir: Path, spec: dict[str, Any]) -> list[Path]:
    """The LF modules of a bundle in the order the pipeline applied them.

    That is the order of each task's ``supervision.lfs`` in the spec, task by task (the bundle
    keeps the modules' file names); any other module comes after, by name.
    """
    listed: list[str] = []
    tasks = spec.get("tasks") if isinstance(spec.get("tasks"), dict) else {}
    for task in tasks.values():
        supervision = task.get("supervision") if isinstance(task, dict) else None
        for module in (supervision or {}).get("lfs") or []:
            name = Path(str(module)).name
            if name not in listed:
                listed.append(name)
    present = {path.name: path for path in lf_dir.glob("*.py")}
    ordered = [present[name] for name in listed if name in present]
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
        When the store is unreachable or the reference resolves to no version.
    """
    parsed = ModelRef.parse(ref)
    client = _store.connect(project_dir, tracking_uri)
    version = resolve_version(client, parsed)
    from gristmill.tracking._pyfunc import mlflow

    pyfunc = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    paths = {k: Path(v) for k, v in pyfunc.unwrap_python_model().artifact_paths.items()}
    return ModelBundle(
        name=version.name,
        version=str(version.version),
        alias=parsed.alias,
        run_id=version.run_id,
        pyfunc=pyfunc,
        artifacts=paths,
    )
