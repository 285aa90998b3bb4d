"""The pipeline's stages: load, label (LF modules, label columns, gold), label model, train.

Each stage that costs time is cached by a digest of everything it reads (data, LF file, spec
section, library version) so that editing one LF module reruns that module's labeling and what
depends on it, and nothing else.
"""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gristmill._version import __version__
from gristmill.exceptions import DataError, GristmillError, LFError, SupervisionWarning
from gristmill.io import read_table_parts, row_numbering
from gristmill.io._files import is_glob
from gristmill.labeling._matrix import ABSTAIN, LabelMatrix, compact_label_dtype
from gristmill.pipeline._cache import StageCache, digest, file_digest, frame_digest
from gristmill.pipeline._spec import PipelineSpec, Source, SpecSource, Task

if TYPE_CHECKING:
    from gristmill.cleaning import Constraints

__all__ = [
    "LoadedSplit",
    "class_indices",
    "fit_label_model",
    "gold_rows",
    "label_split",
    "load_lf_modules",
    "load_split",
    "train_end_model",
]

SPLITS = ("train", "dev", "test")
_INTEGER = re.compile(r"[+-]?\d+")


def _task(spec: PipelineSpec, task: str | None) -> tuple[str, Task]:
    """The task named ``task`` (default: the spec's first) and its name."""
    name = spec.task_name if task is None else task
    return name, spec.tasks[name]


def gold_rows(gold: np.ndarray) -> np.ndarray:
    """Which rows have a gold label (class indices, or (n, k) multilabel indicators)."""
    return np.asarray(gold >= 0) if gold.ndim == 1 else np.asarray((gold >= 0).all(axis=1))


@dataclass
class LoadedSplit:
    """One split as loaded: the frame, a description of where it came from, its digest.

    The frame's index is its position in the split. ``rows`` numbers its rows as they are
    in the source instead, from 1 and before any ``where`` or ``sample``, and ``numbering``
    says how in words: an error about a row names it by that number, which the user can find
    in the file or the query's result (None and "" when unknown). A source of several files
    (a glob, a directory of Parquet parts) numbers each row in its file, as the dask engine
    does: ``file_numbering`` says how per file, ``file_of_row`` which file each row is from.
    """

    frame: pd.DataFrame
    source: str
    digest: str
    rows: np.ndarray | None = None
    numbering: str = ""
    file_numbering: tuple[str, ...] = ()
    file_of_row: np.ndarray | None = None

    def numbered(self) -> pd.DataFrame:
        """The frame indexed by ``rows`` (the frame itself when they are unknown)."""
        return self.frame if self.rows is None else self.frame.set_axis(pd.Index(self.rows))

    def numbering_at(self, position: int) -> str:
        """How the row at ``position`` of the frame is numbered: in its file, for several."""
        if self.file_of_row is None:
            return self.numbering
        return self.file_numbering[int(self.file_of_row[position])]

    def by_file(self) -> list[tuple[pd.DataFrame, str]]:
        """The numbered rows of each file the split has rows of, and how they are numbered."""
        numbered = self.numbered()
        if self.file_of_row is None:
            return [(numbered, self.numbering)]
        return [
            (numbered[self.file_of_row == i], phrase)
            for i, phrase in enumerate(self.file_numbering)
            if (self.file_of_row == i).any()
        ]


# -- load --------------------------------------------------------------------------------------


_IN_MEMORY = ":memory:"


def _database_file(connection: str, root: Path) -> Path | None:
    """The file a SQLite or DuckDB connection opens; None for an in-memory database or a server.

    ``duckdb:PATH`` and ``sqlite:PATH`` are relative to ``root`` (the spec's folder); a
    SQLAlchemy URL ``sqlite:///PATH`` is relative to the working directory, as SQLAlchemy
    opens it.
    """
    scheme, _, rest = connection.partition(":")
    if scheme == "duckdb":
        target = rest.removeprefix("///") or _IN_MEMORY
        return None if target == _IN_MEMORY else root / target
    if scheme == "sqlite" and not rest.startswith("//"):
        return None if rest == _IN_MEMORY else root / rest
    if scheme.partition("+")[0] != "sqlite":
        return None
    from gristmill._extras import require

    sqlalchemy = require("sqlalchemy", extra="sql", feature="SQL sources")
    url = sqlalchemy.engine.make_url(connection)
    if url.database in (None, "", _IN_MEMORY) or url.query.get("uri"):
        return None
    return Path(url.database).absolute()


def _read_sql(source: Source, root: Path) -> pd.DataFrame:
    connection = str(source.connection)
    scheme, _, rest = connection.partition(":")
    database = _database_file(connection, root)
    if scheme == "duckdb":
        from gristmill._extras import require

        duckdb = require("duckdb", extra="sql", feature="SQL sources on DuckDB")
        with duckdb.connect(_IN_MEMORY if database is None else str(database)) as con:
            con.execute(f"SET file_search_path = '{root.as_posix()}'")
            return con.execute(str(source.sql)).df()
    if scheme == "sqlite" and not rest.startswith("//"):
        with sqlite3.connect(_IN_MEMORY if database is None else database) as con:
            return pd.read_sql_query(str(source.sql), con)
    from gristmill._extras import require

    sqlalchemy = require("sqlalchemy", extra="sql", feature="SQL sources")
    engine = sqlalchemy.create_engine(connection)
    try:
        with engine.connect() as con:
            return pd.read_sql_query(sqlalchemy.text(str(source.sql)), con)
    finally:
        engine.dispose()


