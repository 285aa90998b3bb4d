"""Payload columns of pandas' nullable dtypes, as MLflow's model schema takes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from gristmill.tracking._pyfunc import _without_nullable_dtypes
from gristmill.tracking._schema import plain_missing


def _nullable_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "verified": pd.array([True, None, False], dtype="boolean"),
            "likes": pd.array([4, None, 7], dtype="Int64"),
            "score": pd.array([0.5, None, 1.5], dtype="Float64"),
            "text": ["a", "b", "c"],
        }
    )


def test_gaps_in_nullable_columns_become_none_or_nan() -> None:
    frame = _nullable_frame()
    assert plain_missing(frame["verified"]).tolist() == [True, None, False]
    assert plain_missing(frame["verified"]).dtype == object
    likes = plain_missing(frame["likes"])
    assert likes.dtype == np.float64 and likes.iloc[0] == 4.0 and np.isnan(likes.iloc[1])
    assert plain_missing(frame["score"]).dtype == np.float64


def test_columns_without_gaps_are_left_as_they_are() -> None:
    whole = pd.Series(pd.array([1, 2], dtype="Int64"))
    assert plain_missing(whole) is whole
    text = pd.Series(["a", None])
    assert plain_missing(text) is text


class _Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input[["likes"]]


def test_mlflow_takes_the_retyped_frame_as_example_and_input(tmp_path: Path) -> None:
    frame = _without_nullable_dtypes(_nullable_frame())
    mlflow.pyfunc.save_model(
        tmp_path / "model",
        python_model=_Echo(),
        signature=infer_signature(frame),
        input_example=frame,  # MLflow checks the example against the signature
        pip_requirements=[],
    )
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    out = loaded.predict(_without_nullable_dtypes(_nullable_frame()))
    assert out["likes"].iloc[0] == 4.0 and np.isnan(out["likes"].iloc[1])
