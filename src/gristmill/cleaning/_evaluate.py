"""Scoring a repair against ground truth with the Raha/Baran convention."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError

__all__ = ["evaluate", "normalize_values"]

_SPACES = re.compile(r"\s+")


def normalize_values(frame: pd.DataFrame) -> np.ndarray:
    """Cell values as comparable strings: html-unescaped, whitespace collapsed, stripped.

    Missing values become the empty string.
    """
    out = np.empty(frame.shape, dtype=object)
    for j in range(frame.shape[1]):
        values = frame.iloc[:, j].astype("string").fillna("")
        out[:, j] = [_SPACES.sub(" ", html.unescape(v)).strip() for v in values]
    return out


def _prf(correct: int, predicted: int, actual: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def evaluate(dirty: pd.DataFrame, repaired: pd.DataFrame, clean: pd.DataFrame) -> dict[str, float]:
    """Detection and repair precision, recall and F1; cells aligned by position.

    An erroneous cell is one whose dirty value differs from the clean one; a changed cell is one
    whose repaired value differs from the dirty one. Detection counts a changed cell as a correct
    detection when it is erroneous; repair counts it as correct when the new value equals the
    clean one (precision = correct changes / changed cells, recall = correct changes /
    erroneous cells, as Raha and Baran report). Values are compared after html-unescape,
    whitespace collapse and strip.

    Parameters
    ----------
    dirty, repaired, clean : pandas.DataFrame
        Tables of the same shape; column names may differ (cells align by position).

    Returns
    -------
    dict
        ``detection_precision``, ``detection_recall``, ``detection_f1``, ``repair_precision``,
        ``repair_recall``, ``repair_f1``, ``n_errors``, ``n_changed``, ``n_correct``.

    Raises
    ------
    DataError
        When the shapes differ.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": ["x", "b", "c"]})
    >>> r = pd.DataFrame({"a": ["a", "b", "z"]})
    >>> c = pd.DataFrame({"a": ["a", "b", "c"]})
    >>> evaluate(d, r, c)["repair_precision"]
    0.5
    """
    shapes = {"dirty": dirty.shape, "repaired": repaired.shape, "clean": clean.shape}
    if len(set(shapes.values())) != 1:
        raise DataError(f"tables must have the same shape to align cells by position; got {shapes}")
    d, r, c = (normalize_values(t) for t in (dirty, repaired, clean))
    erroneous = d != c
    changed = r != d
    detected_right = int((changed & erroneous).sum())
    repaired_right = int((changed & (r == c)).sum())
    n_errors, n_changed = int(erroneous.sum()), int(changed.sum())
    detection = _prf(detected_right, n_changed, n_errors)
    repair = _prf(repaired_right, n_changed, n_errors)
    out = {f"detection_{k}": v for k, v in detection.items()}
    out.update({f"repair_{k}": v for k, v in repair.items()})
    out.update({"n_errors": n_errors, "n_changed": n_changed, "n_correct": repaired_right})
    return out
