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
value, or a set holding an item that is no label (a typo), abstains on every label. Label columns
are split into one source per label (``column:<name>:<label>``) voting ``j`` or ``k + j``.

The label model of such a task is
:class:`~gristmill.labelmodel.BinaryRelevanceLabelModel`, fit on the votes of
:func:`~gristmill.labelmodel.binary_votes` per label.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gristmill.labeling._matrix import ABSTAIN

__all__ = [
    "label_set_votes",
    "label_sets",
    "multilabel_lf_summary",
]


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

    Items match classes as :func:`~gristmill.pipeline._stages.class_indices` matches values:
    by name (a whole float as its integer text), else an integer ``0 <= v < k`` is a class index
    unless a class name is an integer; with ``mapping`` (raw item as text -> class name) only
    the mapping is used. A set holding an item that matches no class is not known (the item
    may be a misspelt label that applies), so its row is missing, not "no other label applies".

    Returns
    -------
    (ndarray of int8, list)
        Indicators (1 = the label applies, 0 = it does not, a row of -1 where the cell is
        missing or holds an unknown item), and the distinct items that match no class.
    """
    from gristmill.pipeline._stages import ClassMatcher

    matcher = ClassMatcher(classes, mapping)
    out = np.full((len(values), len(classes)), ABSTAIN, dtype=np.int8)
    for row, value in enumerate(values):
        items = _items(value, delimiter)
        if items is None:
            continue
        matched = [matcher.index(item) for item in items]
        applying = [i for i in matched if i is not None and i != ABSTAIN]
        if None in matched:
            continue
        out[row] = 0
        out[row, applying] = 1
    return out, matcher.unknown


def label_set_votes(indicators: np.ndarray) -> np.ndarray:
    """Turn (n, k) label-set indicators into k sources voting ``j`` (applies) or ``k + j``."""
    k = indicators.shape[1]
    label = np.arange(k)[None, :]
    return np.where(indicators == 1, label, np.where(indicators == 0, k + label, ABSTAIN))


def multilabel_lf_summary(
    L: np.ndarray,
    names: Sequence[str],
    classes: Sequence[str],
    y: np.ndarray | None = None,
    *,
    label_model: Any = None,
) -> pd.DataFrame:
    """Per source: the votes it casts (``+label`` / ``-label``), coverage, empirical accuracy.

    With (n, k) gold indicators ``y`` (-1 where unknown, as :func:`label_sets` gives them),
    ``Emp. Acc.`` is the share of a source's votes on known labels that are right: a
    ``+label`` vote on a row carrying the label, a ``-label`` vote on one that does not. With a
    fitted :class:`~gristmill.labelmodel.BinaryRelevanceLabelModel`, ``Est. Acc.`` is its
    ``lf_accuracies_``, matched to ``names`` by name when it recorded the names of its sources.

    Raises
    ------
    DataError
        When ``label_model`` was fit on other sources than ``names``.
    """
    from gristmill.labeling._analysis import _estimated_accuracies

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
            votes = column[voted]
            gold = np.asarray(y)[np.flatnonzero(voted), votes % k]
            known = gold != ABSTAIN
            hits = gold[known] == (votes[known] < k)
            entry["Emp. Acc."] = float(np.mean(hits)) if hits.size else float("nan")
        rows[str(name)] = entry
    summary = pd.DataFrame.from_dict(rows, orient="index")
    if label_model is not None:
        summary["Est. Acc."] = _estimated_accuracies(label_model, len(names), list(names))
    return summary
