"""Holistic repair: candidates, features and a self-supervised probabilistic model.

For each suspicious cell the candidates are the values that co-occur with the row's other
attributes (inside FD groups and pairwise), dictionary values, values proposed by transformations
learned from corrected examples, the current value with typo-like words replaced by the common
words they resemble, and the current value. Each candidate gets features (FD group support,
pairwise co-occurrence, frequency, similarity to the current value, the vote of the sources
weighted by accuracies from truth discovery with copying sources discounted, whether the
candidate wins that vote, dictionary and example agreement, and whether the current value has
rare words or a rare shape). A softmax over each cell's candidates with
linear scores is trained the HoloClean way, on cells taken as clean: some of them get a
simulated error (a typo, another value of the column, or a blank) and the model learns to
recover the original; flagged cells whose FD group has a strict majority add weak labels.
Global weights are learned first, then per-column weights shrunk towards them. Every statistic
leaves the cell itself out, so a value never supports itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from gristmill._extras import require
from gristmill.cleaning._constraints import Constraints, FunctionalDependency, as_constraints
from gristmill.cleaning._detect import (
    DEFAULT_PLACEHOLDERS,
    _as_positional_strings,
    _column_labels,
    _relabel,
    detect_errors,
    infer_source_column,
)
from gristmill.cleaning._examples import ExampleTransforms, check_examples
from gristmill.cleaning._imputer_scores import ImputerScores, fit_imputer
from gristmill.cleaning._model import candidate_probabilities, fit_candidate_weights
from gristmill.cleaning._stats import (
    CodedTable,
    ContextCounts,
    SourceWeights,
    copy_clusters,
    expand_candidates,
    gather,
    group_ids,
    source_accuracies,
)
from gristmill.exceptions import ConstraintError, DataError, NotFittedError, ParameterError

__all__ = ["FEATURE_NAMES", "Cleaner", "apply_repairs", "clean"]

#: Features of a (cell, candidate) pair, in the order of ``Cleaner.weights_``.
FEATURE_NAMES: tuple[str, ...] = (
    "fd_max",
    "fd_mean",
    "cooc_mean",
    "cooc_max",
    "frequency",
    "is_current",
    "is_missing",
    "similarity",
    "source_vote",
    "source_elected",
    "current_reliability",
    "dictionary",
    "example",
    "row_tokens",
    "token_repair",
    "cooc_unseen",
    "current_rare_token",
    "current_rare_shape",
    "imputer",
)
_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
_BATCH = 200_000
_TOKEN = re.compile(r"[^\W\d_]+|\d+")


class _ColumnStats:
    """Contexts and proposals for one target column."""

    def __init__(
        self,
        table: CodedTable,
        j: int,
        fds: list[list[int]],
        pairs: list[int],
        vote: SourceWeights | None,
        tokens: _TableTokens,
    ) -> None:
        self.j = j
        self.fd = [ContextCounts(table, lhs, j) for lhs in fds]
        self.pair = [ContextCounts(table, [b], j) for b in pairs]
        self.source = [] if vote is None else [ContextCounts(table, lhs, j, vote) for lhs in fds]
        self.dictionary = np.full(table.n_rows, -3, dtype=np.int64)
        self.example = np.full(table.n_rows, -3, dtype=np.int64)
        self.vocabulary, self.token_counts = _token_vocabulary(table, j)
        self.shape_counts, self.rare_shape_below = _shape_counts(table, j)
        self.shapes_by_length: dict[int, list[tuple[str, int]]] = {}
        for shape, count in sorted(self.shape_counts.items(), key=lambda item: -item[1]):
            self.shapes_by_length.setdefault(len(shape), []).append((shape, count))
        self._token_fixes: dict[int, int] = {}
        self._rarity: dict[int, tuple[bool, bool]] = {}
        self.row_tokens = _RowTokens(tokens, j) if _derives_from_row(tokens, j) else None

    def rarity(self, table: CodedTable, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per current code: has a word no other value uses; has a rare character shape."""
        for code in np.unique(current[current >= 0]):
            if int(code) not in self._rarity:
                text = str(table.uniques[self.j][code])
                words = dict.fromkeys(t for t in _TOKEN.findall(text) if not t.isdigit())
                rare_word = any(
                    self.token_counts.get(w, 0) < 3
                    or _near_word(w, self.vocabulary, self.token_counts.get(w, 0)) is not None
                    for w in words
                )
                rare_shape = self.shape_counts.get(_shape(text), 0) < self.rare_shape_below
                self._rarity[int(code)] = (rare_word, rare_shape)
        word = np.zeros(len(current), dtype=bool)
        shape = np.zeros(len(current), dtype=bool)
        for i, code in enumerate(current):
            if code >= 0:
                word[i], shape[i] = self._rarity[int(code)]
        return word, shape

    def token_repairs(self, table: CodedTable, current: np.ndarray) -> np.ndarray:
        """Per current code, the value with typo-like words (or, failing that, characters
        breaking the column's usual shape) fixed; -3 where none is."""
        out = np.full(len(current), -3, dtype=np.int64)
        if not self.vocabulary and not self.shape_counts:
            return out
        distinct = np.unique(current[current >= 0])
        todo = [c for c in distinct if c not in self._token_fixes]
        fixed = []
        for c in todo:
            text = str(table.uniques[self.j][c])
            fix = _fix_tokens(text, self.vocabulary, self.token_counts)
            if fix is None:
                fix = _fix_shape(text, self.shape_counts, self.shapes_by_length)
            fixed.append(fix)
        have = [i for i, f in enumerate(fixed) if f is not None]
        if have:
            codes = table.intern(self.j, np.asarray([fixed[i] for i in have], dtype=object))
            for i, code in zip(have, codes, strict=True):
                self._token_fixes[int(todo[i])] = int(code)
        for i in set(range(len(todo))) - set(have):
            self._token_fixes[int(todo[i])] = -3
        lookup = pd.Series(self._token_fixes, dtype=np.int64)
        ok = current >= 0
        out[ok] = lookup.reindex(current[ok]).fillna(-3).to_numpy(dtype=np.int64)
        return out

    @property
    def repairable(self) -> bool:
        return bool(self.fd or self.pair)


