"""Multilabel tasks: label sets, per-label votes, and one binary label model per label.

Supervision convention (see README, "Multilabel tasks"). A task with classes ``c_0 .. c_{k-1}``
lets every row carry any subset of them. A vote is one integer per source and row:

* ``j`` (``0 <= j < k``) says "label ``c_j`` applies";
* ``k + j`` says "label ``c_j`` does not apply";
* ``-1`` (``ABSTAIN``) says nothing, about any label.

An LF votes on one label per row: one that recognises "sports" says nothing about "politics"
(it abstains there), so it never implies a negative. A label column or a gold column holds a
*complete* label set per row (a list, or a delimiter-separated string such as ``"a|b"``, or
``"[]"`` for the empty set): every listed label applies and every other label does not; a missing
value abstains on every label. Label columns are split into one source per label
(``column:<name>:<label>``) voting ``j`` or ``k + j``.

The label model is decomposed ("binary relevance", as Tsoumakas & Katakis 2007 name it): label
``c_j`` gets its own binary label model over the sources that vote on it ("present" = class 1). A
row no source votes on for a label gets that label's prior, so the prior decides what abstention
means, and one-sided sources (LFs that only ever say "present") say nothing about how common a
label is: left to estimate it from their votes, a label model takes most rows to carry it. The
prior of each label is therefore fixed before fitting: the share of "present" among the votes of
its *two-sided* sources (those voting both ways on it in training, such as label columns); without
any, the share of training rows with a "present" vote. With ``use_dev: true`` the label model sees
the gold dev labels instead. ``label_model: auto`` picks, per label, the latent-variable
``LabelModel`` when at least three sources vote both ways on the label (what lets it tell a
source's accuracy from the label's prevalence), else majority vote: one-sided sources (an LF that
only says "applies", or only "does not apply") leave accuracy and prevalence confounded, and
majority vote does not need them apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError
from gristmill.labeling._matrix import ABSTAIN

__all__ = [
    "BinaryRelevanceLabelModel",
    "binary_votes",
    "label_set_votes",
    "label_sets",
    "multilabel_lf_summary",
]

_FORMAT = "gristmill.binary_relevance/1"
MIN_TWO_SIDED = 3
"""Two-sided sources a label needs before ``auto`` fits the latent-variable LabelModel to it."""


def _items(value: Any, delimiter: str) -> list[Any] | None:
    """The items of one label-set cell, or None when the cell is missing."""
    if isinstance(value, list | tuple | set | np.ndarray):
        return list(value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    return [part.strip() for part in text.split(delimiter) if part.strip()]


def label_sets(
    values: pd.Series,
    classes: Sequence[str],
    delimiter: str,
    mapping: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, list[Any]]:
    """Parse a column of label sets into (n, k) indicators.

    An item matches a class by name, else an integer ``0 <= v < k`` is a class index; with
    ``mapping`` (raw item as text -> class name) only the mapping is used.

    Returns
    -------
    (ndarray of int8, list)
        Indicators (1 = the label applies, 0 = it does not, a row of -1 where the cell is
        missing), and the distinct items that match no class.
    """
    from gristmill.pipeline._stages import class_indices

    k = len(classes)
    out = np.full((len(values), k), ABSTAIN, dtype=np.int8)
    unknown: list[Any] = []
    for row, value in enumerate(values):
        items = _items(value, delimiter)
        if items is None:
            continue
        indices, bad = class_indices(pd.Series(items, dtype=object), classes, mapping)
        unknown += [b for b in bad if b not in unknown]
        out[row] = 0
        out[row, indices[indices >= 0]] = 1
    return out, unknown


def label_set_votes(indicators: np.ndarray) -> np.ndarray:
    """Turn (n, k) label-set indicators into k sources voting ``j`` (applies) or ``k + j``."""
    k = indicators.shape[1]
    label = np.arange(k)[None, :]
    return np.where(indicators == 1, label, np.where(indicators == 0, k + label, ABSTAIN))


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
        (path / "binary_relevance.json").write_text(json.dumps(meta), encoding="utf-8")
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


def multilabel_lf_summary(
    L: np.ndarray, names: Sequence[str], classes: Sequence[str], y: np.ndarray | None = None
) -> pd.DataFrame:
    """Per source: the votes it casts (``+label`` / ``-label``), coverage, empirical accuracy.

    With (n, k) gold indicators ``y``, ``Emp. Acc.`` is the share of a source's votes that
    are right: a ``+label`` vote on a row carrying the label, a ``-label`` vote on one that
    does not.
    """
    L = np.asarray(L, dtype=np.int64)
    k = len(classes)
    rows: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        column = L[:, j]
        voted = column != ABSTAIN
        cast = sorted(set(column[voted].tolist()))
        entry: dict[str, Any] = {
            "j": j,
            "Polarity": [f"+{classes[v]}" if v < k else f"-{classes[v - k]}" for v in cast],
            "Coverage": float(voted.mean()) if len(column) else 0.0,
        }
        if y is not None:
            hits = [
                bool(y[i, v] == 1) if v < k else bool(y[i, v - k] == 0)
                for i, v in zip(np.flatnonzero(voted), column[voted], strict=True)
            ]
            entry["Emp. Acc."] = float(np.mean(hits)) if hits else float("nan")
        rows[str(name)] = entry
    return pd.DataFrame.from_dict(rows, orient="index")
