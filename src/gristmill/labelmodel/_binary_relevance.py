"""Binary relevance: one binary label model per label of a multilabel task.

Votes follow the multilabel convention (:mod:`gristmill.pipeline._multilabel`): with k labels a
source votes ``j`` for "label j applies", ``k + j`` for "label j does not apply", or ``-1``.

The label model is decomposed ("binary relevance", as Tsoumakas & Katakis 2007 name it): label
``c_j`` gets its own binary label model over the sources that vote on it ("present" = class 1). A
row no source votes on for a label gets that label's prior, so the prior decides what abstention
means, and one-sided sources (LFs that only ever say "present") say nothing about how common a
label is: left to estimate it from their votes, a label model takes most rows to carry it. The
prior of each label is therefore fixed before fitting: the share of "present" among the votes of
its *two-sided* sources (those voting both ways on it in training, such as label columns); without
any, the share of training rows with a "present" vote. Given dev labels (``L_dev``, ``Y_dev``;
the spec's ``use_dev: true``) the label model learns from them instead. ``name="auto"`` picks,
per label, the latent-variable
``LabelModel`` when at least three sources vote both ways on the label (what lets it tell a
source's accuracy from the label's prevalence), else majority vote: one-sided sources (an LF that
only says "applies", or only "does not apply") leave accuracy and prevalence confounded, and
majority vote does not need them apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.exceptions import DataError
from gristmill.io import atomic_write_text
from gristmill.labeling._matrix import ABSTAIN

__all__ = ["MIN_TWO_SIDED", "BinaryRelevanceLabelModel", "binary_votes"]

_FORMAT = "gristmill.binary_relevance/1"
MIN_TWO_SIDED = 3
"""Two-sided sources a label needs before ``auto`` fits the latent-variable LabelModel to it."""


def binary_votes(L: np.ndarray, label: int, k: int) -> np.ndarray:
    """Votes on one label as a binary matrix: 1 = applies, 0 = does not, -1 = abstain."""
    L = np.asarray(L)
    return np.where(L == label, 1, np.where(L == k + label, 0, ABSTAIN)).astype(np.int8)


class BinaryRelevanceLabelModel:
    """One binary label model per label of a multilabel task.

    Parameters
    ----------
    classes : sequence of str
        The labels.
    name : str, default "auto"
        Label model of every label (see :func:`gristmill.labelmodel.get_label_model`).
    **params
        Its parameters.

    Attributes
    ----------
    models_ : list
        The fitted binary label model of each label.
    names_ : list of str
        The label model used for each label (``auto`` resolved, see the module docs).
    sources_ : list of list of int
        The label-matrix columns each label's model reads (those voting on it in training).
    """

    def __init__(self, classes: Sequence[str], *, name: str = "auto", **params: Any) -> None:
        self.classes = list(classes)
        self.name = name
        self.params = params

    @property
    def cardinality_(self) -> int:
        """The number of labels."""
        return len(self.classes)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn convention)."""
        return {"classes": self.classes, "name": self.name, **self.params}

    def fit(
        self,
        L: Any,
        *,
        seed: int = 0,
        L_dev: np.ndarray | None = None,
        Y_dev: np.ndarray | None = None,
        source_names: Sequence[str] | None = None,
    ) -> BinaryRelevanceLabelModel:
        """Fit each label's model on the votes about that label.

        Raises
        ------
        DataError
            Naming the label when no source votes on it in ``L``.
        """
        from gristmill.labelmodel import get_label_model

        L = np.asarray(L.to_numpy() if hasattr(L, "to_numpy") else L, dtype=np.int64)
        k = len(self.classes)
        self.models_, self.sources_, self.names_ = [], [], []
        for j, label in enumerate(self.classes):
            votes = binary_votes(L, j, k)
            sources = np.flatnonzero((votes != ABSTAIN).any(axis=0))
            if sources.size == 0:
                known = f" ({', '.join(source_names)})" if source_names else ""
                raise DataError(
                    f"label {label!r} gets no vote from any supervision source{known} on the "
                    f"training data; add an LF that votes {j} (applies) or {k + j} (does not "
                    f"apply), or a label column listing it"
                )
            votes = votes[:, sources]
            fit_kwargs: dict[str, Any] = {"seed": seed}
            if L_dev is not None and Y_dev is not None:
                fit_kwargs.update(
                    L_dev=binary_votes(L_dev, j, k)[:, sources], y_dev=np.asarray(Y_dev)[:, j]
                )
            else:
                share = _prior(votes)
                fit_kwargs["class_balance"] = [1.0 - share, share]
            name = self.name
            if name == "auto" and _two_sided(votes).sum() < MIN_TWO_SIDED:
                name = "majority_vote"
            params = self.params if name == self.name else {}
            model = get_label_model(name, cardinality=2, **params)
            self.models_.append(model.fit(votes, **fit_kwargs))
            self.sources_.append([int(s) for s in sources])
            self.names_.append(name)
        return self

    def predict_proba(self, L: Any) -> np.ndarray:
        """Return (n, k) probabilities that each label applies."""
        if not hasattr(self, "models_"):
            from gristmill.exceptions import NotFittedError

            raise NotFittedError("This BinaryRelevanceLabelModel is not fitted yet.")
        L = np.asarray(L.to_numpy() if hasattr(L, "to_numpy") else L, dtype=np.int64)
        k = len(self.classes)
        return np.column_stack(
            [
                np.asarray(model.predict_proba(binary_votes(L, j, k)[:, sources]))[:, 1]
                for j, (model, sources) in enumerate(zip(self.models_, self.sources_, strict=True))
            ]
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save every label's model under ``path/<j>/`` beside ``binary_relevance.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for j, model in enumerate(self.models_):
            model.save(path / str(j))
        meta = {
            "format": _FORMAT,
            "classes": self.classes,
            "name": self.name,
            "params": self.params,
            "sources": self.sources_,
            "names": self.names_,
        }
        atomic_write_text(path / "binary_relevance.json", json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BinaryRelevanceLabelModel:
        """Load a model saved by :meth:`save`."""
        from gristmill.labelmodel import load_label_model

        path = Path(path)
        meta = json.loads((path / "binary_relevance.json").read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise DataError(f"{path}: unknown format {meta.get('format')!r}; expected {_FORMAT!r}")
        model = cls(meta["classes"], name=meta["name"], **meta["params"])
        model.sources_ = [list(s) for s in meta["sources"]]
        model.names_ = list(meta["names"])
        model.models_ = [load_label_model(path / str(j)) for j in range(len(model.classes))]
        return model

    def __repr__(self) -> str:
        return f"BinaryRelevanceLabelModel(classes={self.classes!r}, name={self.name!r})"


def _two_sided(votes: np.ndarray) -> np.ndarray:
    """Which sources vote both "applies" (1) and "does not apply" (0) in binary votes."""
    return (votes == 1).any(axis=0) & (votes == 0).any(axis=0)


def _prior(votes: np.ndarray) -> float:
    """A label's prior from its binary votes (see the module docs), kept inside [0.01, 0.99]."""
    two_sided = _two_sided(votes)
    if two_sided.any():
        cast = votes[:, two_sided]
        share = float((cast == 1).sum() / max((cast != ABSTAIN).sum(), 1))
    else:
        share = float((votes == 1).any(axis=1).mean())
    return min(max(share, 0.01), 0.99)
