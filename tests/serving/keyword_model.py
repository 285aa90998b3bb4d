"""A small real pyfunc for the serving tests, logged as MLflow "model from code".

It scores spam by weighted keyword counts (weights from the ``weights`` artifact) and returns the
gristmill served-model output: ``prediction`` plus one ``proba_<class>`` column per class.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd


class KeywordModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):  # noqa: ANN001, ANN201 - MLflow's signature
        with open(context.artifacts["weights"], encoding="utf-8") as fh:
            spec = json.load(fh)
        self.weights = spec["weights"]
        self.bias = spec["bias"]
        self.classes = spec["classes"]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        text = model_input["text"].astype(str).str.lower()
        score = np.full(len(text), float(self.bias))
        for word, weight in self.weights.items():
            score += weight * text.str.count(word).to_numpy(dtype=float)
        score += 0.01 * model_input["length"].fillna(0).to_numpy(dtype=float)
        p = 1.0 / (1.0 + np.exp(-np.clip(score, -50.0, 50.0)))
        proba = np.column_stack([1 - p, p])
        return pd.DataFrame({
            "prediction": np.asarray(self.classes)[proba.argmax(axis=1)],
            **{f"proba_{c}": proba[:, i] for i, c in enumerate(self.classes)},
        })


mlflow.models.set_model(KeywordModel())
