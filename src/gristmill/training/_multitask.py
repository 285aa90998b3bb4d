"""The end model of a spec with several tasks: one :class:`EndModel` per task over shared inputs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError, ParameterError
from gristmill.io import replace_directory

__all__ = ["TASK_SEPARATOR", "MultiTaskModel", "load_multitask_model", "save_multitask_model"]

_FORMAT = "gristmill.multitask_model/1"
TASK_SEPARATOR = ":"
"""Joins a task name and a class or column name: ``spam:proba_ham``, ``topic:sports``."""


class MultiTaskModel:
    """Several tasks' end models, each predicting from the payload columns it reads.

    Parameters
    ----------
    models : mapping of str to EndModel
        Task name -> fitted end model, in the spec's task order.

    Attributes
    ----------
    classes : list of str
        ``"<task>:<class>"`` for every task and class, in the column order of
        :meth:`predict_proba`.
    """

    def __init__(self, models: Mapping[str, Any]) -> None:
        if not models:
            raise ParameterError("MultiTaskModel needs at least one task")
        self.models = dict(models)

    @property
    def tasks(self) -> list[str]:
        """The task names."""
        return list(self.models)

    @property
    def classes(self) -> list[str]:
        """Qualified ``"<task>:<class>"`` names, in :meth:`predict_proba` column order."""
        return [
            f"{task}{TASK_SEPARATOR}{c}"
            for task, model in self.models.items()
            for c in model.classes
        ]

    @property
    def payload_columns(self) -> list[str]:
        """The input columns any task reads, in first-use order."""
        columns: list[str] = []
        for model in self.models.values():
            columns += [c for c in model.payload_columns if c not in columns]
        return columns

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Each task's end-model parameters (scikit-learn convention)."""
        return {task: model.get_params() for task, model in self.models.items()}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return every task's probabilities side by side, columns as in :attr:`classes`."""
        return np.hstack([model.predict_proba(frame) for model in self.models.values()])

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return one column per task, ``<task>:prediction``, as each task's ``predict`` gives."""
        return pd.DataFrame(
            {
                f"{task}{TASK_SEPARATOR}prediction": model.predict(frame)
                for task, model in self.models.items()
            },
            index=frame.index,
        )

    def __repr__(self) -> str:
        return f"MultiTaskModel(tasks={self.tasks!r})"


def save_multitask_model(model: MultiTaskModel, path: str | os.PathLike[str]) -> Path:
    """Save every task's end model under ``path/<task>/`` beside ``multitask.json`` (atomic).

    Raises
    ------
    OutputError
        As :func:`~gristmill.training.save_end_model`.
    """
    from gristmill.training._end_model import check_model_target, save_end_model

    path = Path(path)
    check_model_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for task, member in model.models.items():
            save_end_model(member, tmp / task)
        meta = {"format": _FORMAT, "tasks": model.tasks}
        (tmp / "multitask.json").write_text(json.dumps(meta), encoding="utf-8")
        replace_directory(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def load_multitask_model(path: str | os.PathLike[str]) -> MultiTaskModel:
    """Load a model saved by :func:`save_multitask_model`.

    Raises
    ------
    DataError
        When ``path/multitask.json`` is missing or of an unknown format.
    """
    from gristmill.training._end_model import load_end_model

    meta_path = Path(path) / "multitask.json"
    if not meta_path.is_file():
        raise DataError(f"{path}: not a saved multi-task model (no multitask.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != _FORMAT:
        raise DataError(f"{meta_path}: unknown format {meta.get('format')!r}; expected {_FORMAT!r}")
    return MultiTaskModel({task: load_end_model(Path(path) / task) for task in meta["tasks"]})
