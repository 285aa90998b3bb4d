"""Slices: named subsets of the data whose quality is reported on its own.

A slice is declared either by a *slicing function* (same shape as a labeling function, but it
returns ``True`` for rows in the slice) or by a pandas expression in the spec. Discovered slices
are found without being declared: clusters of the model's feature space where the model does
worst (hidden stratification).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gristmill._user_modules import import_user_module
from gristmill.exceptions import DataError, LFError
from gristmill.labeling._preprocess import Row

__all__ = [
    "SliceModule",
    "SlicingFunction",
    "apply_slices",
    "discover_slices",
    "expression_slice",
    "import_slicing_module",
    "load_slicing_functions",
    "slicing_function",
]


class SlicingFunction:
    """A named predicate over rows: ``True`` when the row belongs to the slice.

    Parameters
    ----------
    name : str
        Slice name, unique within a project.
    f : callable
        ``f(row, **resources) -> bool``; with ``vectorized=True``,
        ``f(frame, **resources) -> array of bool``.
    pre : sequence of callable, optional
        Preprocessors applied to the row (or frame) in order before ``f``; None (Snorkel's
        default) means none.
    resources : mapping, optional
        Keyword arguments passed to ``f``.
    vectorized : bool, default False
        Whether ``f`` takes the whole DataFrame.
    """

    def __init__(
        self,
        name: str,
        f: Callable[..., Any],
        *,
        pre: Sequence[Callable[[Any], Any]] | None = (),
        resources: Mapping[str, Any] | None = None,
        vectorized: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise LFError(f"A slicing function needs a non-empty name. Got {name!r} instead.")
        self.name = name
        self._f = f
        self.pre = tuple(pre or ())
        self.resources = dict(resources or {})
        self.vectorized = vectorized

    def __call__(self, x: Any) -> Any:
        for step in self.pre:
            x = step(x)
        return self._f(x, **self.resources)

    def __repr__(self) -> str:
        return f"SlicingFunction({self.name!r}, vectorized={self.vectorized})"

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the boolean membership of every row of ``frame``.

        A row slicing function sees each row as a :class:`~gristmill.labeling.Row`, as labeling
        functions do (``x.text`` and ``x["text"]``).

        Raises
        ------
        LFError
            Naming the slicing function and the row when it raises or returns a non-boolean.
        """
        if self.vectorized:
            return self._vectorized_mask(frame)
        return _row_masks([self], frame)[0]

    def _vectorized_mask(self, frame: pd.DataFrame) -> np.ndarray:
        try:
            out = np.asarray(self(frame))
        except Exception as exc:
            raise LFError(
                f"slicing function {self.name!r} raised {type(exc).__name__}: {exc}",
                lf_name=self.name,
            ) from exc
        if out.shape != (len(frame),):
            raise LFError(
                f"slicing function {self.name!r} returned shape {out.shape}; "
                f"expected ({len(frame)},)",
                lf_name=self.name,
            )
        return out.astype(bool)


def _row_masks(slices: Sequence[SlicingFunction], frame: pd.DataFrame) -> list[np.ndarray]:
    """The masks of row slicing functions, walking ``frame``'s rows once for all of them.

    Each row is built once, as a :class:`~gristmill.labeling.Row` from whole columns taken as
    Python lists (a pandas Series per row costs tens of microseconds, per slice).
    """
    values = [np.zeros(len(frame), dtype=bool) for _ in slices]
    columns = [str(c) for c in frame.columns]
    columns_values = [frame.iloc[:, k].tolist() for k in range(frame.shape[1])]
    rows = zip(*columns_values, strict=True) if columns_values else repeat((), len(frame))
    # Iterating the index gives its labels as Python scalars, as named in errors.
    for position, (row_label, row_values) in enumerate(zip(frame.index, rows, strict=True)):
        row = Row(zip(columns, row_values, strict=True))
        for sf, mask in zip(slices, values, strict=True):
            try:
                mask[position] = _as_bool(sf(row))
            except Exception as exc:
                raise LFError(
                    f"slicing function {sf.name!r} failed on row {row_label!r}: "
                    f"{type(exc).__name__}: {exc}",
                    lf_name=sf.name,
                    row=row_label,
                ) from exc
    return values


