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
the spec's ``use_dev: true``) it is the share of dev rows carrying the label, and the label
models that can learn from the dev labels do. ``name="auto"`` picks, per label, the
latent-variable ``LabelModel`` when at least three sources vote both ways on the label (what lets
it tell a source's accuracy from the label's prevalence), else majority vote: one-sided sources
(an LF that only says "applies", or only "does not apply") leave accuracy and prevalence
confounded, and majority vote does not need them apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.exceptions import DataError, NotFittedError, ParameterError
from gristmill.io import atomic_write_text
from gristmill.labeling._matrix import (
    ABSTAIN,
    LabelMatrix,
    as_label_array,
    as_label_input,
    in_lf_order,
)

__all__ = ["MIN_TWO_SIDED", "BinaryRelevanceLabelModel", "binary_votes"]

_FORMAT = "gristmill.binary_relevance/1"
META_FILE = "binary_relevance.json"
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
    n_sources_ : int
        Number of sources (label-matrix columns) m it was fit on.
    lf_names_ : list of str or None
        Their names, when fit on a :class:`~gristmill.LabelMatrix` or a DataFrame. Matrices
        given to :meth:`predict_proba` that name their sources are matched to them by name.
    lf_accuracies_ : ndarray of shape (m,)
        Estimated P(vote is right | source votes): each label's model's estimate for the source,
        averaged over the labels weighted by the source's training votes on each; NaN for
        sources that never vote.
    """

    n_sources_: int
    lf_names_: list[str] | None
    lf_accuracies_: np.ndarray

    def __init__(self, classes: Sequence[str], *, name: str = "auto", **params: Any) -> None:
        self.classes = _checked_classes(classes)
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
        L_dev: Any = None,
        Y_dev: Any = None,
    ) -> BinaryRelevanceLabelModel:
        """Fit each label's model on the votes about that label.

        Parameters
        ----------
        L : LabelMatrix, DataFrame, ndarray of shape (n, m) or scipy.sparse matrix
            Votes ``j`` (label j applies), ``k + j`` (it does not) or -1. A LabelMatrix's LF
            names (a DataFrame's columns) are kept as ``lf_names_``.
        seed : int, default 0
            Seed of every label's fit.
        L_dev, Y_dev : label matrix and array-like of shape (n_dev, k), optional
            Votes and gold label indicators (1 = the label applies, 0 = it does not) of a
            labeled dev set: each label's prior is its share of the dev rows, and the label
            models that can learn from dev labels do. A LabelMatrix ``L_dev`` naming its LFs is
            matched to ``L``'s by name.

        Raises
        ------
        DataError
            When ``L`` has no rows or no columns, a vote is no label's (naming the source and
            row), only one of ``L_dev`` and
            ``Y_dev`` is given or they do not fit ``L`` and the labels, or no source votes on a
            label in ``L`` (naming the label and the sources).
        """
        L = as_label_input(L)
        names = list(L.lf_names) if isinstance(L, LabelMatrix) else None
        values = self._checked_votes(L, names, "L")
        if 0 in values.shape:
            raise DataError(
                f"The label matrix has {values.shape[0]} rows and {values.shape[1]} columns "
                "(sources); a label model is fit on at least one of each"
            )
        dev = self._dev_set(L_dev, Y_dev, names, values.shape[1])
        k = len(self.classes)
        # Set at the end, so that a fit that fails leaves no half-fitted model behind.
        models: list[Any] = []
        label_sources: list[list[int]] = []
        names_used: list[str] = []
        right, cast = np.zeros(values.shape[1]), np.zeros(values.shape[1])
        for j, label in enumerate(self.classes):
            votes = binary_votes(values, j, k)
            sources = np.flatnonzero((votes != ABSTAIN).any(axis=0))
            if sources.size == 0:
                known = f" ({', '.join(names)})" if names else ""
                raise DataError(
                    f"label {label!r} gets no vote from any supervision source{known} on the "
                    f"training data; add an LF that votes {j} (applies) or {k + j} (does not "
                    f"apply), or a label column listing it"
                )
            votes = votes[:, sources]
            label_dev = (
                None if dev is None else (binary_votes(dev[0], j, k)[:, sources], dev[1][:, j])
            )
            model, name = self._fit_label(votes, label_dev, seed)
            counts = (votes != ABSTAIN).sum(axis=0)
            right[sources] += counts * np.nan_to_num(np.asarray(model.lf_accuracies_))
            cast[sources] += counts
            models.append(model)
            label_sources.append([int(s) for s in sources])
            names_used.append(name)
        self.models_, self.sources_, self.names_ = models, label_sources, names_used
        self.n_sources_ = int(values.shape[1])
        self.lf_names_ = names
        self.lf_accuracies_ = np.divide(
            right, cast, out=np.full(cast.shape, np.nan), where=cast > 0
        )
        return self

    def _fit_label(
        self, votes: np.ndarray, dev: tuple[np.ndarray, np.ndarray] | None, seed: int
    ) -> tuple[Any, str]:
        """The fitted binary label model of one label's votes, and its name (``auto`` resolved).

        ``dev`` holds the dev rows' binary votes on the label and whether it applies to them.
        """
        from gristmill.labelmodel import get_label_model

        share = _prior(votes) if dev is None else _clipped(float(dev[1].mean()))
        fit_kwargs: dict[str, Any] = {"seed": seed, "class_balance": [1.0 - share, share]}
        if dev is not None:
            fit_kwargs.update(L_dev=dev[0], y_dev=dev[1])
        name = self.name
        if name == "auto" and _two_sided(votes).sum() < MIN_TWO_SIDED:
            name = "majority_vote"
        params = self.params if name == self.name else {}
        return get_label_model(name, cardinality=2, **params).fit(votes, **fit_kwargs), name

    def _checked_votes(self, L: Any, names: Sequence[str] | None, which: str) -> np.ndarray:
        """The votes of a label matrix as int64, after checking each is some label's or -1.

        Raises
        ------
        DataError
            Naming the source and row of the first vote that is no label's.
        """
        values = as_label_array(L).astype(np.int64)
        k = len(self.classes)
        bad = values >= 2 * k
        if bad.any():
            row, column = (int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))
            source = f"labeling function {names[column]!r}" if names else f"column {column}"
            raise DataError(
                f"{which}: {source} votes {int(values[row, column])} at row {row}; with "
                f"{k} labels a vote is j (label j applies) or {k} + j (it does not), "
                f"0..{2 * k - 1}, or -1 to abstain"
            )
        return values

    def _dev_set(
        self, L_dev: Any, Y_dev: Any, names: Sequence[str] | None, n_sources: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The dev votes, in ``L``'s source order, and their checked gold indicators."""
        if (L_dev is None) != (Y_dev is None):
            raise DataError(
                "Pass both L_dev and Y_dev (dev votes and their gold label sets), or neither"
            )
        if L_dev is None:
            return None
        ordered = in_lf_order(L_dev, names, "L_dev's labeling functions are not L's")
        votes = self._checked_votes(ordered, names, "L_dev")
        gold = np.asarray(Y_dev)
        k = len(self.classes)
        if votes.shape[1] != n_sources:
            raise DataError(f"L_dev has {votes.shape[1]} columns but L has {n_sources}")
        if gold.shape != (len(votes), k) or not np.isin(gold, (0, 1)).all():
            raise DataError(
                f"Y_dev must hold 0/1 indicators of the {k} labels for each of the {len(votes)} "
                f"rows of L_dev, shape ({len(votes)}, {k}); got an array of shape {gold.shape}"
                + ("" if gold.shape != (len(votes), k) else " holding other values")
            )
        return votes, gold.astype(np.int64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError(
                "This BinaryRelevanceLabelModel is not fitted yet; call fit(L) before using it"
            )

    def predict_proba(self, L: Any) -> np.ndarray:
        """Return (n, k) probabilities that each label applies.

        Raises
        ------
        DataError
            When ``L`` names other sources than the model was fit on, has another number of
            columns, or holds a vote that is no label's.
        """
        self._check_fitted()
        L = in_lf_order(
            L,
            self.lf_names_,
            "The label matrix's labeling functions are not those the label model was fit on",
        )
        values = self._checked_votes(L, self.lf_names_, "L")
        if values.shape[1] != self.n_sources_:
            raise DataError(
                f"The label matrix has {values.shape[1]} columns (labeling functions) but the "
                f"label model was fit on {self.n_sources_}"
            )
        k = len(self.classes)
        return np.column_stack(
            [
                np.asarray(model.predict_proba(binary_votes(values, j, k)[:, sources]))[:, 1]
                for j, (model, sources) in enumerate(zip(self.models_, self.sources_, strict=True))
            ]
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save every label's model under ``path/<j>/`` beside ``binary_relevance.json``."""
        self._check_fitted()
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
            "n_sources": self.n_sources_,
            "lf_names": self.lf_names_,
            "lf_accuracies": [None if np.isnan(a) else float(a) for a in self.lf_accuracies_],
        }
        atomic_write_text(path / META_FILE, json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BinaryRelevanceLabelModel:
        """Load a model saved by :meth:`save`.

        A model saved before sources were named loads with ``lf_names_`` None, ``n_sources_``
        the columns its label models read, and NaN ``lf_accuracies_``.

        Raises
        ------
        DataError
            When ``path`` holds no saved binary relevance model, or a corrupt one.
        """
        from gristmill.labelmodel import load_label_model

        path = Path(path)
        if not (path / META_FILE).is_file():
            raise DataError(f"{path}: no saved binary relevance model ({META_FILE})")
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path / META_FILE}: not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise DataError(f"{path}: unknown format {found!r}; expected {_FORMAT!r}")
        missing = [
            key for key in ("classes", "name", "params", "sources", "names") if key not in meta
        ]
        if missing:
            raise DataError(f"{path / META_FILE}: corrupt: missing {', '.join(missing)}")
        model = cls(meta["classes"], name=meta["name"], **meta["params"])
        model.models_ = [load_label_model(path / str(j)) for j in range(len(model.classes))]
        model._restore_sources(meta, path / META_FILE)
        return model

    def _restore_sources(self, meta: dict[str, Any], meta_path: Path) -> None:
        """Restore what :meth:`save` wrote of the sources, checking that its parts agree."""
        self.sources_ = [list(s) for s in meta["sources"]]
        self.names_ = list(meta["names"])
        read = max((max(s) + 1 for s in self.sources_ if s), default=0)
        self.n_sources_ = int(meta.get("n_sources", read))
        self.lf_names_ = meta.get("lf_names")
        saved = meta.get("lf_accuracies", [None] * self.n_sources_)
        self.lf_accuracies_ = np.array([np.nan if a is None else a for a in saved], dtype=float)
        lengths = {len(self.lf_accuracies_)} | (
            set() if self.lf_names_ is None else {len(self.lf_names_)}
        )
        if lengths != {self.n_sources_} or read > self.n_sources_:
            raise DataError(
                f"{meta_path}: corrupt: {self.n_sources_} sources, {len(self.lf_accuracies_)} "
                f"accuracies, {'no' if self.lf_names_ is None else len(self.lf_names_)} names, "
                f"and label models reading {read} columns"
            )

    def __repr__(self) -> str:
        return f"BinaryRelevanceLabelModel(classes={self.classes!r}, name={self.name!r})"


def _checked_classes(classes: Any) -> list[str]:
    """``classes`` as a list, after checking it names at least one label, each once.

    Raises
    ------
    ParameterError
        When ``classes`` is a string, empty, or names a label twice.
    """
    listed = [] if isinstance(classes, str | bytes) else list(classes)
    if not listed or len(set(listed)) != len(listed):
        raise ParameterError(
            "The 'classes' parameter of BinaryRelevanceLabelModel must be a non-empty sequence "
            f"of distinct label names. Got {classes!r} instead."
        )
    return listed


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
    return _clipped(share)


def _clipped(share: float) -> float:
    """A label's prior kept inside [0.01, 0.99]: no label is certain to apply or not."""
    return min(max(share, 0.01), 0.99)