def load_split(
    split: str,
    source: Source,
    root: Path,
    where: SpecSource,
    tables: dict[Path, list[tuple[Path, pd.DataFrame]]] | None = None,
) -> LoadedSplit:
    """Read one split, then apply its ``where`` filter and seeded ``sample``.

    Parameters
    ----------
    tables : dict of Path to list of (Path, DataFrame), optional
        Tables already read, by resolved path (or glob), as :func:`gristmill.io.read_table_parts`
        gives them: splits of one table (train, dev and test filtered from it) read it once. A
        table read here is added.

    Raises
    ------
    SpecError
        Naming the spec line and key when the file (or a SQLite or DuckDB database file) is
        missing or unreadable, the query fails, or the filter is invalid. A missing database
        file is never created.
    """
    loc: tuple[Any, ...] = ("data", split)
    rows: np.ndarray | None = None
    file_numbering: tuple[str, ...] = ()
    file_of_row: np.ndarray | None = None
    if source.path is not None:
        path = (root / source.path).resolve()
        if not path.exists() and not is_glob(path):
            raise where.error((*loc, "path"), f"no such file: {path}")
        if tables is not None and path in tables:
            parts = tables[path]
        else:
            try:
                parts = read_table_parts(path)
            except DataError as exc:
                raise where.error((*loc, "path"), str(exc)) from exc
            if tables is not None:
                tables[path] = parts
        origin = str(path)
        numbering = f"rows of {path} {row_numbering(path)}"
        frame = parts[0][1]
        if len(parts) > 1:
            frame, rows, file_of_row = _one_table(parts)
            numbering = f"rows of {path} {row_numbering(path)}, in each file"
            file_numbering = tuple(f"rows of {file} {row_numbering(file)}" for file, _ in parts)
    else:
        database = _database_file(str(source.connection), root)
        if database is not None and not database.is_file():
            # connecting would create an empty database and blame the query's table
            raise where.error(
                (*loc, "connection"),
                f"no such database file: {database} (from {source.connection!r})",
            )
        try:
            frame = _read_sql(source, root)
        except GristmillError:
            raise
        except Exception as exc:
            raise where.error(
                (*loc, "sql"), f"the query failed: {type(exc).__name__}: {exc}"
            ) from exc
        origin = f"{source.connection}: {source.sql}"
        numbering = f"rows of the result of {origin} numbered from 1"
    described = origin
    if rows is None:
        rows = np.arange(1, len(frame) + 1)
    positions = np.arange(len(frame))
    if source.where is not None:
        try:
            kept = _kept_positions(frame, source.where)
        except Exception as exc:
            raise where.error(
                (*loc, "where"), f"cannot filter with {source.where!r}: {exc}"
            ) from exc
        frame, rows, positions = frame.iloc[kept], rows[kept], positions[kept]
        described = f"{origin} where {source.where}"
    if source.sample is not None:
        sample = source.sample
        order = np.random.default_rng(sample.seed).permutation(len(frame))
        picked = np.sort(order[int(sample.start * len(frame)) : int(sample.stop * len(frame))])
        frame, rows, positions = frame.iloc[picked], rows[picked], positions[picked]
        described = f"{described} sample(seed={sample.seed}, {sample.start}-{sample.stop})"
    frame = frame.reset_index(drop=True)
    if frame.empty:
        raise where.error(loc, f"the {split} split has no rows ({described})")
    return LoadedSplit(
        frame=frame,
        source=origin,
        digest=frame_digest(frame),
        rows=rows,
        numbering=numbering,
        file_numbering=file_numbering,
        file_of_row=None if file_of_row is None else file_of_row[positions],
    )