def _as_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None:
        return False
    raise TypeError(f"expected True or False, got {value!r}")


def slicing_function(
    name: str | None = None,
    *,
    pre: Sequence[Callable[[Any], Any]] | None = (),
    resources: Mapping[str, Any] | None = None,
    vectorized: bool = False,
) -> Callable[[Callable[..., Any]], SlicingFunction]:
    """Decorate a function to make it a :class:`SlicingFunction`.

    Parameters
    ----------
    name : str, optional
        Slice name; defaults to the function's name.
    pre, resources, vectorized
        As for :class:`SlicingFunction`.

    Examples
    --------
    >>> @slicing_function()
    ... def short_comment(row):
    ...     return len(row["text"]) < 20
    >>> short_comment({"text": "hi"})
    True
    """
    if callable(name):
        raise TypeError("slicing_function must be called: use @slicing_function()")

    def decorate(f: Callable[..., Any]) -> SlicingFunction:
        return SlicingFunction(
            name or f.__name__, f, pre=pre, resources=resources, vectorized=vectorized
        )

    return decorate


def expression_slice(name: str, expression: str) -> SlicingFunction:
    """Build a vectorized slice from a pandas expression, e.g. ``"CONTENT.str.len() < 30"``.

    The expression is evaluated with :meth:`pandas.DataFrame.eval` (Python engine).
    """

    def evaluate(frame: pd.DataFrame) -> np.ndarray:
        # pandas builds a resolver (a Series) for every column per eval: on a wide frame that,
        # not the expression, is the cost, so only the columns the expression may name are kept.
        mentioned = [column for column in frame.columns if str(column) in expression]
        result = frame[mentioned].eval(expression, engine="python")
        values = np.asarray(result)
        if values.shape != (len(frame),):
            raise DataError(f"slice {name!r}: expression {expression!r} is not one value per row")
        return np.asarray(pd.Series(values).fillna(False).astype(bool))

    return SlicingFunction(name, evaluate, vectorized=True)


class SliceModule(NamedTuple):
    """An imported slicing-function file: its slicing functions and every source file."""

    slicing_functions: list[SlicingFunction]
    files: list[Path]
    """The file first, then the helper modules it imported from its folder, by path."""


def load_slicing_functions(path: str | os.PathLike[str]) -> list[SlicingFunction]:
    """Return every :class:`SlicingFunction` defined at module level of a Python file.

    The file's folder is on ``sys.path`` while it runs, so it may import helper modules beside
    it (see :func:`import_slicing_module`).

    Raises
    ------
    LFError
        Naming the file when it is missing, fails to import, defines none, or repeats a name.
    """
    return import_slicing_module(path).slicing_functions


def import_slicing_module(path: str | os.PathLike[str]) -> SliceModule:
    """Import a slicing-function file afresh, with the helper modules it imports beside it.

    As for labeling functions (see :func:`~gristmill._user_modules.import_user_module`):
    helpers are each project's own, read again on every call and pickled by value. The
    returned ``files`` are what the slicing functions depend on, for lineage.

    Raises
    ------
    LFError
        As :func:`load_slicing_functions`.
    """
    module, files = import_user_module(path, kind="slicing functions")
    found = [v for v in vars(module).values() if isinstance(v, SlicingFunction)]
    if not found:
        raise LFError(f"{path}: defines no slicing function (use @gristmill.slicing_function())")
    _check_unique([sf.name for sf in found], where=str(path))
    return SliceModule(found, files)


