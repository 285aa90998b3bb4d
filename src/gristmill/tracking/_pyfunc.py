"""The served model: an MLflow pyfunc wrapping a gristmill end model.

This module imports mlflow at the top because the wrapper must subclass
``mlflow.pyfunc.PythonModel``; it is only imported when a model is logged or loaded.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # Importing mlflow.pyfunc builds schemas for MLflow's own agent types and warns about their
    # ``Any`` type hints; that warning is about MLflow's code, not ours.
    warnings.filterwarnings(
        "ignore", message=".*type hint is inferred as AnyType", category=UserWarning
    )
    import mlflow.pyfunc

from gristmill._version import __version__
from gristmill.io import atomic_write_text, write_table
from gristmill.tracking._schema import plain_missing
from gristmill.tracking._sources import module_key
from gristmill.tracking._tasks import TASK_SEPARATOR

REFERENCE_ROWS = 5_000
MODEL_NAME = "model"
# Distributions the wrapper needs at inference. Listing them explicitly spares MLflow from
# inferring requirements, which loads the model in a subprocess (~12 s per model).
_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "pyyaml")


class GristmillPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Predict class names and class probabilities with a gristmill end model.

    The class names (in the column order of the end model's ``predict_proba``) and the payload
    columns are read from the ``bundle.json`` artifact when the model loads.

    Notes
    -----
    The pyfunc takes a DataFrame of the payload columns and returns a DataFrame with column
    ``prediction`` (the class name; for a multilabel task the labels of probability >= 0.5
    joined by the task's delimiter) and one column ``proba_<class>`` per class. A model of
    several tasks returns those columns per task, prefixed: ``<task>:prediction``,
    ``<task>:proba_<class>``.
    """

    def __init__(self) -> None:
        self.classes: list[str] = []
        self.tasks: list[dict[str, Any]] = []
        self.payload_columns: list[str] = []
        self.end_model: Any = None
        self.artifact_paths: dict[str, str] = {}

    def load_context(self, context: Any) -> None:
        """Load the end model, classes and payload columns from the model's artifacts."""
        from gristmill.training import load_end_model

        self.artifact_paths = dict(context.artifacts)
        meta = json.loads(Path(self.artifact_paths["bundle.json"]).read_text(encoding="utf-8"))
        self.classes = [str(c) for c in meta["classes"]]
        self.tasks = list(meta.get("tasks") or [])
        self.payload_columns = [str(c) for c in meta["payload_columns"]]
        self.end_model = load_end_model(Path(self.artifact_paths["end_model"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Return ``prediction`` and ``proba_<class>`` columns, one row per input row."""
        frame = pd.DataFrame(model_input)
        missing = [c for c in self.payload_columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"model input lacks the payload column(s) {missing}; "
                f"expected {self.payload_columns}, got {list(frame.columns)}"
            )
        proba = self.end_model.predict_proba(frame[self.payload_columns])
        return served_frame(proba, self.classes, self.tasks, frame.index)


def served_frame(
    proba: Any, classes: list[str], tasks: list[dict[str, Any]], index: pd.Index
) -> pd.DataFrame:
    """The served output of a model of one task, or of several (columns ``<task>:...``).

    ``tasks`` lists ``{"name", "kind", "classes", "delimiter"}`` per task as ``bundle.json``
    holds them (empty for a bundle written before tasks were recorded: one task, ``classes``).
    """
    if len(tasks) <= 1:
        delimiter = tasks[0].get("delimiter") if tasks else None
        return predictions_frame(proba, classes, index, delimiter=delimiter)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(
            f"the end model returned probabilities of shape {proba.shape}; "
            f"expected (n, {len(classes)}) for the classes of tasks {[t['name'] for t in tasks]}"
        )
    parts, start = [], 0
    for task in tasks:
        stop = start + len(task["classes"])
        part = predictions_frame(
            proba[:, start:stop], task["classes"], index, delimiter=task.get("delimiter")
        )
        parts.append(part.add_prefix(f"{task['name']}{TASK_SEPARATOR}"))
        start = stop
    return pd.concat(parts, axis=1)


def predictions_frame(
    proba: Any, classes: list[str], index: pd.Index, *, delimiter: str | None = None
) -> pd.DataFrame:
    """Build the served output from an (n, k) probability array.

    With ``delimiter`` (a multilabel task) the probabilities are per label and ``prediction``
    joins the labels of probability >= 0.5 with it.
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(
            f"the end model returned probabilities of shape {proba.shape}; "
            f"expected (n, {len(classes)}) for classes {classes}"
        )
    names = np.asarray(classes, dtype=object)
    predicted = (
        [delimiter.join(names[row >= 0.5]) for row in proba]
        if delimiter is not None
        else names[proba.argmax(axis=1)]
    )
    out = pd.DataFrame({"prediction": predicted}, index=index)
    out["prediction"] = out["prediction"].astype(str)
    for j, name in enumerate(classes):
        out[f"proba_{name}"] = proba[:, j]
    return out


def pip_requirements() -> list[str]:
    """Pinned requirements of the served model (gristmill plus what the wrapper imports)."""
    pinned = [f"gristmill=={__version__}"]
    for dist in _REQUIREMENTS:
        try:
            pinned.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(dist)
    return pinned


def stage_artifacts(result: Any, staging: Path, lf_dir: Path) -> dict[str, str]:
    """Write the model bundle's artifacts into ``staging`` and return them by name.

    The bundle holds ``end_model/``, ``lfs/`` (a copy of ``lf_dir``: the LF modules and the
    helper modules they import), ``label_model/``, ``reference.parquet``, ``spec.yaml`` and
    ``bundle.json``, whose ``lf_modules`` names the LF modules among the files of ``lfs/`` in
    the order the pipeline applied them, and ``task_lf_modules`` those of each task, each by
    its path from the spec's folder (see :func:`~gristmill.tracking._sources.module_key`; see
    also docs/CONTRACTS.md, "Served model and model bundle").
    """
    from gristmill.training import save_end_model

    artifacts: dict[str, str] = {}
    save_end_model(result.model, staging / "end_model")
    artifacts["end_model"] = str(staging / "end_model")

    shutil.copytree(lf_dir, staging / "lfs")
    artifacts["lfs"] = str(staging / "lfs")

    tasks = task_meta(result)
    if result.label_model is not None:
        result.label_model.save(staging / "label_model")
        artifacts["label_model"] = str(staging / "label_model")
    elif len(tasks) > 1:  # several tasks: label_model/<task>/
        for name, task in result.tasks.items():
            task.label_model.save(staging / "label_model" / name)
        artifacts["label_model"] = str(staging / "label_model")

    reference = reference_sample(result)
    write_table(reference, staging / "reference.parquet")
    artifacts["reference.parquet"] = str(staging / "reference.parquet")

    spec_copy = staging / "spec.yaml"
    shutil.copy2(result.spec_path, spec_copy)
    artifacts["spec.yaml"] = str(spec_copy)

    spec_dir = Path(result.spec_path).parent
    meta = {
        "classes": [str(c) for c in result.classes],
        "payload_columns": [str(c) for c in result.payload_columns],
        "tasks": tasks,
        "lf_modules": [module_key(path, spec_dir) for path in result.lf_paths],
        "task_lf_modules": {
            str(name): [module_key(path, spec_dir) for path in task.lf_paths]
            for name, task in (getattr(result, "tasks", None) or {}).items()
        },
    }
    atomic_write_text(staging / "bundle.json", json.dumps(meta))
    artifacts["bundle.json"] = str(staging / "bundle.json")
    return artifacts


def task_meta(result: Any) -> list[dict[str, Any]]:
    """Name, kind, classes and (multilabel) delimiter of each task of a pipeline result."""
    tasks = []
    for name, task in (getattr(result, "tasks", None) or {}).items():
        spec_task = result.spec.tasks[name]
        tasks.append(
            {
                "name": str(name),
                "kind": task.kind,
                "classes": [str(c) for c in task.classes],
                "delimiter": spec_task.label_delimiter if spec_task.multilabel else None,
            }
        )
    return tasks


def reference_sample(result: Any) -> pd.DataFrame:
    """At most 5,000 training rows of the payload columns (a fixed, seeded sample).

    Columns of pandas' nullable dtypes come in the types MLflow's schema takes with a missing
    value (its check turns ``pd.NA`` into NaN, which a ``boolean`` or ``long`` column refuses):
    whole numbers as floats, booleans as objects holding None.
    """
    train = result.datasets["train"][0][list(result.payload_columns)]
    if len(train) > REFERENCE_ROWS:
        train = train.sample(n=REFERENCE_ROWS, random_state=0)
    return _without_nullable_dtypes(train.reset_index(drop=True))


def _without_nullable_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`plain_missing` applied to every column."""
    out = frame.copy()
    for position, (_, column) in enumerate(frame.items()):
        out.isetitem(position, plain_missing(column))
    return out


def log_pyfunc(result: Any, staging: Path, lf_dir: Path) -> Any:
    """Log the end model of ``result`` as a pyfunc model in the active run.

    ``lf_dir`` holds the LF modules and their helpers (see :func:`stage_artifacts`).

    Returns
    -------
    mlflow.models.model.ModelInfo
        Where the model was logged (``model_uri``).
    """
    from mlflow.models import infer_signature

    artifacts = stage_artifacts(result, staging, lf_dir)
    reference = reference_sample(result)
    example = reference.head(3)
    classes = [str(c) for c in result.classes]
    output = served_frame(
        result.model.predict_proba(example), classes, task_meta(result), example.index
    )
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; the served model's
        # schema is the training data's, so that hint is no action for us.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        # The input types come from the whole reference sample, not the example's three rows:
        # a payload some training rows miss (a date) is then optional, and no column's type is
        # guessed from three values that happen to be missing.
        signature = infer_signature(reference, output)
        return _log_model(artifacts, example, signature)


def _log_model(artifacts: dict[str, str], example: pd.DataFrame, signature: Any) -> Any:
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(Path(__file__).with_name("_served_model.py")),
        artifacts=artifacts,
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
    )