class Cleaner(BaseEstimator):  # type: ignore[misc]
    """Detect and repair erroneous cells of a table.

    A scikit-learn estimator: ``get_params``, ``set_params`` and ``sklearn.base.clone`` work.

    Parameters
    ----------
    constraints : Constraints, path, dict, list of str or None
        Denial constraints, FDs, domain rules, dictionaries (see :class:`Constraints`). Rules
        name a column by its label as text (``"0"`` for the column labelled ``0``).
    min_confidence : float, default 0.3
        A cell is changed only when its best candidate differs from the current value and has
        at least this probability (the softmax spreads mass over many weak candidates, so the
        winner often has less than 0.5). Cells of key columns (an FD's left-hand side) flagged
        only as statistical outliers need at least 0.5.
    max_candidates : int, default 10
        Candidates taken from each FD group (3 from each pairwise context, used for columns
        no FD determines).
    noise_rate : float, default 0.3
        Share of training cells given a simulated error.
    n_training_cells : int, default 20000
        Clean cells sampled to learn the feature weights.
    source : hashable, "auto" or None, default "auto"
        Label of the column naming each row's data source; "auto" looks for one
        (:func:`infer_source_column`), None uses none.
    outliers : bool, default True
        Whether statistical outliers are suspicious.
    placeholders : iterable of str
        Values meaning "missing" (compared lower-cased and stripped); a single string is one
        value.
    column_prior : float, default 0.01
        How strongly each column's weights are pulled towards the global ones (ridge strength).
    engine : {"auto", "pandas", "dask"}, default "auto"
        Where the co-occurrence statistics are computed. "dask": columns are factorised and
        the counts of every context (FD groups, pairwise co-occurrence, source votes) are
        Dask group-bys over partitions, on the current Dask scheduler (a
        ``distributed.Client`` if one is active); inference on the suspicious cells runs
        here. "auto" uses Dask for a ``dask.dataframe.DataFrame`` input, pandas otherwise.
        Both engines give the same repairs.
    partition_rows : int, default 250000
        Rows per partition when a pandas table is handed to the Dask engine.
    imputer : AttentionImputer, optional
        A learned model of the table shared with imputation: for each suspicious cell of a
        categorical column it knows, its 3 most probable values are candidates and the
        probability it gives a candidate (from the rest of the row) is the ``imputer``
        feature. An unfitted imputer is fitted (a copy) on the table (to its columns holding
        a value when it names no ``columns``); a fitted one is used as it is. None
        (default) uses no imputer (and torch is not needed).
    random_state : int, default 0

    Attributes
    ----------
    weights_ : pandas.Series
        Learned weight per feature (:data:`FEATURE_NAMES`), shared by all columns.
    column_weights_ : pandas.DataFrame
        One row of weights per repairable column (the global ones adapted to the column),
        indexed by column label.
    detections_ : pandas.DataFrame
        Flagged cells of the fitted table (``row``, ``column``, ``detectors``); ``row`` is the
        0-based position and ``column`` the column's label in the table.
    repairs_ : pandas.DataFrame
        ``row``, ``column``, ``old``, ``new``, ``probability``, ``detectors`` (``row`` and
        ``column`` as in ``detections_``).
    repaired_ : pandas.DataFrame
        The fitted table with the repairs applied (see :func:`apply_repairs`): its index and
        column labels, repaired columns as strings, the others as they were (a Dask input
        comes back computed).
    source_ : hashable or None
        Label of the source column used.
    transforms_ : ExampleTransforms or None
        Transformations learned from the examples.
    imputer_ : fitted imputer or None
        The imputer used (see ``imputer``).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"zip": ["1"] * 4 + ["2"] * 4,
    ...                   "city": ["a", "a", "a", "x", "b", "b", "b", "b"]})
    >>> Cleaner(constraints=["zip -> city"]).fit(t).repaired_["city"].tolist()
    ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b']
    """

    def __init__(
        self,
        *,
        constraints: Any = None,
        min_confidence: float = 0.3,
        max_candidates: int = 10,
        noise_rate: float = 0.3,
        n_training_cells: int = 20_000,
        source: str | None = "auto",
        outliers: bool = True,
        placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS,
        column_prior: float = 0.01,
        engine: str = "auto",
        partition_rows: int = 250_000,
        imputer: Any = None,
        random_state: int = 0,
    ) -> None:
        self.constraints = constraints
        self.min_confidence = min_confidence
        self.max_candidates = max_candidates
        self.noise_rate = noise_rate
        self.n_training_cells = n_training_cells
        self.source = source
        self.outliers = outliers
        self.placeholders = placeholders
        self.column_prior = column_prior
        self.engine = engine
        self.partition_rows = partition_rows
        self.imputer = imputer
        self.random_state = random_state

    # -- public API -----------------------------------------------------------------------

    def fit(self, frame: Any, y: object = None, *, examples: pd.DataFrame | None = None) -> Cleaner:
        """Learn feature weights from ``frame`` and repair it (see ``repaired_``).

        Parameters
        ----------
        frame : pandas.DataFrame or dask.dataframe.DataFrame
            The dirty table; values are handled as strings. ``repaired_`` is a pandas
            DataFrame either way.
        y : None
            Ignored: there is no target (scikit-learn's ``fit(X, y)`` passes one).
        examples : pandas.DataFrame, optional
            Corrected rows: the data's columns (all or some) plus ``_row`` (0-based row number),
            or indexed by row number. Learned from, and applied to those rows.

        Returns
        -------
        Cleaner
        """
        self._check_params()
        original, frame, partitions, labels = self._inputs(frame)
        examples = self._check_examples(examples, frame)
        self.imputer_ = (
            None if self.imputer is None else fit_imputer(self.imputer, _labelled(frame, labels))
        )
        state = self._prepare(frame, examples, partitions, labels)
        self.source_ = None if state["source"] is None else labels[state["source"]]
        self.transforms_ = state["transforms"]
        learned = self._learn(state, examples)
        self.weights_ = pd.Series(learned[-1], index=list(FEATURE_NAMES))
        table: CodedTable = state["table"]
        self.column_weights_ = pd.DataFrame(
            {labels[table.columns[j]]: w for j, w in learned.items() if j >= 0},
            index=list(FEATURE_NAMES),
        ).T
        self.detections_ = _relabel(state["detections"], labels)
        repairs = self._infer(state, learned)
        if examples is not None:
            repairs = _with_examples(repairs, frame, examples)
        self.repairs_ = _relabel(repairs, labels)
        self.repaired_ = apply_repairs(original, self.repairs_)
        return self

    def transform(self, frame: Any) -> pd.DataFrame:
        """Repair another table with the learned weights (statistics come from ``frame``)."""
        if not hasattr(self, "weights_"):
            raise NotFittedError("This Cleaner is not fitted yet; call fit(frame) first.")
        original, frame, partitions, labels = self._inputs(frame)
        state = self._prepare(frame, None, partitions, labels)
        table: CodedTable = state["table"]
        learned = {-1: self.weights_.to_numpy()}
        for column, row in self.column_weights_.iterrows():
            if str(column) in table.columns:
                learned[table.index(str(column))] = row.to_numpy()
        return apply_repairs(original, _relabel(self._infer(state, learned), labels))

    def fit_transform(
        self, frame: pd.DataFrame, y: object = None, *, examples: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Fit on ``frame`` and return it repaired."""
        return self.fit(frame, examples=examples).repaired_

    # -- preparation ----------------------------------------------------------------------

    def _check_params(self) -> None:
        checks = (
            ("min_confidence", 0.0 <= self.min_confidence <= 1.0, "in [0, 1]"),
            ("max_candidates", _is_int_at_least(self.max_candidates, 1), "an int >= 1"),
            ("noise_rate", 0.0 < self.noise_rate < 1.0, "in (0, 1)"),
            ("engine", self.engine in ("auto", "pandas", "dask"), "'auto', 'pandas' or 'dask'"),
            ("partition_rows", _is_int_at_least(self.partition_rows, 1), "an int >= 1"),
            ("n_training_cells", _is_int_at_least(self.n_training_cells, 10), "an int >= 10"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ParameterError(
                    f"The {name!r} parameter of Cleaner must be {expected}. "
                    f"Got {getattr(self, name)!r} instead."
                )

    @staticmethod
    def _check_examples(examples: pd.DataFrame | None, frame: pd.DataFrame) -> pd.DataFrame | None:
        if examples is None:
            return None
        if not isinstance(examples, pd.DataFrame):
            raise DataError(
                f"examples must be a pandas DataFrame. Got {type(examples).__name__} instead."
            )
        # The table's columns are named by their labels as text from here on.
        examples = examples.rename(columns=str)
        if "_row" not in examples.columns:
            examples = examples.assign(_row=examples.index)
        return check_examples(examples, list(frame.columns), len(frame))

    def _resolve_source(self, frame: pd.DataFrame, constraints: Constraints) -> str | None:
        if self.source == "auto":
            source = constraints.source or infer_source_column(frame, constraints)
            return None if source is None else str(source)
        if self.source is not None and str(self.source) not in frame.columns:
            raise ConstraintError(f"source column {self.source!r} is not in the table")
        return None if self.source is None else str(self.source)

    def _inputs(self, frame: Any) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict[str, Any]]:
        """The table in pandas as given (repairs are written into it), the same as positional
        strings with its columns named by their labels as text, its Dask partitions for the
        Dask engine (else None), and the labels by those names."""
        is_dask = type(frame).__module__.startswith("dask.")
        partitions = None
        original = frame.compute() if is_dask else frame
        local = _as_positional_strings(original)
        if self.engine == "dask" or (is_dask and self.engine != "pandas"):
            dd = require("dask.dataframe", extra="dask", feature="Cleaner(engine='dask')")
            if is_dask:
                partitions = frame.astype("string")
                partitions.columns = [str(c) for c in partitions.columns]
            else:
                partitions = dd.from_pandas(local, chunksize=self.partition_rows, sort=False)
        return original, local, partitions, _column_labels(frame)

    def _prepare(
        self,
        frame: pd.DataFrame,
        examples: pd.DataFrame | None,
        partitions: Any,
        labels: dict[str, Any],
    ) -> dict[str, Any]:
        constraints = as_constraints(self.constraints)
        constraints.check_columns(frame.columns)
        source = self._resolve_source(frame, constraints)
        table = (
            CodedTable.from_frame(frame) if partitions is None else CodedTable.from_dask(partitions)
        )
        detections = detect_errors(
            frame,
            constraints,
            placeholders=self.placeholders,
            outliers=self.outliers,
            source=source,
            fd_rows=None if partitions is None else partial(_conflicting_rows, table),
        )
        n = table.n_rows
        fds: dict[int, list[list[int]]] = {}
        for fd in constraints.all_fds():
            fds.setdefault(table.index(fd.rhs), []).append([table.index(c) for c in fd.lhs])
        informative = [
            b
            for b in range(len(table.columns))
            if 2 <= table.cardinality(b) <= 0.5 * n and table.columns[b] != source
        ]
        reliability = vote = None
        if source is not None:
            reliability, vote = _source_reliability(
                table, table.index(source), fds, frame, examples
            )
        targets = [j for j in range(len(table.columns)) if table.columns[j] != source]
        table.precount(
            [(lhs, j, w) for j in targets for lhs in fds.get(j, []) for w in (None, vote)]
            + [([b], j, None) for j in targets for b in informative if b != j]
        )
        stats = {}
        tokens = _TableTokens(table)  # shared by the columns: each value's words are read once
        for j in targets:
            col_stats = _ColumnStats(
                table,
                j,
                fds.get(j, []),
                [b for b in informative if b != j],
                vote,
                tokens,
            )
            if col_stats.repairable:
                stats[j] = col_stats
        self._add_dictionaries(table, constraints, frame, stats)
        transforms = None
        if examples is not None:
            transforms = ExampleTransforms().fit(
                frame.loc[examples.index, examples.columns], examples
            )
            for j, col_stats in stats.items():
                proposal, _ = transforms.propose(frame[table.columns[j]], table.columns[j])
                has = proposal.notna().to_numpy()
                if has.any():
                    col_stats.example[has] = table.intern(j, proposal[has].to_numpy(dtype=object))
                    detections = _add_detector(
                        detections, np.flatnonzero(has), table.columns[j], "example"
                    )
        return {
            "frame": frame,
            "table": table,
            "stats": stats,
            "detections": detections,
            "reliability": reliability,
            "source": source,
            "transforms": transforms,
            "keys": {table.index(c) for fd in constraints.all_fds() for c in fd.lhs},
            "imputer": (
                None
                if getattr(self, "imputer_", None) is None
                else ImputerScores(self.imputer_, _labelled(frame, labels))
            ),
        }

    @staticmethod
    def _add_dictionaries(
        table: CodedTable,
        constraints: Constraints,
        frame: pd.DataFrame,
        stats: dict[int, _ColumnStats],
    ) -> None:
        for dictionary in constraints.dictionaries:
            keys = list(dictionary.keys)
            shared = [c for c in dictionary.value_columns() if c in frame.columns]
            if not shared:
                continue
            left = frame[keys].copy()
            left["__row"] = np.arange(len(frame))
            joined = left.merge(
                dictionary.lookup()[keys + shared], on=keys, how="inner", suffixes=("", "__ref")
            )
            for col in shared:
                j = table.index(col)
                if j not in stats:
                    continue
                values = joined[col].to_numpy(dtype=object)
                has = ~pd.isna(values)
                rows = joined["__row"].to_numpy()[has]
                stats[j].dictionary[rows] = table.intern(j, values[has])

    # -- candidates and features ----------------------------------------------------------

    def _candidates(
        self,
        state: dict[str, Any],
        j: int,
        rows: np.ndarray,
        current: np.ndarray,
        original: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate (cell, value) pairs sorted by cell, and their feature matrix."""
        table: CodedTable = state["table"]
        col: _ColumnStats = state["stats"][j]
        cells = [np.arange(len(rows))]
        values = [current]
        for ctx in col.fd:
            owner, vals = expand_candidates(rows, ctx, self.max_candidates)
            cells.append(owner)
            values.append(vals)
        # Pairwise contexts, weaker and many, propose values only where FD groups are too small
        # to (other rows holding the same left-hand side: fewer than two).
        weak = np.ones(len(rows), dtype=bool)
        for ctx in col.fd:
            weak &= ctx.total(rows) - (original >= 0) * (ctx.groups[rows] >= 0) < 2
        if weak.any():
            for ctx in col.pair:
                owner, vals = expand_candidates(rows[weak], ctx, 3)
                cells.append(np.flatnonzero(weak)[owner])
                values.append(vals)
        for proposal in (
            col.dictionary[rows],
            col.example[rows],
            col.token_repairs(table, current),
        ):
            has = proposal >= 0
            cells.append(np.flatnonzero(has))
            values.append(proposal[has])
        scores: ImputerScores | None = state["imputer"]
        if scores is not None and scores.covers(table.columns[j]):
            owner, proposed = scores.top(table.columns[j], rows, 3)
            cells.append(owner)
            values.append(table.intern(j, proposed))
        cell = np.concatenate(cells)
        value = np.concatenate(values)
        key = np.sort(cell.astype(np.int64) * (len(table.uniques[j]) + 2) + (value + 1))
        key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
        cell = key // (len(table.uniques[j]) + 2)
        value = key % (len(table.uniques[j]) + 2) - 1
        return cell, value, self._features(state, j, rows, current, original, cell, value)

    def _features(
        self,
        state: dict[str, Any],
        j: int,
        rows: np.ndarray,
        current: np.ndarray,
        original: np.ndarray,
        cell: np.ndarray,
        value: np.ndarray,
    ) -> np.ndarray:
        table: CodedTable = state["table"]
        col: _ColumnStats = state["stats"][j]
        r = rows[cell]
        own = original[cell]
        is_own = (value == own) & (own >= 0)
        X = np.zeros((len(cell), len(FEATURE_NAMES)))

        unseen = np.zeros(len(cell))

        def shares(contexts: list[ContextCounts], *, count_unseen: bool = False) -> np.ndarray:
            out = np.zeros((len(contexts), len(cell)))
            for i, ctx in enumerate(contexts):
                weight = ctx.weight(r)
                count = ctx.count(r, value) - is_own * weight
                in_group = (ctx.groups[r] >= 0) & (own >= 0)
                total = ctx.total(r) - in_group * weight
                out[i] = np.maximum(count, 0) / (np.maximum(total, 0) + 1)
                if count_unseen:
                    unseen[:] += (count <= 0) & (total > 0)
            return out

        if col.fd:
            fd = shares(col.fd)
            X[:, _F["fd_max"]] = fd.max(axis=0)
            X[:, _F["fd_mean"]] = fd.mean(axis=0)
        if col.pair:
            pair = shares(col.pair, count_unseen=True)
            X[:, _F["cooc_unseen"]] = unseen / len(col.pair)
            X[:, _F["cooc_mean"]] = pair.mean(axis=0)
            X[:, _F["cooc_max"]] = pair.max(axis=0)
        if col.source:
            vote = shares(col.source).max(axis=0)
            X[:, _F["source_vote"]] = vote
            X[:, _F["source_elected"]] = (vote > 0) & (vote >= _cell_max(cell, vote))
        counts = table.value_counts(j).astype(np.float64)
        counts = np.pad(counts, (0, len(table.uniques[j]) - len(counts)))
        freq = gather(counts, value, value >= 0) - is_own
        X[:, _F["frequency"]] = np.maximum(freq, 0) / max(float(counts.max(initial=1.0)), 1.0)
        is_current = value == current[cell]
        X[:, _F["is_current"]] = is_current
        X[:, _F["is_missing"]] = value < 0
        X[:, _F["similarity"]] = _pair_similarity(table.uniques[j], current[cell], value)
        if state["reliability"] is not None:
            X[:, _F["current_reliability"]] = is_current * state["reliability"][r]
        X[:, _F["dictionary"]] = (value >= 0) & (value == col.dictionary[r])
        X[:, _F["example"]] = (value >= 0) & (value == col.example[r])
        if col.row_tokens is not None:
            X[:, _F["row_tokens"]] = col.row_tokens.support(r, value)
        X[:, _F["token_repair"]] = (value >= 0) & (value == col.token_repairs(table, current)[cell])
        rare_word, rare_shape = col.rarity(table, current)
        X[:, _F["current_rare_token"]] = is_current & rare_word[cell]
        X[:, _F["current_rare_shape"]] = is_current & rare_shape[cell]
        scores: ImputerScores | None = state["imputer"]
        if scores is not None and scores.covers(table.columns[j]):
            texts = np.full(len(value), None, dtype=object)
            texts[value >= 0] = table.uniques[j][value[value >= 0]]
            X[:, _F["imputer"]] = scores.probability(table.columns[j], r, texts)
        return X

    # -- learning -------------------------------------------------------------------------

    def _learn(self, state: dict[str, Any], examples: pd.DataFrame | None) -> dict[int, np.ndarray]:
        """Global weights (key -1), then per-column weights pulled towards them."""
        table: CodedTable = state["table"]
        stats: dict[int, _ColumnStats] = state["stats"]
        rng = np.random.default_rng(self.random_state)
        flagged = np.zeros(table.codes.shape, dtype=bool)
        det = state["detections"]
        if len(det):
            flagged[det["row"].to_numpy(), [table.index(c) for c in det["column"]]] = True
        parts: list[tuple[int, tuple[np.ndarray, ...]]] = []
        per_column = max(300, self.n_training_cells // max(len(stats), 1))
        for j in sorted(stats):
            clean_rows = np.flatnonzero(~flagged[:, j])
            if len(clean_rows):
                rows = rng.choice(clean_rows, size=min(per_column, len(clean_rows)), replace=False)
                parts.append((j, self._training_part(state, j, np.sort(rows), rng, weight=1.0)))
        n_simulated = sum(len(p[3]) for _, p in parts)
        parts += self._pseudo_labelled_parts(state, flagged, rng, n_simulated)
        if examples is not None:
            columns = [c for c in examples.columns if table.index(c) in stats]
            n_examples = len(examples) * len(columns)
            weight = max(1.0, sum(len(p[3]) for _, p in parts) / max(n_examples, 1))
            for col in columns:
                j = table.index(col)
                truth = examples[col].to_numpy(dtype=object)
                parts.append(
                    (j, self._labelled_part(state, j, examples.index.to_numpy(), truth, weight))
                )
        weights = {-1: _fit_parts([p for _, p in parts])}
        for j in stats:
            own = [p for k, p in parts if k == j]
            if own:
                weights[j] = _fit_parts(own, prior=weights[-1], strength=self.column_prior)
        return weights

    def _pseudo_labelled_parts(
        self, state: dict[str, Any], flagged: np.ndarray, rng: np.random.Generator, n_simulated: int
    ) -> list[tuple[int, tuple[np.ndarray, ...]]]:
        """Flagged cells labelled with their FD group's strict majority value.

        Simulated errors on clean cells never show conflicting groups; these weak labels do, so
        the weights also learn how far to trust group support where rows disagree.
        """
        table: CodedTable = state["table"]
        cells = []
        for j, col in state["stats"].items():
            if not col.fd:
                continue
            rows = np.flatnonzero(flagged[:, j])
            best = np.full(len(rows), -1, dtype=np.int64)
            best_share = np.zeros(len(rows))
            for ctx in col.source or col.fd:
                groups, values, _ = ctx.top_values(1)
                majority = np.full(len(ctx.group_totals), -1, dtype=np.int64)
                majority[groups] = values
                g = ctx.groups[rows]
                candidate = gather(majority, g, g >= 0, -1)
                share = ctx.count(rows, candidate) / np.maximum(ctx.total(rows), 1)
                better = (share > best_share) & (ctx.total(rows) >= 3)
                best[better], best_share[better] = candidate[better], share[better]
            keep = (best >= 0) & (best_share > 0.5)
            if keep.any():
                cells.append((j, rows[keep], best[keep]))
        n_cells = sum(len(r) for _, r, _ in cells)
        if not n_cells:
            return []
        limit = max(1, self.n_training_cells // 2)
        weight = (
            max(1.0, n_simulated) / max(n_cells, 1) * 0.5
            if n_cells <= limit
            else 0.5 * n_simulated / limit
        )
        parts = []
        for j, rows, truth in cells:
            if n_cells > limit:
                pick = rng.random(len(rows)) < limit / n_cells
                rows, truth = rows[pick], truth[pick]
            if len(rows):
                parts.append(
                    (j, self._labelled_part(state, j, rows, table.uniques[j][truth], weight))
                )
        return parts

    def _training_part(
        self,
        state: dict[str, Any],
        j: int,
        rows: np.ndarray,
        rng: np.random.Generator,
        weight: float,
    ) -> tuple[np.ndarray, ...]:
        table: CodedTable = state["table"]
        original = table.codes[rows, j]
        current = original.copy()
        corrupt = rng.random(len(rows)) < self.noise_rate
        if corrupt.any():
            current[corrupt] = _corrupt(table, j, original[corrupt], rng)
        cell, value, X = self._candidates(state, j, rows, current, original)
        return cell, X, value == original[cell], np.full(len(rows), weight)

    def _labelled_part(
        self, state: dict[str, Any], j: int, rows: np.ndarray, truth: np.ndarray, weight: float
    ) -> tuple[np.ndarray, ...]:
        table: CodedTable = state["table"]
        original = table.codes[rows, j]
        truth_codes = table.intern(j, truth)
        cell, value, X = self._candidates(state, j, rows, original, original)
        return cell, X, value == truth_codes[cell], np.full(len(rows), weight)

    # -- inference ------------------------------------------------------------------------

    def _infer(self, state: dict[str, Any], weights: dict[int, np.ndarray]) -> pd.DataFrame:
        table: CodedTable = state["table"]
        det: pd.DataFrame = state["detections"]
        out = []
        for column, group in det.groupby("column", sort=False):
            j = table.index(str(column))
            if j not in state["stats"]:
                continue
            for start in range(0, len(group), _BATCH):
                batch = group.iloc[start : start + _BATCH]
                rows = batch["row"].to_numpy()
                current = table.codes[rows, j]
                cell, value, X = self._candidates(state, j, rows, current, current)
                prob = candidate_probabilities(X, cell, weights.get(j, weights[-1]))
                order = np.lexsort((-prob, cell))
                first = order[np.r_[True, np.diff(cell[order]) != 0]]
                best_cell, best_value, best_prob = cell[first], value[first], prob[first]
                # Key columns (an FD's left-hand side) identify entities: a key cell only
                # statistics find odd needs stronger evidence than a rule violation.
                only_outlier = batch["detectors"].to_numpy()[best_cell] == "outlier"
                strict = only_outlier & (j in state["keys"])
                needed = np.where(strict, max(self.min_confidence, 0.5), self.min_confidence)
                change = (best_value != current[best_cell]) & (best_prob >= needed)
                row_tokens = state["stats"][j].row_tokens
                if row_tokens is not None:
                    # In a column built from the row's other cells, a value the row spells
                    # out in full is kept against one it does not (that points at a wrong
                    # rule, e.g. an FD that holds only within a state).
                    kept = row_tokens.support(rows[best_cell], current[best_cell]) >= 1.0
                    kept &= row_tokens.support(rows[best_cell], best_value) < 1.0
                    change &= ~kept
                if not change.any():
                    continue
                uniques = table.uniques[j]
                idx = best_cell[change]
                out.append(
                    pd.DataFrame(
                        {
                            "row": rows[idx],
                            "column": str(column),
                            "old": _decode(uniques, current[idx]),
                            "new": _decode(uniques, best_value[change]),
                            "probability": best_prob[change],
                            "detectors": batch["detectors"].to_numpy()[idx],
                        }
                    )
                )
        if not out:
            return _empty_repairs()
        repairs = pd.concat(out, ignore_index=True)
        position = {c: i for i, c in enumerate(table.columns)}
        repairs["_order"] = repairs["column"].map(position)
        repairs = repairs.sort_values(["row", "_order"], kind="stable").drop(columns="_order")
        return repairs.reset_index(drop=True)


def _is_int_at_least(value: Any, low: int) -> bool:
    return isinstance(value, int) and value >= low


def _conflicting_rows(table: CodedTable, fd: FunctionalDependency) -> np.ndarray:
    """Rows of an FD's conflicting groups, from counts the Dask engine computes."""
    lhs, rhs = [table.index(c) for c in fd.lhs], table.index(fd.rhs)
    table.precount([(lhs, rhs, None)])
    return ContextCounts(table, lhs, rhs).conflicting_rows()


def _fit_parts(
    parts: list[tuple[np.ndarray, ...]], *, prior: np.ndarray | None = None, strength: float = 0.0
) -> np.ndarray:
    """Fit weights on training parts ``(cell, features, is_true, cell_weight)``."""
    if not parts:
        return np.zeros(len(FEATURE_NAMES)) if prior is None else prior
    offset = 0
    cells, feats, labels, weights = [], [], [], []
    for cell, X, y, w in parts:
        cells.append(cell + offset)
        offset += len(w)
        feats.append(X)
        labels.append(y)
        weights.append(w)
    return fit_candidate_weights(
        np.vstack(feats),
        np.concatenate(cells),
        np.concatenate(labels),
        sample_weight=np.concatenate(weights),
        prior=prior,
        prior_strength=strength,
    )


def _add_detector(
    detections: pd.DataFrame, rows: np.ndarray, column: str, name: str
) -> pd.DataFrame:
    """Add ``name`` to the detectors of cells ``(rows, column)``, adding the cells if new."""
    extra = pd.DataFrame({"row": rows.astype(np.int64), "column": column, "detectors": name})
    merged = pd.concat([detections, extra], ignore_index=True)
    merged = (
        merged.groupby(["row", "column"], sort=False)["detectors"]
        .agg(lambda names: ",".join(sorted(set(",".join(names).split(",")))))
        .reset_index()
    )
    return merged.sort_values(["row"], kind="stable").reset_index(drop=True)


class _TableTokens:
    """The words of a table's cells, read once for every column that asks.

    ``words(columns, codes)``: the words of the values ``codes`` (a value of each of
    ``columns`` per row) as integer word ids (each value's distinct words, sorted), with the
    number each value has. A value is read the first time it is asked for; later calls are
    array look-ups over all the columns at once.
    """

    def __init__(self, table: CodedTable) -> None:
        self.table = table
        self._ids: dict[str, int] = {}
        # One slot per value of every column (code + 1: missing first), a column's slots from
        # _first_slot[column] on, _room of them; per slot, its number of words (-1: not read
        # yet) and where they start in the buffer of word ids. Slots of all the columns in
        # one array let a row's cells be looked up together, not one call per column.
        self._first_slot = np.zeros(len(table.columns), dtype=np.int64)
        self._room = np.zeros(len(table.columns), dtype=np.int64)
        self._lengths = np.zeros(0, dtype=np.int64)
        self._starts = np.zeros(0, dtype=np.int64)
        self._buffer = np.zeros(1024, dtype=np.int64)
        self._used = 0

    @property
    def n_words(self) -> int:
        """Number of distinct words read so far (word ids are below it)."""
        return len(self._ids)

    def words(self, columns: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Words of the cells ``codes``: (rows, len(columns)), a value of each of ``columns``
        per row (-1 for missing).

        Returns
        -------
        count : numpy.ndarray
            (rows * len(columns),) int64: each cell's number of distinct words, the cells
            row after row.
        ids : numpy.ndarray
            The word ids of all the cells, one cell after the other.
        """
        slots = self._slots(columns, codes)
        count = self._lengths[slots]
        # each cell's ids, read from its slice of the buffer
        first = np.repeat(self._starts[slots] - (np.cumsum(count) - count), count)
        return count, self._buffer[first + np.arange(int(count.sum()))]

    def _slots(self, columns: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The slot of each cell (row after row), its value read if it was not yet."""
        for column in columns.tolist():
            if self._room[column] <= len(self.table.uniques[column]):
                self._make_room(column)
        slots = (codes + (self._first_slot[columns] + 1)).ravel()
        unread = np.flatnonzero(self._lengths[slots] < 0)
        if len(unread):
            _, first = np.unique(slots[unread], return_index=True)
            cells = unread[first]
            self._read(columns[cells % len(columns)], codes.ravel()[cells], slots[cells])
        return slots

    def _make_room(self, column: int) -> None:
        """Move ``column``'s slots to the end, with room for the values interned since and
        as many again (slots left behind are not used any more)."""
        size = 2 * (len(self.table.uniques[column]) + 1)
        old = slice(self._first_slot[column], self._first_slot[column] + self._room[column])
        lengths = np.full(size, -1, dtype=np.int64)
        starts = np.zeros(size, dtype=np.int64)
        lengths[: self._room[column]] = self._lengths[old]
        starts[: self._room[column]] = self._starts[old]
        self._first_slot[column], self._room[column] = len(self._lengths), size
        self._lengths = np.concatenate([self._lengths, lengths])
        self._starts = np.concatenate([self._starts, starts])

    def _read(self, columns: np.ndarray, codes: np.ndarray, slots: np.ndarray) -> None:
        """Tokenise the values ``codes`` of ``columns`` into their ``slots``."""
        offset = self._used
        new = []
        for column, code, slot in zip(
            columns.tolist(), codes.tolist(), slots.tolist(), strict=True
        ):
            text = str(self.table.uniques[column][code]) if code >= 0 else ""
            ids = sorted({self._ids.setdefault(w, len(self._ids)) for w in _TOKEN.findall(text)})
            new.append(np.asarray(ids, dtype=np.int64))
            self._lengths[slot], self._starts[slot] = len(ids), offset
            offset += len(ids)
        if offset > len(self._buffer):
            grown = np.zeros(max(2 * len(self._buffer), offset), dtype=np.int64)
            grown[: self._used] = self._buffer[: self._used]
            self._buffer = grown
        self._buffer[self._used : offset] = np.concatenate(new)
        self._used = offset


class _RowTokens:
    """How much of a value of column ``j`` is spelled out by the row's other cells.

    Some columns are built from others (a code made of a state and a measure, a full name
    from its parts); a candidate whose words the row does not hold is then unlikely.
    """

    def __init__(self, tokens: _TableTokens, j: int) -> None:
        self.tokens = tokens
        self.j = j

    def support(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Share of each value's distinct words found in the other cells of its row (0 for
        none): array operations over word ids, each distinct cell value read once."""
        table = self.tokens.table
        out = np.zeros(len(rows))
        if len(rows) == 0:
            return out
        distinct_rows, row_of = np.unique(rows, return_inverse=True)
        count, words = self.tokens.words(
            np.asarray([self.j]), np.asarray(values, dtype=np.int64)[:, None]
        )
        others = np.delete(np.arange(len(table.columns)), self.j)
        per_cell, held = self.tokens.words(others, table.codes[distinct_rows][:, others])
        width = self.tokens.n_words
        # Only the words of the values asked about matter: the other cells' other words are
        # dropped before the (row, word) pairs are sorted.
        wanted = np.zeros(width, dtype=bool)
        wanted[words] = True
        per_row = per_cell.reshape(len(distinct_rows), len(others)).sum(axis=1)
        owner = np.repeat(np.arange(len(distinct_rows)), per_row)
        keep = wanted[held]
        held_keys = np.sort(owner[keep] * width + held[keep])
        asked = np.repeat(row_of, count) * width + words
        at = np.minimum(np.searchsorted(held_keys, asked), max(len(held_keys) - 1, 0))
        found = held_keys[at] == asked if len(held_keys) else np.zeros(len(asked), dtype=bool)
        has = count > 0
        cells = np.repeat(np.arange(len(rows)), count)
        out[has] = np.bincount(cells, weights=found, minlength=len(rows))[has] / count[has]
        return out


def _derives_from_row(tokens: _TableTokens, j: int, *, sample: int = 300, seed: int = 0) -> bool:
    """Whether column ``j``'s values are nearly always spelled out in full by their rows'
    other cells (partly is common by chance: times share "a", "m" and small numbers)."""
    table = tokens.table
    if len(table.columns) < 2:
        return False
    present = np.flatnonzero(table.codes[:, j] >= 0)
    if len(present) == 0:
        return False
    rng = np.random.default_rng(seed)
    rows = rng.choice(present, size=min(sample, len(present)), replace=False)
    support = _RowTokens(tokens, j).support(rows, table.codes[rows, j])
    return bool((support >= 1.0).mean() >= 0.8)


def _cell_max(cell: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per candidate, the largest ``score`` among its cell's candidates (``cell`` sorted)."""
    if len(cell) == 0:
        return np.zeros(0)
    starts = np.r_[0, np.flatnonzero(np.diff(cell)) + 1]
    return np.repeat(np.maximum.reduceat(score, starts), np.diff(np.r_[starts, len(cell)]))


def _decode(uniques: np.ndarray, codes: np.ndarray) -> pd.Series:
    values = np.where(codes >= 0, uniques[np.maximum(codes, 0)] if len(uniques) else None, None)
    return pd.Series(values, dtype="string")


def _empty_repairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series(dtype=np.int64),
            "column": pd.Series(dtype=object),
            "old": pd.Series(dtype="string"),
            "new": pd.Series(dtype="string"),
            "probability": pd.Series(dtype=np.float64),
            "detectors": pd.Series(dtype=object),
        }
    )


class _CharShapes(dict[int, str]):
    """Each character's shape, for ``str.translate``: digits ``9``, letters ``a``, others
    themselves (classified with the regular expressions ``\\d`` and ``[^\\W\\d_]``, once per
    character ever seen)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        shape = "9" if _DIGIT.fullmatch(char) else "a" if _LETTER.fullmatch(char) else char
        self[code] = shape
        return shape


_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
_CHAR_SHAPES = _CharShapes()


def _shape(text: str) -> str:
    return text.translate(_CHAR_SHAPES)


def _shape_counts(table: CodedTable, j: int) -> tuple[dict[str, int], float]:
    """How many cells have each character shape, and the count below which a shape is rare."""
    counts = table.value_counts(j)
    shapes: dict[str, int] = {}
    for code in np.flatnonzero(counts):
        key = _shape(str(table.uniques[j][code]))
        shapes[key] = shapes.get(key, 0) + int(counts[code])
    return shapes, max(2.0, 0.005 * float(counts.sum()))


def _token_vocabulary(
    table: CodedTable, j: int
) -> tuple[dict[int, list[tuple[str, int]]], dict[str, int]]:
    """Words of a column with the number of cells using them: by length (most used first, ties
    in alphabetical order so that repairs do not depend on hash order; at most 200 per length,
    used in at least 3 cells), and all of them."""
    counts = table.value_counts(j)
    tokens: dict[str, int] = {}
    for code in np.flatnonzero(counts):
        for token in set(_TOKEN.findall(str(table.uniques[j][code]))):
            if not token.isdigit():
                tokens[token] = tokens.get(token, 0) + int(counts[code])
    by_length: dict[int, list[tuple[str, int]]] = {}
    for token, count in sorted(tokens.items(), key=lambda item: (-item[1], item[0])):
        if count >= 3 and len(by_length.setdefault(len(token), [])) < 200:
            by_length[len(token)].append((token, count))
    return {k: v for k, v in by_length.items() if v}, tokens


def _near_word(token: str, vocabulary: dict[int, list[tuple[str, int]]], used: int) -> str | None:
    """A word within a few typos of ``token`` that at least 10 times as many cells use."""
    limit = max(1, len(token) // 4)
    for word, count in vocabulary.get(len(token), []):
        if count < 10 * max(used, 1):
            break
        if sum(a != b for a, b in zip(token, word, strict=True)) <= limit:
            return word
    return None


def _fix_tokens(
    text: str, vocabulary: dict[int, list[tuple[str, int]]], counts: dict[str, int]
) -> str | None:
    """Replace each word that looks like a typo of a much more common word by that word."""
    changed = False
    near: dict[str, str | None] = {}  # a long text repeats its words: look each up once

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        token = match.group(0)
        if token.isdigit():
            return token
        if token not in near:
            near[token] = _near_word(token, vocabulary, counts.get(token, 0))
        word = near[token]
        if word is None:
            return token
        changed = True
        return word

    fixed = _TOKEN.sub(replace, text)
    return fixed if changed else None


def _fix_shape(
    text: str, counts: dict[str, int], by_length: dict[int, list[tuple[str, int]]]
) -> str | None:
    """Put back the punctuation of a much more common shape of the same length.

    ``95x`` in a column of ``99%`` values becomes ``95%``: only positions where the common
    shape has a fixed character (not a digit or letter class) are rewritten, at most a few.
    ``counts`` maps each shape to its number of cells; ``by_length`` lists the shapes of
    each length, most common first.
    """
    own = _shape(text)
    used = counts.get(own, 0)
    limit = max(1, len(text) // 4)
    for shape, count in by_length.get(len(own), []):
        if count < 10 * max(used, 1):
            break
        if shape == own:
            continue
        differ = [i for i, (a, b) in enumerate(zip(own, shape, strict=True)) if a != b]
        if len(differ) <= limit and all(shape[i] not in "9a" for i in differ):
            chars = list(text)
            for i in differ:
                chars[i] = shape[i]
            return "".join(chars)
    return None


def _pair_similarity(uniques: np.ndarray, current: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Similarity of each (current, candidate) code pair, computed once per distinct pair."""
    valid = (current >= 0) & (value >= 0)
    out = np.zeros(len(value))
    if not valid.any():
        return out
    width = len(uniques) + 1
    keys = current[valid] * width + value[valid]
    distinct, inverse = np.unique(keys, return_inverse=True)
    out[valid] = _similarities(uniques[distinct // width], uniques[distinct % width])[inverse]
    return out


def _similarities(left: np.ndarray, right: np.ndarray, *, width: int = 48) -> np.ndarray:
    """Cheap string similarity of aligned string arrays (cut to ``width`` characters).

    Equal lengths: the share of matching positions; otherwise the shared prefix plus suffix
    over the longer length. Empty strings have similarity 0.
    """
    a_text = [str(v)[:width] for v in left]
    b_text = [str(v)[:width] for v in right]
    a_len = np.fromiter((len(v) for v in a_text), dtype=np.int64, count=len(a_text))
    b_len = np.fromiter((len(v) for v in b_text), dtype=np.int64, count=len(b_text))
    if len(a_text) == 0:
        return np.zeros(0)

    def codes(texts: list[str]) -> np.ndarray:
        arr = np.asarray(texts, dtype=f"<U{width}")
        return arr.view(np.uint32).reshape(len(texts), width)

    a, b = codes(a_text), codes(b_text)
    same = (a == b) & (a != 0)
    longest = np.maximum(np.maximum(a_len, b_len), 1)
    hamming = same.sum(axis=1) / longest
    prefix = np.where(same.all(axis=1), width, same.argmin(axis=1))
    a_rev = codes([v[::-1] for v in a_text])
    b_rev = codes([v[::-1] for v in b_text])
    same_rev = (a_rev == b_rev) & (a_rev != 0)
    suffix = np.where(same_rev.all(axis=1), width, same_rev.argmin(axis=1))
    suffix = np.minimum(suffix, np.minimum(a_len, b_len) - prefix)
    affix = (prefix + suffix) / longest
    sim = np.where(a_len == b_len, hamming, affix)
    return np.where((a_len == 0) | (b_len == 0), 0.0, sim)


def _corrupt(
    table: CodedTable, j: int, original: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Simulated errors: a one-character typo, another value of the column, or a blank."""
    kind = rng.integers(0, 3, size=len(original))
    out = np.full(len(original), -1, dtype=np.int64)
    col = table.codes[:, j]
    present = col[col >= 0]
    if len(present):
        other = present[rng.integers(0, len(present), size=len(original))]
        swap = kind == 1
        out[swap] = other[swap]
        out[swap & (other == original)] = -1
    uniques = table.uniques[j]
    alphabet = sorted({ch for v in uniques[: min(len(uniques), 2000)] for ch in str(v)}) or ["x"]
    typos = np.flatnonzero((kind == 0) & (original >= 0))
    strings = []
    for i in typos:
        text = str(uniques[original[i]])
        if not text:
            strings.append("?")
            continue
        pos = int(rng.integers(0, len(text)))
        ch = alphabet[int(rng.integers(0, len(alphabet)))]
        if ch == text[pos]:
            ch = "?" if ch != "?" else "!"
        strings.append(text[:pos] + ch + text[pos + 1 :])
    if len(typos):
        out[typos] = table.intern(j, np.asarray(strings, dtype=object))
    return out


def _source_reliability(
    table: CodedTable,
    s: int,
    fds: dict[int, list[list[int]]],
    frame: pd.DataFrame,
    examples: pd.DataFrame | None,
) -> tuple[np.ndarray, SourceWeights]:
    """Per row, its source's estimated accuracy; per source, the weight of its vote.

    Accuracies come from truth discovery over the FD groups (:func:`source_accuracies`), with
    sources that copy each other (:func:`copy_clusters`) counted once. With corrected
    examples, agreement with the corrections is blended in (direct evidence, where the
    elected values are only a proxy).
    """
    contexts = [(lhs, j) for j, lhss in fds.items() for lhs in lhss]
    independence = 1.0 / np.sqrt(copy_clusters(table, s, contexts))
    estimate = source_accuracies(table, s, contexts, independence=independence)
    source = table.codes[:, s]
    known = source >= 0
    n_sources = len(estimate)
    if examples is not None:
        ex_agree, ex_seen = _agreement_with_examples(table, fds, examples)
        ok = known & (ex_seen > 0)
        src_ex_agree = np.bincount(source[ok], weights=ex_agree[ok], minlength=n_sources)
        src_ex_seen = np.bincount(source[ok], weights=ex_seen[ok], minlength=n_sources)
        estimate = (src_ex_agree + 2 * estimate) / (src_ex_seen + 2)
    clipped = np.clip(estimate, 0.01, 0.99)
    vote = np.maximum(np.log(10 * clipped / (1 - clipped)), 0.0) * independence
    reliability = np.where(known, estimate[np.maximum(source, 0)], float(np.mean(estimate)))
    return reliability, SourceWeights(s, vote, float(np.mean(vote)))


def _agreement_with_examples(
    table: CodedTable, fds: dict[int, list[list[int]]], examples: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, how many of its FD-determined cells agree with a corrected example.

    A corrected value of an FD's right-hand side is the true value for every row sharing the
    example row's left-hand side, so each example also checks the other rows of its entity.
    """
    agree = np.zeros(table.n_rows)
    seen = np.zeros(table.n_rows)
    rows = examples.index.to_numpy()
    for col in examples.columns:
        j = table.index(col)
        if j not in fds:
            continue
        truth = table.code_of(j, examples[col].to_numpy(dtype=object))
        for lhs in fds[j]:
            groups = group_ids(table.codes[:, lhs])
            known = (groups[rows] >= 0) & (truth != -2)
            lookup = pd.Series(truth[known], index=groups[rows][known])
            lookup = lookup[~lookup.index.duplicated()]
            target = lookup.reindex(groups).to_numpy()
            has = ~pd.isna(target)
            has &= groups >= 0
            values = table.codes[:, j]
            agree[has] += values[has] == target[has].astype(np.int64)
            seen[has] += 1
    return agree, seen


def _with_examples(
    repairs: pd.DataFrame, frame: pd.DataFrame, examples: pd.DataFrame
) -> pd.DataFrame:
    """Example rows take their corrected values (probability 1, detector ``example``)."""
    stacked = examples.stack(future_stack=True).rename("new").reset_index()
    stacked.columns = ["row", "column", "new"]
    old = [frame.at[r, c] for r, c in zip(stacked["row"], stacked["column"], strict=True)]
    stacked["old"] = pd.Series(old, dtype="string")
    stacked["new"] = stacked["new"].astype("string")
    changed = (stacked["old"] != stacked["new"]).fillna(True) & ~(
        stacked["old"].isna() & stacked["new"].isna()
    )
    stacked = stacked[changed.to_numpy(dtype=bool)].assign(probability=1.0, detectors="example")
    keyed = set(zip(stacked["row"], stacked["column"], strict=True))
    example_rows = set(examples.index)
    keep = [
        (r, c) not in keyed and r not in example_rows
        for r, c in zip(repairs["row"], repairs["column"], strict=True)
    ]
    merged = pd.concat([repairs[keep], stacked[list(repairs.columns)]], ignore_index=True)
    order = {c: i for i, c in enumerate(frame.columns)}
    merged["_order"] = merged["column"].map(order)
    merged["row"] = merged["row"].astype(np.int64)
    return (
        merged.sort_values(["row", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _labelled(frame: pd.DataFrame, labels: dict[str, Any]) -> pd.DataFrame:
    """``frame`` (columns named as text) with the input's column labels back."""
    return frame.set_axis([labels[name] for name in frame.columns], axis=1)


def apply_repairs(frame: pd.DataFrame, repairs: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` with each repair's ``new`` value written.

    Parameters
    ----------
    frame : pandas.DataFrame
    repairs : pandas.DataFrame
        ``row`` (0-based position), ``column`` (a column label of ``frame``) and ``new`` (the
        value as text, as :attr:`Cleaner.repairs_` holds it).

    Returns
    -------
    pandas.DataFrame
        ``frame``'s index and column labels. Repaired columns hold strings (values are
        repaired as text, so nothing is retyped); the others are ``frame``'s as they are.

    Raises
    ------
    DataError
        When ``repairs`` lacks one of those columns, or a repair names a column ``frame``
        lacks or a row that is not a position of ``frame``.

    Examples
    --------
    >>> frame = pd.DataFrame({"n": [1, 2, 3], "m": [4, 5, 6]}, index=["a", "b", "c"])
    >>> fixes = pd.DataFrame({"row": [1], "column": ["n"], "new": ["7"]})
    >>> repaired = apply_repairs(frame, fixes)
    >>> repaired["n"].to_dict(), repaired["m"].to_dict()
    ({'a': '1', 'b': '7', 'c': '3'}, {'a': 4, 'b': 5, 'c': 6})
    """
    absent = [name for name in ("row", "column", "new") if name not in repairs.columns]
    if absent:
        raise DataError(f"repairs lack column(s) {absent}; they need row, column and new")
    position = {label: j for j, label in enumerate(frame.columns)}
    unknown = [c for c in pd.unique(repairs["column"]) if c not in position]
    if unknown:
        raise DataError(
            f"repairs name column(s) {unknown} that the table lacks; it has {list(frame.columns)}"
        )
    targets = np.fromiter((position[c] for c in repairs["column"]), np.int64, len(repairs))
    given = pd.to_numeric(repairs["row"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~((given >= 0) & (given < len(frame)) & (given % 1 == 0))
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"the repair at position {first} names row {repairs['row'].tolist()[first]!r}; "
            f"rows are 0-based positions from 0 to {len(frame) - 1}"
        )
    rows = given.astype(np.int64)
    texts = repairs["new"].to_numpy(dtype=object)
    out = frame.copy()
    for j in np.unique(targets):
        at = targets == j
        out.isetitem(int(j), _written(frame.iloc[:, j], rows[at], texts[at]))
    return out


def _written(column: pd.Series, rows: np.ndarray, texts: np.ndarray) -> pd.Series:
    """``column`` as strings, with ``texts`` at the positions ``rows``."""
    strings = column.astype("string").to_numpy(dtype=object).copy()
    strings[rows] = texts
    return pd.Series(pd.array(strings, dtype="string"), index=column.index, name=column.name)


def clean(
    frame: pd.DataFrame,
    constraints: Any = None,
    *,
    examples: pd.DataFrame | None = None,
    min_confidence: float = 0.3,
    **params: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detect and repair errors in one call.

    Parameters
    ----------
    frame : pandas.DataFrame
    constraints : Constraints, path, dict, list of str or None
    examples : pandas.DataFrame, optional
        Corrected rows with a ``_row`` column (see :meth:`Cleaner.fit`).
    min_confidence : float, default 0.3
    **params
        Other :class:`Cleaner` parameters.

    Returns
    -------
    repaired : pandas.DataFrame
        The input with the repairs applied: its index and column labels, repaired columns as
        strings, the others as they were (see :func:`apply_repairs`).
    repairs : pandas.DataFrame
        ``row``, ``column``, ``old``, ``new``, ``probability``, ``detectors``.

    Raises
    ------
    DataError
        When the table is empty.
    ConstraintError
        When a rule names a column the table lacks.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame; got {type(frame).__name__}")
    cleaner = Cleaner(constraints=constraints, min_confidence=min_confidence, **params)
    cleaner.fit(frame, examples=examples)
    return cleaner.repaired_, cleaner.repairs_