def _check_unique(names: Iterable[str], *, where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise LFError(f"{where}: slice names must be unique; {name!r} appears twice")
        seen.add(name)


def apply_slices(slices: Sequence[SlicingFunction], frame: pd.DataFrame) -> pd.DataFrame:
    """Return a boolean DataFrame with one column per slice (index = ``frame.index``).

    Raises
    ------
    LFError
        When slice names repeat or a slicing function fails (naming it and the row).
    """
    _check_unique([sf.name for sf in slices], where="slices")
    by_row = [sf for sf in slices if not sf.vectorized]
    masks = dict(zip([sf.name for sf in by_row], _row_masks(by_row, frame), strict=True))
    columns = {
        sf.name: masks[sf.name] if sf.name in masks else sf._vectorized_mask(frame) for sf in slices
    }
    return pd.DataFrame(columns, index=frame.index, dtype=bool)


def _reduce(features: Any, n_components: int, seed: int) -> np.ndarray:
    """Project rows on the top singular vectors (truncated SVD, no centring: sparse-friendly)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    matrix = sp.csr_matrix(features, dtype=np.float64)
    if matrix.shape[1] <= n_components + 1 or matrix.shape[0] <= n_components + 1:
        return np.asarray(matrix.todense())
    v0 = np.random.default_rng(seed).uniform(-1, 1, min(matrix.shape))
    u, singular, _ = svds(matrix, k=n_components, v0=v0)
    return u * singular


def _kmeans(
    points: np.ndarray, k: int, *, seed: int, n_init: int = 4, max_iter: int = 100
) -> np.ndarray:
    """Cluster assignment by Lloyd's k-means with k-means++ seeding; best of ``n_init`` runs."""
    rng = np.random.default_rng(seed)
    best_assignment, best_inertia = np.zeros(len(points), dtype=np.int64), np.inf
    for _ in range(n_init):
        centers = [points[rng.integers(len(points))]]
        for _ in range(1, k):
            dist = np.min([((points - c) ** 2).sum(axis=1) for c in centers], axis=0)
            total = dist.sum()
            pick = (
                rng.choice(len(points), p=dist / total) if total > 0 else rng.integers(len(points))
            )
            centers.append(points[pick])
        centers_arr = np.array(centers)
        for _ in range(max_iter):
            # One centre at a time: an (n, k, d) array of differences would be k times larger.
            dist = np.column_stack([((points - c) ** 2).sum(axis=1) for c in centers_arr])
            assignment = dist.argmin(axis=1)
            moved = np.array(
                [
                    points[assignment == j].mean(axis=0)
                    if np.any(assignment == j)
                    else centers_arr[j]
                    for j in range(k)
                ]
            )
            if np.allclose(moved, centers_arr):
                break
            centers_arr = moved
        inertia = float(dist[np.arange(len(points)), assignment].sum())
        if inertia < best_inertia:
            best_assignment, best_inertia = assignment, inertia
    return best_assignment


def discover_slices(
    features: Any,
    correct: np.ndarray,
    *,
    n_clusters: int = 8,
    min_size: int = 10,
    n_components: int = 20,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Find clusters of the feature space where the model is least accurate.

    The rows' features are reduced with truncated SVD and clustered with k-means (hidden
    stratification: Oakden-Rayner et al. 2020; GEORGE, Sohoni et al. 2020). Each cluster of at
    least ``min_size`` rows is returned with its accuracy, worst first; a cluster is ``flagged``
    when its accuracy is below the overall accuracy by more than one binomial standard error of
    the cluster and by at least 5 points.

    Parameters
    ----------
    features : array-like or sparse matrix of shape (n, d)
        The model's features for the evaluated rows.
    correct : array of bool, shape (n,)
        Whether the model's prediction is right for each row.
    n_clusters, min_size, n_components, seed
        Clustering settings.

    Returns
    -------
    list of dict
        Keys ``cluster``, ``size``, ``accuracy``, ``gap`` (overall minus cluster accuracy),
        ``flagged`` and ``rows`` (positions of the member rows).
    """
    correct = np.asarray(correct, dtype=bool)
    n = correct.shape[0]
    if n < 2 * min_size:
        return []
    n_components = max(1, min(n_components, features.shape[1] - 1, n - 1))
    reduced = _reduce(features, n_components, seed)
    k = max(2, min(n_clusters, n // min_size))
    assignment = _kmeans(reduced, k, seed=seed)
    overall = float(correct.mean())
    found: list[dict[str, Any]] = []
    for cluster in range(k):
        rows = np.flatnonzero(assignment == cluster)
        if rows.size < min_size:
            continue
        accuracy = float(correct[rows].mean())
        gap = overall - accuracy
        stderr = float(np.sqrt(max(overall * (1 - overall), 1e-12) / rows.size))
        found.append(
            {
                "cluster": cluster,
                "size": int(rows.size),
                "accuracy": accuracy,
                "gap": gap,
                "flagged": bool(gap > max(stderr, 0.05)),
                "rows": rows.tolist(),
            }
        )
    found.sort(key=lambda c: (c["accuracy"], -c["size"]))
    return found
