"""The output columns of one task of a model that predicts several (``<task>:<column>``)."""

from __future__ import annotations

import pandas as pd

from gristmill.exceptions import ServingError

# Between a task's name and a column name in the output of a several-task model.
TASK_SEPARATOR = ":"


def task_columns(frame: pd.DataFrame, task: str | None) -> pd.DataFrame:
    """The columns ``<task>:...`` of a several-task model's output, without the prefix.

    ``task=None`` returns ``frame`` itself (a one-task model's output).

    Raises
    ------
    ServingError
        When the output holds no column of ``task``.
    """
    if task is None:
        return frame
    prefix = f"{task}{TASK_SEPARATOR}"
    columns = [c for c in frame.columns if str(c).startswith(prefix)]
    if not columns:
        raise ServingError(
            f"the model output has no columns of task {task!r}; got {list(frame.columns)}"
        )
    return frame[columns].rename(columns=lambda c: str(c)[len(prefix) :])