def _one_table(
    parts: list[tuple[Path, pd.DataFrame]],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The files' rows as one table indexed from 0, each row's number in its file (from 1),
    and which file (its position in ``parts``) each row is from."""
    sizes = [len(part) for _, part in parts]
    frame = pd.concat([part for _, part in parts if len(part)] or [parts[0][1]], ignore_index=True)
    rows_in_files = np.concatenate([np.arange(1, n + 1) for n in sizes])
    file_of_row = np.repeat(np.arange(len(parts)), sizes)
    return frame, rows_in_files, file_of_row


def _kept_positions(frame: pd.DataFrame, expression: str) -> np.ndarray:
    """Positions of the rows ``frame.query(expression)`` keeps (its index may repeat labels)."""
    position = "__gristmill_position__"
    numbered = frame.assign(**{position: np.arange(len(frame))})
    return numbered.query(expression, engine="python")[position].to_numpy()


def check_columns(spec: PipelineSpec, splits: Mapping[str, LoadedSplit], where: SpecSource) -> None:
    """Check payload, id, gold and label columns exist where they are needed.

    A task's gold column must be in every dev and test split given (it selects and scores the
    models), and in train when its gold labels vote (``supervision.gold_labels``) or when no
    dev or test split is given.

    A task's gold column cannot be one of its label columns: it would vote the answer on the
    dev and test rows that score the models.

    Raises
    ------
    SpecError
        Naming the spec key of the missing column and the split lacking it, or of a label
        column that is the task's gold column.
    """
    for name, task in spec.tasks.items():
        if task.gold is not None and task.gold in task.supervision.label_columns:
            raise where.error(
                ("tasks", name, "supervision", "label_columns", task.gold),
                f"{task.gold!r} is the task's gold column: as a label column it would vote the "
                f"answer on dev and test; use supervision.gold_labels: true instead (gold "
                f"labels then vote on train only)",
            )
    for split, loaded in splits.items():
        columns = list(loaded.frame.columns)
        needed: list[tuple[tuple[Any, ...], str]] = [(("payloads", c), c) for c in spec.payloads]
        if spec.data.id is not None:
            needed.append((("data", "id"), spec.data.id))
        for name, task in spec.tasks.items():
            task_loc = ("tasks", name)
            needed += [
                ((*task_loc, "supervision", "label_columns", c), c)
                for c in task.supervision.label_columns
            ]
            if task.gold is not None and _needs_gold(task, split, splits):
                needed.append(((*task_loc, "gold"), task.gold))
        for loc, column in needed:
            if column not in columns:
                raise where.error(
                    loc,
                    f"column {column!r} is not in the {split} data "
                    f"({loaded.source}); it has {columns}",
                )


def _needs_gold(task: Task, split: str, splits: Collection[str]) -> bool:
    """Whether ``split`` must hold the gold column of ``task`` (see :func:`check_columns`)."""
    if split != "train":
        return True
    evaluated = any(s in splits for s in ("dev", "test"))
    return task.supervision.gold_labels or not evaluated


def class_indices(
    values: pd.Series, classes: Sequence[str], mapping: Mapping[str, str] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """Map raw labels to class indices (-1 where missing).

    A value matches a class by name, compared as text; a whole float is compared as its
    integer text first (``1.0`` as ``"1"``), since a numeric column with blanks is read as
    floats. Failing that, an integer ``0 <= v < k`` is the class index ``v``, unless a class
    name is itself an integer (as ``["1", "2", "3"]``): numbers are then always class names,
    never indices, so a column cannot mix both readings. With ``mapping`` (raw value as text
    -> class name) only the mapping is used, its keys compared as class names are.

    Returns
    -------
    (ndarray of int, list)
        The indices, and the distinct non-missing values that match no class.

    Examples
    --------
    >>> class_indices(pd.Series([1.0, None, 3.0, 0.0]), ["1", "2", "3"])
    (array([ 0, -1,  2, -1]), [0.0])
    >>> class_indices(pd.Series(["spam", 0, 1.0]), ["ham", "spam"])[0]
    array([1, 0, 1])
    """
    matcher = ClassMatcher(classes, mapping)
    out = np.full(len(values), ABSTAIN, dtype=np.int64)
    for position, value in enumerate(values):
        index = matcher.index(value)
        if index is not None and index != ABSTAIN:
            out[position] = index
    return out, matcher.unknown


class ClassMatcher:
    """Matches raw label values to class indices as :func:`class_indices` says, noting the
    distinct values that match no class.

    Each distinct value (by type and text) is matched once: a column holds few distinct labels,
    however many rows it has.

    Parameters
    ----------
    classes : sequence of str
        The task's class names.
    mapping : mapping of str to str, optional
        Raw value as text -> class name; only it is used when given.

    Attributes
    ----------
    unknown : list
        The distinct non-missing values matched so far that match no class, in the order seen.
    """

    def __init__(self, classes: Sequence[str], mapping: Mapping[str, str] | None = None) -> None:
        names = {name: i for i, name in enumerate(classes)}
        if mapping is not None:
            names = {raw: names[name] for raw, name in mapping.items() if name in names}
        self._names = names
        self._by_index = mapping is None and _reads_class_indices(classes)
        self._k = len(classes)
        self._matched: dict[tuple[type, str], int | None] = {}
        self.unknown: list[Any] = []
        self._unknown_hashable: set[Any] = set()

    def index(self, value: Any) -> int | None:
        """The class index of ``value``; ``ABSTAIN`` when it is missing, None when it is no class.

        The type and the text of a value decide its match (a float's text is its exact value).
        """
        key = (type(value), str(value))
        if key in self._matched:
            return self._matched[key]
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            index: int | None = ABSTAIN
        else:
            index = next((self._names[text] for text in _texts(value) if text in self._names), None)
            if index is None and self._by_index:
                index = _as_index(value, self._k)
            if index is None:
                self._note_unknown(value)
        self._matched[key] = index
        return index

    def _note_unknown(self, value: Any) -> None:
        """Add ``value`` to ``unknown`` unless an equal value is there already."""
        try:
            if value in self._unknown_hashable:
                return
            self._unknown_hashable.add(value)
        except TypeError:  # unhashable (a list): compared with every value kept
            if value in self.unknown:
                return
        self.unknown.append(value)


def _reads_class_indices(classes: Sequence[str]) -> bool:
    """Whether numbers may be class indices: no class name is an integer (see class_indices)."""
    return not any(_INTEGER.fullmatch(name) for name in classes)


def _texts(value: Any) -> list[str]:
    """The texts a raw value matches class names (or value-map keys) by: its category text
    (integral floats as ints) first, then its plain text."""
    from gristmill.training._features import category_text

    return list(dict.fromkeys((category_text(value), str(value))))


def _as_index(value: Any, k: int) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number.is_integer() and 0 <= number < k:
        return int(number)
    return None


def _labels(task: Task, values: pd.Series, mapping: Mapping[str, str] | None = None) -> Any:
    """Class indices of a column, or (n, k) label-set indicators for a multilabel task."""
    if task.multilabel:
        from gristmill.pipeline._multilabel import label_sets

        return label_sets(values, task.classes, task.label_delimiter, mapping)
    return class_indices(values, task.classes, mapping)


def gold_labels(
    spec: PipelineSpec,
    split: str,
    loaded: LoadedSplit,
    where: SpecSource,
    *,
    task: str | None = None,
) -> np.ndarray | None:
    """Gold labels of a split (None when it has no gold column).

    Class indices (-1 where missing); for a multilabel task (n, k) indicators of the labels
    each row carries (a row of -1 where missing).

    Raises
    ------
    SpecError
        When a gold value is neither a class name nor a class index.
    """
    name, spec_task = _task(spec, task)
    column = spec_task.gold
    if column is None or column not in loaded.frame.columns:
        return None
    indices, unknown = _labels(spec_task, loaded.frame[column])
    if unknown:
        classes = spec_task.classes
        nor = f" (nor class indices 0..{len(classes) - 1})" if _reads_class_indices(classes) else ""
        raise where.error(
            ("tasks", name, "gold"),
            f"gold column {column!r} of the {split} data holds value(s) {unknown[:5]} that are "
            f"not in classes {classes}{nor}{_first_row_of(loaded, column, unknown[0])}",
        )
    return indices


def _first_row_of(loaded: LoadedSplit, column: str, value: Any) -> str:
    """``"; the first ... is on row N (numbering)"``: where ``value`` first is in ``column``.

    Empty when the rows' numbers in the source are unknown, or ``value`` is no whole cell (a
    multilabel item, inside a label set).
    """
    if loaded.rows is None:
        return ""
    cells = loaded.numbered()[column]
    found = [i for i, cell in enumerate(cells) if type(cell) is type(value) and cell == value]
    if not found:
        return ""
    row, numbering = cells.index[found[0]], loaded.numbering_at(found[0])
    return f"; the first, {value!r}, is on row {row} ({numbering})"


# -- labeling ----------------------------------------------------------------------------------


@dataclass
class LFModule:
    """An LF module of the spec: its path, content digest (with the helper modules it imports
    from its folder), labeling functions, and the files it was built from (its own first)."""

    path: Path
    digest: str
    lfs: list[Any]
    files: list[Path]


def load_lf_modules(
    spec: PipelineSpec, root: Path, where: SpecSource, *, task: str | None = None
) -> list[LFModule]:
    """Import every LF module of a task (default: the spec's first).

    Raises
    ------
    SpecError
        Naming the spec line of the module that is missing or fails to import.
    """
    from gristmill.labeling._load import import_lf_module

    task_name, spec_task = _task(spec, task)
    modules: list[LFModule] = []
    names: dict[str, Path] = {}
    for i, name in enumerate(spec_task.supervision.lfs):
        loc = ("tasks", task_name, "supervision", "lfs", i)
        path = (root / name).resolve()
        if not path.is_file():
            raise where.error(loc, f"no such LF module: {path}")
        if any(module.path == path for module in modules):
            raise where.error(loc, f"the LF module {path} is listed twice; remove one")
        try:
            lfs, files = import_lf_module(path)
        except LFError as exc:
            raise where.error(loc, str(exc)) from exc
        for lf in lfs:
            if lf.name in names:
                raise where.error(
                    loc,
                    f"LF names must be unique; {lf.name!r} is defined in "
                    f"{names[lf.name]} and {path}",
                )
            names[lf.name] = path
        # The module's own bytes alone when it imports no helper: older cache keys stay valid.
        module_digest = (
            file_digest(path)
            if len(files) == 1
            else digest([str(f.relative_to(path.parent)) for f in files], *map(file_digest, files))
        )
        modules.append(LFModule(path=path, digest=module_digest, lfs=lfs, files=files))
    return modules


def label_column_votes(
    spec: PipelineSpec,
    frame: pd.DataFrame,
    split: str,
    where: SpecSource,
    task: str | None,
    *,
    check_values: bool = False,
) -> tuple[list[str], list[np.ndarray]]:
    """The votes of a task's label columns, then of its gold labels (on train only).

    A multilabel task's columns give one source per label (``column:<name>:<label>``).

    Parameters
    ----------
    check_values : bool, default False
        Also check the values the label columns hold, which needs the whole split (a sample
        may miss the values that map): a column holding values none of which maps to a class
        is an error; a multilabel column holding items that are no label warns
        (SupervisionWarning), naming them (its rows holding them abstain on every label either
        way).

    Returns
    -------
    (list of str, list of ndarray)
        The source names and their votes.

    Raises
    ------
    SpecError
        When a value map names a class the task lacks, or (with ``check_values``) when a
        label column holds values of which none maps to a class.
    """
    task_name, spec_task = _task(spec, task)
    sup = spec_task.supervision
    blank = pd.Series([None] * len(frame), dtype=object)
    sources: list[tuple[str, np.ndarray]] = []
    for column, options in sup.label_columns.items():
        loc = ("tasks", task_name, "supervision", "label_columns", column)
        mapping = options.values if options is not None else None
        if mapping is not None:
            bad = sorted(set(mapping.values()) - set(spec_task.classes))
            if bad:
                raise where.error(
                    (*loc, "values"), f"maps to {bad}, not in classes {spec_task.classes}"
                )
        values = frame[column] if column in frame.columns else blank
        labels, unknown = _labels(spec_task, values, mapping)
        unknown = [value for value in unknown if not _is_abstain_code(value)]
        if check_values and unknown:
            _check_label_values(spec_task, loc, split, labels, unknown, mapping, where)
        sources.append((f"column:{column}", labels))
    if sup.gold_labels and spec_task.gold is not None:
        gold = spec_task.gold
        # Gold labels supervise training only; on dev/test they would leak the answer.
        values = frame[gold] if gold in frame.columns and split == "train" else blank
        sources.append((f"gold:{gold}", _labels(spec_task, values)[0]))
    names: list[str] = []
    columns: list[np.ndarray] = []
    for name, labels in sources:
        if spec_task.multilabel:
            from gristmill.pipeline._multilabel import label_set_votes

            names += [f"{name}:{label}" for label in spec_task.classes]
            columns += list(label_set_votes(labels).T)
        else:
            names.append(name)
            columns.append(labels)
    return names, columns


def _is_abstain_code(value: Any) -> bool:
    """Whether a label column's value is -1 (``-1``, ``-1.0`` or the text ``"-1"``), the abstain
    of Snorkel-style label matrices, which abstains as a blank cell does.

    Examples
    --------
    >>> [_is_abstain_code(v) for v in (-1, -1.0, "-1", " -1 ", "1", True, None)]
    [True, True, True, True, False, False, False]
    """
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, int | float | np.integer | np.floating):
        return bool(value == ABSTAIN)
    return isinstance(value, str) and value.strip() == "-1"


def _check_label_values(
    task: Task,
    loc: tuple[Any, ...],
    split: str,
    labels: np.ndarray,
    unknown: list[Any],
    mapping: Mapping[str, str] | None,
    where: SpecSource,
) -> None:
    """Check a label column whose values include some (``unknown``) that match no class.

    A column none of whose values maps to a class would silently never vote: a SpecError. A
    multilabel row holding an unknown item abstains on every label (its set is not known), and
    the column warns, naming the items.

    Raises
    ------
    SpecError
        Naming the column (or its value map), the values it holds and the classes.
    """
    column = loc[-1]
    held = repr(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
    if mapping is not None:
        by = (
            f"the value map {dict(mapping)} (keys are compared as text, a whole number as its "
            f"integer: 1.0 as '1')"
        )
    else:
        by = f"classes {task.classes}"
        if _reads_class_indices(task.classes):
            by += f" or a class index 0..{len(task.classes) - 1}"
    if not np.any(labels != ABSTAIN):
        raise where.error(
            loc if mapping is None else (*loc, "values"),
            f"label column {column!r} of the {split} data holds {held}, none of which maps to "
            f"a class by {by}",
        )
    if task.multilabel:
        warnings.warn(
            f"label column {column!r} of the {split} data holds item(s) {held} that map to "
            f"no label by {by}; rows holding them abstain on every label",
            SupervisionWarning,
            stacklevel=4,
        )


def label_split(
    spec: PipelineSpec,
    split: str,
    loaded: LoadedSplit,
    modules: Sequence[LFModule],
    cache: StageCache,
    where: SpecSource,
    *,
    on_module: Callable[[Path, bool], None] | None = None,
    dry_run: bool = False,
    task: str | None = None,
) -> LabelMatrix | None:
    """Build a task's label matrix of a split: LF modules (each cached), label columns, gold.

    Parameters
    ----------
    task : str, optional
        The task (default: the spec's first). A multilabel task's votes are ``j`` (label j
        applies) or ``k + j`` (it does not).
    on_module : callable, optional
        ``on_module(path, cached)`` after each LF module.
    dry_run : bool, default False
        Compute nothing: return the matrix if every module's output is cached, else None.
    """
    _, spec_task = _task(spec, task)
    # the label columns first: their values are checked before the LFs' long work
    column_names, column_votes = label_column_votes(
        spec, loaded.frame, split, where, task, check_values=True
    )
    k = len(spec_task.classes)
    top = 2 * k if spec_task.multilabel else k
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for module in modules:
        key = digest("lfs", __version__, module.digest, loaded.digest, spec.engine)
        entry = cache.lookup("lfs", key)
        if entry is not None:
            matrix = LabelMatrix.from_parquet(entry / "label_matrix.parquet")
        elif dry_run:
            return None
        else:
            matrix = _apply_module(module, split, loaded, spec.engine)
            with cache.store("lfs", key) as tmp:
                matrix.to_parquet(tmp / "label_matrix.parquet")
        values = matrix.to_numpy()
        if values.size:
            check_vote_range(module.path, matrix.lf_names, values.max(axis=0), spec_task)
        names += list(matrix.lf_names)
        blocks.append(values.astype(np.int64))
        if on_module is not None:
            on_module(module.path, entry is not None)
    names += column_names
    blocks += [v[:, None] for v in column_votes]
    values = np.hstack(blocks) if blocks else np.empty((len(loaded.frame), 0), dtype=np.int64)
    return LabelMatrix(values.astype(compact_label_dtype(top)), names)


def check_vote_range(
    path: Path, lf_names: Sequence[str], highest: np.ndarray, spec_task: Task
) -> None:
    """Raise an LFError naming the LF module ``path`` when one of its LFs votes no class.

    ``highest`` holds each LF's highest vote. A multilabel task's votes are ``j`` (label j
    applies) or ``k + j`` (it does not).
    """
    k = len(spec_task.classes)
    top = 2 * k if spec_task.multilabel else k
    if not len(highest) or highest.max() < top:
        return
    j = int(np.argmax(highest))
    allowed = (
        f"0..{k - 1} (label applies) or {k}..{top - 1} (label does not apply)"
        if spec_task.multilabel
        else f"0..{k - 1}"
    )
    raise LFError(
        f"{path}: LF {lf_names[j]!r} votes {int(highest[j])}, but the task has {k} classes "
        f"{spec_task.classes}: votes must be {allowed} or -1 (abstain)",
        lf_name=lf_names[j],
    )


def _apply_module(module: LFModule, split: str, loaded: LoadedSplit, engine: str) -> LabelMatrix:
    """Apply a module's LFs to a split; an error names the row by its number in the source."""
    from gristmill.labeling import apply_lfs

    try:
        matrix = apply_lfs(module.lfs, loaded.numbered(), engine=engine)
    except LFError as exc:
        error, numbering = exc, loaded.numbering
        if loaded.file_of_row is not None:
            # rows of several files: find the file, for the error to name the row in it
            error, numbering = _failure_by_file(module, loaded, engine) or (exc, numbering)
        raise LFError(
            f"{module.path}: the {split} data ({numbering}): {error}",
            lf_name=error.lf_name,
            row=error.row,
        ) from error
    # the cache entry is keyed by the rows' content only, so it keeps no numbering
    return LabelMatrix(matrix.to_numpy(), matrix.lf_names)


def _failure_by_file(
    module: LFModule, loaded: LoadedSplit, engine: str
) -> tuple[LFError, str] | None:
    """The error of the module's LFs on the first file's rows they fail on, and how those rows
    are numbered (None when they fail on none: an LF that failed once may not fail again)."""
    from gristmill.labeling import apply_lfs

    for frame, numbering in loaded.by_file():
        try:
            apply_lfs(module.lfs, frame, engine=engine)
        except LFError as exc:
            return exc, numbering
    return None


# -- label model -------------------------------------------------------------------------------


@dataclass
class LabelModelOutput:
    """A fitted label model and its probabilistic labels per split."""

    model: Any
    probs: dict[str, np.ndarray]
    cached: bool


def fit_label_model(
    spec: PipelineSpec,
    matrices: Mapping[str, LabelMatrix],
    dev_gold: np.ndarray | None,
    cache: StageCache,
    *,
    dry_run: bool = False,
    task: str | None = None,
) -> LabelModelOutput | None:
    """Fit a task's label model on the train label matrix and predict every split.

    A multilabel task gets one binary label model per label
    (:class:`~gristmill.labelmodel.BinaryRelevanceLabelModel`); its probabilities
    are (n, k) chances that each label applies.
    """
    from gristmill.labelmodel import BinaryRelevanceLabelModel, get_label_model, load_label_model

    _, spec_task = _task(spec, task)
    k = len(spec_task.classes)
    lm_spec = spec_task.label_model_spec
    L_train = matrices["train"]
    use_dev = (
        lm_spec.use_dev
        and dev_gold is not None
        and "dev" in matrices
        and bool(np.any(gold_rows(dev_gold)))
    )
    key = digest(
        "label_model",
        __version__,
        L_train.to_numpy(),
        list(L_train.lf_names),
        lm_spec.model_dump(mode="json"),
        spec_task.classes,
        spec_task.kind,
        spec.seed,
        matrices["dev"].to_numpy() if use_dev else None,
        dev_gold if use_dev else None,
        {s: m.to_numpy() for s, m in matrices.items() if s != "train"},
    )
    entry = cache.lookup("label_model", key)
    if entry is not None:
        model = load_label_model(entry / "label_model")  # a multilabel task's too
        with np.load(entry / "probs.npz", allow_pickle=False) as npz:
            probs = {s: npz[s] for s in npz.files}
        return LabelModelOutput(model=model, probs=probs, cached=True)
    if dry_run:
        return None
    fit_kwargs: dict[str, Any] = {"seed": spec.seed}
    if use_dev:
        assert dev_gold is not None
        rows = gold_rows(dev_gold)
        gold_key = "Y_dev" if spec_task.multilabel else "y_dev"
        fit_kwargs.update({"L_dev": matrices["dev"].to_numpy()[rows], gold_key: dev_gold[rows]})
    fitted: Any
    if spec_task.multilabel:
        fitted = BinaryRelevanceLabelModel(spec_task.classes, name=lm_spec.name, **lm_spec.params)
    else:
        fitted = get_label_model(lm_spec.name, cardinality=k, **lm_spec.params)
    fitted.fit(L_train, **fit_kwargs)
    probs = {
        split: np.asarray(fitted.predict_proba(L), dtype=np.float64)
        for split, L in matrices.items()
    }
    with cache.store("label_model", key) as tmp:
        fitted.save(tmp / "label_model")
        np.savez(tmp / "probs.npz", **probs)
    return LabelModelOutput(model=fitted, probs=probs, cached=False)


# -- end model ---------------------------------------------------------------------------------


@dataclass
class TrainOutput:
    """The searched and refit end model, its trials and how it was selected."""

    model: Any
    trials: list[dict[str, Any]]
    selection: str
    cached: bool


def train_end_model(
    spec: PipelineSpec,
    train: pd.DataFrame,
    train_probs: np.ndarray,
    dev: pd.DataFrame | None,
    dev_gold: np.ndarray | None,
    cache: StageCache,
    *,
    on_trial: Callable[[int, dict[str, Any], float], None] | None = None,
    dry_run: bool = False,
    task: str | None = None,
) -> TrainOutput | None:
    """Search and refit a task's end model on its covered training rows (cached)."""
    from gristmill.training import (
        available_learners,
        load_end_model,
        save_end_model,
        search_end_model,
    )

    task_name, spec_task = _task(spec, task)
    model_spec = spec.model_spec
    candidates = (
        available_learners() if model_spec.candidates == "auto" else list(model_spec.candidates)
    )
    payloads = {name: p.featurizer_options() for name, p in spec.payload_specs.items()}
    columns = list(payloads)
    dev_rows = None
    if dev is not None and dev_gold is not None and bool(np.any(gold_rows(dev_gold))):
        dev_rows = gold_rows(dev_gold)
    key = digest(
        "train",
        __version__,
        frame_digest(train[columns]),
        train_probs,
        payloads,
        model_spec.model_dump(mode="json"),
        candidates,
        spec_task.classes,
        spec_task.kind,
        spec.seed,
        frame_digest(dev.loc[dev_rows, columns])
        if dev_rows is not None and dev is not None
        else None,
        dev_gold[dev_rows] if dev_rows is not None and dev_gold is not None else None,
    )
    entry = cache.lookup("train", key)
    if entry is not None:
        record = json.loads((entry / "search.json").read_text(encoding="utf-8"))
        if on_trial is not None:
            for trial in record["trials"]:
                on_trial(trial["number"], trial["params"], trial["value"])
        return TrainOutput(
            model=load_end_model(entry / "model"),
            trials=record["trials"],
            selection=record["selection"],
            cached=True,
        )
    if dry_run:
        return None
    if len(train) < 10:
        raise DataError(
            f"only {len(train)} training rows are covered by the supervision of task "
            f"{task_name!r}; need at least 10 (add LFs or label columns that vote on more rows)"
        )
    result = search_end_model(
        train,
        train_probs,
        payloads=payloads,
        classes=spec_task.classes,
        multilabel=spec_task.multilabel,
        dev=dev.loc[dev_rows] if dev_rows is not None and dev is not None else None,
        dev_y=dev_gold[dev_rows] if dev_rows is not None and dev_gold is not None else None,
        candidates=candidates,
        search_space={str(name): space for name, space in model_spec.search_space.items()},
        trials=model_spec.budget.trials,
        minutes=model_spec.budget.minutes,
        metric=model_spec.metric,
        holdout=model_spec.holdout,
        targets=model_spec.targets,
        seed=spec.seed,
        on_trial=on_trial,
    )
    with cache.store("train", key) as tmp:
        save_end_model(result.model, tmp / "model")
        (tmp / "search.json").write_text(
            json.dumps(
                {
                    "trials": result.trials,
                    "selection": result.selection,
                    "best_params": result.best_params,
                    "best_value": result.best_value,
                },
                indent=1,
                default=str,
            ),
            encoding="utf-8",
        )
    return TrainOutput(
        model=result.model, trials=result.trials, selection=result.selection, cached=False
    )


def read_cleaning_constraints(spec: PipelineSpec, root: Path, where: SpecSource) -> Any:
    """Parse the cleaning constraints up front (None without a cleaning section).

    Raises
    ------
    SpecError
        Naming ``cleaning.constraints`` when the file is missing or a rule does not parse.
    """
    if spec.cleaning is None:
        return None
    from gristmill.cleaning import Constraints, parse_constraints, read_constraints
    from gristmill.exceptions import ConstraintError

    imputation = spec.cleaning.imputation
    if imputation is not None and imputation.method == "attention":
        from gristmill._extras import require

        require("torch", extra="torch", feature="cleaning.imputation method 'attention'")
    rules = spec.cleaning.constraints
    try:
        if rules is None:
            return Constraints()
        if isinstance(rules, str):
            return read_constraints((root / rules).resolve())
        return parse_constraints("\n".join(rules), source_name="cleaning.constraints")
    except ConstraintError as exc:
        raise where.error(("cleaning", "constraints"), str(exc)) from exc


def check_cleaning_columns(
    spec: PipelineSpec, constraints: Any, columns: dict[str, Any], where: SpecSource
) -> None:
    """Check that the constraints and imputed columns exist in every split that is cleaned.

    The tasks' gold and label columns do not count: repair never sees them.

    ``columns`` maps each loaded split to its column names.

    Raises
    ------
    SpecError
        Naming ``cleaning.constraints`` or ``cleaning.imputation.columns``.
    """
    if constraints is None or spec.cleaning is None:
        return
    from gristmill.exceptions import ConstraintError

    imputation = spec.cleaning.imputation
    wanted = imputation.columns if imputation is not None else None
    supervision = supervision_columns(spec)
    for split in spec.cleaning.splits:
        if split not in columns:
            continue
        visible = [c for c in columns[split] if c not in supervision]
        hidden = "" if len(visible) == len(columns[split]) else " (gold and label columns excluded)"
        try:
            constraints.check_columns(visible, where=f"the {split} data{hidden}")
        except ConstraintError as exc:
            raise where.error(("cleaning", "constraints"), str(exc)) from exc
        absent = [c for c in wanted or [] if c not in visible]
        if absent:
            raise where.error(
                ("cleaning", "imputation", "columns"),
                f"column(s) {absent} are not in the {split} data{hidden}",
            )


def clean_split(
    spec: PipelineSpec,
    split: str,
    loaded: LoadedSplit,
    constraints: Constraints,
    cache: StageCache,
) -> tuple[LoadedSplit, pd.DataFrame, bool]:
    """Repair one split's cells with :func:`gristmill.cleaning.clean`, then impute (cached).

    Only repaired or imputed cells change; every other value keeps its type. Imputed cells
    are listed among the repairs with the detector ``imputation``. The tasks' gold and label
    columns are hidden from repair and imputation (:func:`without_labels`).

    Returns
    -------
    (LoadedSplit, DataFrame, bool)
        The cleaned split, the repairs (``row``, ``column``, ``old``, ``new``, ...), and
        whether they came from the cache.
    """
    from gristmill.cleaning import clean

    assert spec.cleaning is not None
    imputation = spec.cleaning.imputation
    key = digest(
        "clean",
        __version__,
        loaded.digest,
        constraints_digest(constraints),
        sorted(supervision_columns(spec)),
        spec.cleaning.min_confidence,
        None if imputation is None else imputation.model_dump_json(),
    )
    entry = cache.lookup("clean", key)
    if entry is not None:
        repairs = pd.read_parquet(entry / "repairs.parquet")
        cached = True
    else:
        visible = without_labels(spec, loaded.frame)
        found = []
        if spec.cleaning.constraints is not None:
            minimum = spec.cleaning.min_confidence
            found.append(clean(visible, constraints, min_confidence=minimum)[1])
        if imputation is not None:
            repaired = with_repairs(visible, found[0]) if found else visible
            found.append(_imputed_cells(repaired, imputation))
        repairs = pd.concat(found, ignore_index=True)
        with cache.store("clean", key) as tmp:
            repairs.astype({c: str for c in ("old", "new") if c in repairs}).to_parquet(
                tmp / "repairs.parquet", index=False
            )
        cached = False
    frame = with_repairs(loaded.frame, repairs)
    return replace(loaded, frame=frame, digest=frame_digest(frame)), repairs, cached


def constraints_digest(constraints: Constraints) -> str:
    """Digest of every rule of ``constraints``, dictionaries by their whole reference table.

    ``str(constraints)`` would not do: pandas abbreviates a long table's repr with ``...``.
    """
    return digest(
        [repr(rule) for rule in constraints.denial_constraints],
        [repr(rule) for rule in constraints.functional_dependencies],
        [repr(rule) for rule in constraints.domains],
        [(d.name, list(d.keys), frame_digest(d.table)) for d in constraints.dictionaries],
        constraints.source,
    )


def without_labels(spec: PipelineSpec, frame: Any) -> Any:
    """``frame`` without the tasks' gold and label columns (supervision, not payload).

    Repair must not see the labels (they would leak into the payloads), nor change them: a
    blank cell of a label column is an abstain, not a missing value to fill.
    """
    hidden = supervision_columns(spec)
    return frame[[c for c in frame.columns if c not in hidden]]


def supervision_columns(spec: PipelineSpec) -> set[str]:
    """The tasks' gold and label columns."""
    columns = {task.gold for task in spec.tasks.values() if task.gold is not None}
    for task in spec.tasks.values():
        columns.update(task.supervision.label_columns)
    return columns


def with_repairs(frame: pd.DataFrame, repairs: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with each repair's new value, in the column's type where possible."""
    frame = frame.copy()
    for row, column, new in zip(repairs["row"], repairs["column"], repairs["new"], strict=True):
        position = frame.columns.get_loc(column)
        frame.iat[int(row), position] = _like(frame[column], new)
    return frame


def _imputed_cells(frame: pd.DataFrame, imputation: Any) -> pd.DataFrame:
    """The cells an imputer fills, as repairs with the detector ``imputation``."""
    from gristmill.cleaning import get_imputer

    columns = imputation.columns or [c for c in frame.columns if frame[c].isna().any()]
    if not columns:
        return _imputations(np.zeros(0, dtype=np.int64), "", pd.Series([], dtype=str))
    imputer = get_imputer(imputation.method, columns=columns)
    filled = imputer.fit_transform(frame.reset_index(drop=True))
    parts = []
    for column in imputer.impute_columns_:
        rows = np.flatnonzero(frame[column].isna().to_numpy() & filled[column].notna().to_numpy())
        parts.append(_imputations(rows, str(column), filled[column].iloc[rows]))
    return pd.concat(parts, ignore_index=True)


def _imputations(rows: np.ndarray, column: str, values: pd.Series) -> pd.DataFrame:
    """Repairs (``row``, ``column``, ``old``, ``new``, ...) of cells filled by imputation."""
    return pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "column": column,
            "old": pd.Series([None] * len(rows), dtype="string"),
            "new": pd.Series(values.astype(str).to_numpy(), dtype="string"),
            "probability": np.nan,
            "detectors": "imputation",
        }
    )


def _like(column: pd.Series, value: Any) -> Any:
    """``value`` converted to the column's type where possible (repairs come as text)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    if pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_float_dtype(column.dtype):
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        return number if not pd.isna(number) else value
    return value
