"""The pipeline runner: ``Pipeline.from_yaml(path).run()`` -> :class:`PipelineResult`.

Stages, in order: load -> label (LF modules, label columns) -> label model -> drop uncovered
rows -> search and train the end model -> evaluate (overall, per slice, discovered slices) ->
write the run directory and report. Long stages are cached (see ``_stages``); everything is
validated before any long work starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import GristmillError, LFError, OutputError, ParameterError
from gristmill.io import atomic_write_text, check_replaceable, replace_directory, write_table
from gristmill.labeling._matrix import LabelMatrix
from gristmill.pipeline._cache import StageCache
from gristmill.pipeline._spec import (
    PipelineSpec,
    SpecSource,
    load_spec,
    spec_to_dict,
    validate_spec,
)
from gristmill.pipeline._stages import (
    SPLITS,
    LFModule,
    LoadedSplit,
    check_cleaning_columns,
    check_columns,
    clean_split,
    fit_label_model,
    gold_labels,
    gold_rows,
    label_split,
    load_lf_modules,
    load_split,
    read_cleaning_constraints,
    train_end_model,
)

__all__ = ["Pipeline", "PipelineResult", "PlanStep", "TaskResult"]

# Every run directory holds these; a directory without them is not replaced.
_RUN_FILES = ("spec.yaml", "metrics.json", "report.html")


@dataclass
class StageRecord:
    """How one stage went: its name, whether it came from the cache, and its duration."""

    name: str
    cached: bool
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class SourceModule:
    """A Python module of the spec (labeling or slicing functions) as the run imported it.

    ``files`` are its file, then the helper modules it imported from its folder (see
    :func:`~gristmill._user_modules.import_user_module`); ``functions`` its labeling or
    slicing functions. Tracking digests them for the run's lineage without importing again.
    """

    path: Path
    files: list[Path]
    functions: list[Any]


@dataclass
class TaskResult:
    """What a run produced for one task (see docs/CONTRACTS.md, "Pipeline result").

    ``metrics`` has the single-task shape (``{"label_model"|"end_model": {split: ...}}``);
    ``run_dir`` is where the task's files are (the run directory itself for a single task,
    ``<run_dir>/tasks/<name>`` otherwise). ``probs`` and ``matrices`` hold every split's
    probabilistic labels and label matrix; ``lf_modules`` the task's LF modules as the run
    imported them.
    """

    name: str
    kind: str
    classes: list[str]
    metrics: dict[str, Any]
    model: Any
    label_model: Any
    label_matrix: LabelMatrix
    lf_summary: pd.DataFrame
    lf_paths: list[Path]
    trials: list[dict[str, Any]]
    selection: str
    discovered_slices: dict[str, Any] | None
    run_dir: Path | None = None
    probs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    matrices: dict[str, LabelMatrix] = field(default_factory=dict, repr=False)
    details: dict[str, Any] = field(default_factory=dict, repr=False)
    lf_modules: list[SourceModule] = field(default_factory=list, repr=False)


@dataclass
class PipelineResult:
    """Everything a run produced (see docs/CONTRACTS.md, "Pipeline result").

    With one task the attributes describe that task. With several, ``tasks`` holds each
    task's :class:`TaskResult`, and ``metrics`` is keyed by task name, ``model`` is a
    :class:`~gristmill.training.MultiTaskModel`, ``classes`` are ``"<task>:<class>"`` names,
    ``label_matrix`` / ``lf_summary`` / ``trials`` join the tasks' (sources named
    ``"<task>:<source>"``, trials with a ``task`` key) and ``label_model`` is None.
    ``slice_paths`` are the spec's slicing-function modules (tracking logs them with the
    helper modules they import); ``lf_modules`` and ``slice_modules`` the LF and
    slicing-function modules as the run imported them, which tracking reads instead of
    importing them again (a result without them has them imported by tracking).
    """

    name: str
    spec: PipelineSpec
    spec_path: Path
    run_dir: Path
    classes: list[str]
    payload_columns: list[str]
    metrics: dict[str, Any]
    model: Any
    label_model: Any
    label_matrix: LabelMatrix
    lf_summary: pd.DataFrame
    lf_paths: list[Path]
    datasets: dict[str, tuple[pd.DataFrame, str]]
    trials: list[dict[str, Any]]
    report_path: Path
    discovered_slices: dict[str, Any] | None = None
    stages: list[StageRecord] = field(default_factory=list)
    selection: str = "dev"
    cleaning: dict[str, Any] | None = None
    tracking_run_id: str | None = None
    model_version: str | None = None
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    slice_paths: list[Path] = field(default_factory=list)
    lf_modules: list[SourceModule] = field(default_factory=list, repr=False)
    slice_modules: list[SourceModule] = field(default_factory=list, repr=False)


@dataclass
class PlanStep:
    """One step of :meth:`Pipeline.plan`: what it does and whether its output is cached."""

    stage: str
    detail: str
    status: str  # "cached", "runs", "runs if inputs changed"


class _Progress:
    """Stage-by-stage progress on stderr (rich); silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.records: list[StageRecord] = []
        self._console: Any = None
        if enabled:
            from rich.console import Console

            self._console = Console(stderr=True)

    def print(self, text: str) -> None:
        if self._console is not None:
            self._console.print(text, highlight=False)

    @contextlib.contextmanager
    def stage(self, name: str, what: str) -> Iterator[StageRecord]:
        record = StageRecord(name=name, cached=False, seconds=0.0)
        started = time.perf_counter()
        status = (
            self._console.status(f"{what}...")
            if self._console is not None
            else contextlib.nullcontext()
        )
        with status:
            yield record
        record.seconds = time.perf_counter() - started
        self.records.append(record)
        if self._console is None:
            return
        from rich.markup import escape  # a detail may hold paths: "[" is no markup there

        tag = " [dim](cached)[/]" if record.cached else ""
        detail = f" [dim]{escape(record.detail)}[/]" if record.detail else ""
        self.print(f"[green]✓[/] {name:<12} {record.seconds:6.1f}s{tag}{detail}")


@dataclass
class _Prepared:
    splits: dict[str, LoadedSplit]
    task_gold: dict[str, dict[str, np.ndarray | None]]  # task -> split -> gold labels
    task_modules: dict[str, list[LFModule]]  # task -> its LF modules
    slicing_functions: list[Any]
    slice_modules: list[SourceModule]
    constraints: Any = None
    repairs: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def gold(self) -> dict[str, np.ndarray | None]:
        """The first task's gold labels per split."""
        return next(iter(self.task_gold.values()))

    @property
    def modules(self) -> list[LFModule]:
        """The first task's LF modules."""
        return next(iter(self.task_modules.values()))


class Pipeline:
    """A validated spec, ready to run.

    Parameters
    ----------
    spec : PipelineSpec
    spec_path : path-like
        The spec file; relative paths in the spec are resolved from its folder.
    source : SpecSource, optional
        Line information for error messages (set by :meth:`from_yaml`).

    Examples
    --------
    >>> from gristmill import Pipeline  # doctest: +SKIP
    >>> result = Pipeline.from_yaml("gristmill.yaml").run(track=False)  # doctest: +SKIP
    >>> result.metrics["end_model"]["test"]["overall"]["accuracy"]  # doctest: +SKIP
    """

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        spec_path: str | os.PathLike[str],
        source: SpecSource | None = None,
    ) -> None:
        self.spec = spec
        self.spec_path = Path(spec_path).resolve()
        self.root = self.spec_path.parent
        self.source = source or SpecSource(self.spec_path, spec_to_dict(spec), {})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Parse and validate a spec file.

        Raises
        ------
        SpecError
            Naming the file, line and key path of each problem.
        """
        spec, source = load_spec(path)
        return cls(spec, spec_path=path, source=source)

    @property
    def slice_paths(self) -> list[Path]:
        """The slicing-function modules the spec names, as absolute paths."""
        return [(self.root / name).resolve() for name in self.spec.slices.modules]

    @property
    def cache_dir(self) -> Path:
        """Where stage outputs are cached: ``<project>/.gristmill/cache``."""
        return self.root / ".gristmill" / "cache"

    def __repr__(self) -> str:
        return f"Pipeline(name={self.spec.name!r}, spec_path={str(self.spec_path)!r})"

    def with_engine(self, engine: str, *, scheduler: str | None = None) -> Pipeline:
        """This pipeline with another ``engine`` (and Dask ``scheduler``), as ``--engine`` sets.

        The overridden spec is validated like the file: every rule of the spec applies.

        Raises
        ------
        SpecError
            For an unknown engine, a scheduler with an engine other than ``dask``, or a spec the
            engine does not run.
        """
        if engine == "dask" and scheduler is None:
            scheduler = self.spec.scheduler
        raw = {**self.source.raw, "engine": engine, "scheduler": scheduler}
        # errors about the overridden keys (or the whole spec) name no line of the file
        lines = {
            loc: line
            for loc, line in self.source.lines.items()
            if loc and loc[0] not in ("engine", "scheduler")
        }
        spec = validate_spec(raw, SpecSource(self.source.path, raw, lines))
        return Pipeline(spec, spec_path=self.spec_path, source=self.source)

    # -- validation ---------------------------------------------------------------------------

    def _prepare(self) -> _Prepared:
        """Every check that needs no long work: files, columns, gold classes, LF imports."""
        spec, where = self.spec, self.source
        constraints = read_cleaning_constraints(spec, self.root, where)
        splits = {}
        tables: dict[Path, list[tuple[Path, pd.DataFrame]]] = {}
        for split in SPLITS:
            source = getattr(spec.data, split)
            if source is not None:
                splits[split] = load_split(split, source, self.root, where, tables)
        check_columns(spec, splits, where)
        check_cleaning_columns(
            spec, constraints, {s: v.frame.columns for s, v in splits.items()}, where
        )
        task_gold = {
            task: {
                split: gold_labels(spec, split, loaded, where, task=task)
                for split, loaded in splits.items()
            }
            for task in spec.tasks
        }
        task_modules = {
            task: load_lf_modules(spec, self.root, where, task=task) for task in spec.tasks
        }
        slicing_functions, slice_modules = self._slicing_functions(splits)
        return _Prepared(
            constraints=constraints,
            splits=splits,
            task_gold=task_gold,
            task_modules=task_modules,
            slicing_functions=slicing_functions,
            slice_modules=slice_modules,
        )

    def _slicing_functions(
        self, splits: dict[str, LoadedSplit]
    ) -> tuple[list[Any], list[SourceModule]]:
        """The spec's slicing functions (modules' and expressions'), and the modules imported."""
        from gristmill.training import expression_slice
        from gristmill.training.slices import import_slicing_module

        spec, where = self.spec, self.source
        found: list[Any] = []
        modules: list[SourceModule] = []
        heads = self._slice_heads(splits)
        for i, path in enumerate(self.slice_paths):
            loc = ("slices", "modules", i)
            if not path.is_file():
                raise where.error(loc, f"no such slicing-function module: {path}")
            try:
                functions, files = import_slicing_module(path)
            except LFError as exc:
                raise where.error(loc, str(exc)) from exc
            for sf in functions:
                for split, (head, numbering) in heads.items():
                    try:
                        sf.mask(head)
                    except LFError as exc:
                        rows = f" ({numbering})" if numbering else ""
                        raise where.error(loc, f"{path}: the {split} data{rows}: {exc}") from exc
            found += functions
            modules.append(SourceModule(path, files, list(functions)))
        for name, expression in spec.slices.expressions.items():
            sf = expression_slice(name, expression)
            for split, (head, _) in heads.items():
                try:
                    sf.mask(head)
                except Exception as exc:
                    raise where.error(
                        ("slices", "expressions", name),
                        f"cannot evaluate {expression!r} on the {split} data: {exc}",
                    ) from exc
            found.append(sf)
        names = [sf.name for sf in found]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise where.error(
                ("slices",), f"slice names must be unique; {duplicate!r} appears twice"
            )
        return found, modules

    @staticmethod
    def _slice_heads(splits: dict[str, LoadedSplit]) -> dict[str, tuple[pd.DataFrame, str]]:
        """The first rows (indexed by their numbers in the source) and numbering of each split
        slices are evaluated on: sliced at validation, so that a slicing function that fails
        on them stops the run before any long work."""
        return {
            split: (splits[split].numbered().head(5), splits[split].numbering)
            for split in ("dev", "test")
            if split in splits
        }

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, *, run_dir: str | os.PathLike[str] | None = None) -> list[PlanStep]:
        """Validate everything and say which stages would run and which come from the cache.

        Parameters
        ----------
        run_dir : path-like, optional
            The run directory :meth:`run` would be given: refused as :meth:`run` refuses it.

        Raises
        ------
        SpecError, DataError, LFError
            For invalid specs, data, or LF modules, as :meth:`run` raises them.
        OutputError
            For a ``run_dir`` that :meth:`run` would refuse.
        """
        if run_dir is not None:
            self._run_dir(run_dir)
        if self.spec.engine == "dask":
            from gristmill.pipeline._dask_engine import plan_on_dask

            return plan_on_dask(self)
        prepared = self._prepare()
        spec = self.spec
        rows = ", ".join(f"{s} {len(v.frame)}" for s, v in prepared.splits.items())
        steps = [PlanStep("load", f"{rows} rows", "runs")]
        if prepared.constraints is not None:
            steps.append(PlanStep("clean", "repair cells with the cleaning constraints", "runs"))
        for task in spec.tasks:
            steps += self._plan_task(task, prepared)
        steps.append(PlanStep("report", "run directory and report.html", "runs"))
        return steps

    def _stage_name(self, stage: str, task: str) -> str:
        """``stage`` for a single-task spec, ``stage:task`` when there are several tasks."""
        return f"{stage}:{task}" if self.spec.multitask else stage

    def _plan_task(self, task: str, prepared: _Prepared) -> list[PlanStep]:
        spec, cache = self.spec, StageCache(self.cache_dir)
        spec_task = spec.tasks[task]
        steps: list[PlanStep] = []
        modules_of_task = prepared.task_modules[task]
        dev_gold = prepared.task_gold[task].get("dev")
        modules = ", ".join(m.path.name for m in modules_of_task) or "none"
        n_lfs = sum(len(m.lfs) for m in modules_of_task)
        matrices = {
            s: label_split(spec, s, v, modules_of_task, cache, self.source, dry_run=True, task=task)
            for s, v in prepared.splits.items()
        }
        labeled = all(m is not None for m in matrices.values())
        steps.append(
            PlanStep(
                self._stage_name("label", task),
                f"{spec_task.kind}: {n_lfs} LFs from {modules}; "
                f"{len(spec_task.supervision.label_columns)} label columns",
                "cached" if labeled else "runs",
            )
        )
        lm_name = spec_task.label_model_spec.name
        lm = None
        if labeled:
            lm = fit_label_model(
                spec,
                matrices,  # type: ignore[arg-type]
                dev_gold,
                cache,
                dry_run=True,
                task=task,
            )
        if spec_task.multilabel:
            lm_name += " per label"
        steps.append(
            PlanStep(
                self._stage_name("label_model", task),
                lm_name,
                "cached" if lm is not None else "runs",
            )
        )
        model = spec.model_spec
        budget = " and ".join(
            x
            for x in (
                f"{model.budget.trials} trials" if model.budget.trials else "",
                f"{model.budget.minutes} min" if model.budget.minutes else "",
            )
            if x
        )
        trained = None
        if lm is not None:
            train, probs = self._covered(prepared, matrices["train"], lm.probs["train"])  # type: ignore[arg-type]
            dev = prepared.splits.get("dev")
            trained = train_end_model(
                spec,
                train,
                probs,
                dev.frame if dev else None,
                dev_gold,
                cache,
                dry_run=True,
                task=task,
            )
        candidates = model.candidates if model.candidates != "auto" else "auto"
        steps.append(
            PlanStep(
                self._stage_name("train", task),
                f"candidates {candidates}, {budget}, maximise {model.metric}",
                "cached" if trained is not None else "runs",
            )
        )
        n_slices = len(prepared.slicing_functions)
        steps.append(
            PlanStep(
                self._stage_name("evaluate", task),
                f"dev/test, {n_slices} declared slices"
                + (", discovered slices" if spec.slices.discover else ""),
                "runs",
            )
        )
        return steps

    # -- run ----------------------------------------------------------------------------------

    @staticmethod
    def _covered(
        prepared: _Prepared, L_train: LabelMatrix, probs: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray]:
        covered = (L_train.to_numpy() != -1).any(axis=1)
        frame = prepared.splits["train"].frame.loc[covered].reset_index(drop=True)
        return frame, probs[covered]

    def _tracker(self, track: bool, tracking_uri: str | None = None) -> Any:
        """The run's :class:`~gristmill.tracking.RunTracker` on ``tracking_uri``, or None."""
        if not track:
            return None
        try:
            import gristmill.tracking as tracking
        except ModuleNotFoundError as exc:
            if exc.name == "gristmill.tracking":
                return None
            raise
        if getattr(tracking, "__file__", None) is None:  # an empty namespace folder, not a module
            return None
        return tracking.RunTracker(project_dir=self.root, tracking_uri=tracking_uri)

    def run(
        self,
        *,
        track: bool = True,
        run_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        use_cache: bool = True,
        tracking_uri: str | None = None,
    ) -> PipelineResult:
        """Run every stage and write the run directory.

        Parameters
        ----------
        track : bool, default True
            Record the run with :class:`gristmill.tracking.RunTracker` (MLflow).
        run_dir : path-like, optional
            Output directory (default ``<project>/runs/<name>-<UTC time>``): a new or empty
            directory, or an earlier run directory, which is replaced whole.
        progress : bool, default False
            Print each stage as it finishes (stderr).
        use_cache : bool, default True
            Reuse cached stage outputs; with False every stage reruns (outputs still cached).
        tracking_uri : str, optional
            The MLflow store to track the run in; default ``$MLFLOW_TRACKING_URI`` when set,
            else ``mlflow.db`` beside the spec; ``$MLFLOW_TRACKING_URI`` is read, not set.

        Returns
        -------
        PipelineResult

        Raises
        ------
        ParameterError
            When ``tracking_uri`` is given with ``track=False`` (the run would not be tracked
            where it says), before any work.
        SpecError, DataError, LFError
            Before any long work, for invalid specs, data, or LF modules.
        TrackingError
            When tracking is on and the store is unreachable or ``tracking_uri`` is the path
            of a file (before any long work).
        OutputError
            When ``run_dir`` is a file, lies under one, is read by the run or holds files that
            are not a run's (before any work).
        """
        if tracking_uri is not None and not track:
            raise ParameterError(
                f"tracking_uri={tracking_uri!r} was given with track=False: pass track=True "
                "to track the run there, or leave tracking_uri out"
            )
        if run_dir is not None:
            self._run_dir(run_dir)  # refuse a directory it must not replace before any work
        if self.spec.engine == "dask":
            from gristmill.pipeline._dask_engine import run_on_dask

            return run_on_dask(
                self,
                track=track,
                run_dir=run_dir,
                progress=progress,
                use_cache=use_cache,
                tracking_uri=tracking_uri,
            )
        reporter = _Progress(progress)
        with reporter.stage("validate", "Validating spec, data and LFs") as record:
            prepared = self._prepare()
            record.detail = ", ".join(
                f"{s} {len(v.frame)} rows" for s, v in prepared.splits.items()
            )
        tracker = self._tracker(track, tracking_uri)
        if tracker is not None:
            tracker.check()
            tracker.start(self.spec.name, spec_to_dict(self.spec), self.spec_path)
        try:
            result = self._run_stages(prepared, reporter, tracker, run_dir, use_cache)
            if tracker is not None:
                result.model_version = tracker.finish(result)
                result.tracking_run_id = getattr(tracker, "run_id_", None)
                reporter.print(
                    f"[green]✓[/] tracked      run {result.tracking_run_id}, "
                    f"model {result.name} v{result.model_version} (challenger)"
                )
        except BaseException as exc:
            if tracker is not None and getattr(tracker, "model_version_", None) is None:
                tracker.fail(exc)
            raise
        return result

    def _run_stages(
        self,
        prepared: _Prepared,
        reporter: _Progress,
        tracker: Any,
        run_dir: str | os.PathLike[str] | None,
        use_cache: bool,
    ) -> PipelineResult:
        cache = StageCache(self.cache_dir, enabled=use_cache)
        if prepared.constraints is not None:
            with reporter.stage("clean", "Repairing data") as record:
                self._clean(prepared, cache, record)
        tasks = {
            task: self._run_task(task, prepared, cache, reporter, tracker)
            for task in self.spec.tasks
        }
        with reporter.stage("report", "Writing the run directory") as record:
            final_dir = self._run_dir(run_dir)
            result = self._result(tasks, prepared, final_dir, reporter)
            if prepared.repairs:
                result.cleaning = {
                    "constraints": self.spec.cleaning.constraints if self.spec.cleaning else None,
                    "repairs": {s: len(r) for s, r in prepared.repairs.items()},
                }
            self._write_run_dir(result, prepared.repairs)
            record.detail = str(final_dir)
        return result

    def _run_task(
        self,
        task: str,
        prepared: _Prepared,
        cache: StageCache,
        reporter: _Progress,
        tracker: Any,
    ) -> TaskResult:
        """Label, fit the label model, train and evaluate one task."""
        spec = self.spec
        spec_task = spec.tasks[task]
        modules = prepared.task_modules[task]
        gold = prepared.task_gold[task]
        with reporter.stage(
            self._stage_name("label", task), "Applying labeling functions"
        ) as record:
            reran: list[str] = []
            matrices: dict[str, LabelMatrix] = {}
            for split, loaded in prepared.splits.items():
                matrix = label_split(
                    spec,
                    split,
                    loaded,
                    modules,
                    cache,
                    self.source,
                    on_module=lambda p, hit: None if hit else reran.append(p.name),
                    task=task,
                )
                assert matrix is not None
                matrices[split] = matrix
            record.cached = not reran and bool(modules)
            record.detail = f"{matrices['train'].shape[1]} sources" + (
                f"; reran {sorted(set(reran))}" if reran else ""
            )
        with reporter.stage(
            self._stage_name("label_model", task), "Fitting the label model"
        ) as record:
            lm = fit_label_model(spec, matrices, gold.get("dev"), cache, task=task)
            assert lm is not None
            record.cached = lm.cached
            record.detail = type(lm.model).__name__
        train, train_probs = self._covered(prepared, matrices["train"], lm.probs["train"])
        with reporter.stage(
            self._stage_name("train", task), "Searching and training the end model"
        ) as record:
            dev = prepared.splits.get("dev")
            on_trial = None
            if tracker is not None:
                on_trial = (
                    (lambda n, p, v: tracker.log_trial(n, {"task": task, **p}, v))
                    if spec.multitask
                    else tracker.log_trial
                )
            trained = train_end_model(
                spec,
                train,
                train_probs,
                dev.frame if dev else None,
                gold.get("dev"),
                cache,
                on_trial=on_trial,
                task=task,
            )
            assert trained is not None
            record.cached = trained.cached
            record.detail = (
                f"{len(train)}/{len(prepared.splits['train'].frame)} rows covered; "
                f"{len(trained.trials)} trials; best {trained.model.learner}"
            )
        with reporter.stage(
            self._stage_name("evaluate", task), "Evaluating on dev/test and slices"
        ) as record:
            from gristmill.pipeline._evaluate import discover_settings, evaluate

            try:
                metrics, details = evaluate(
                    classes=list(spec_task.classes),
                    splits={s: v.numbered() for s, v in prepared.splits.items()},
                    gold=gold,
                    label_probs=lm.probs,
                    label_votes={s: m.to_numpy() for s, m in matrices.items()},
                    end_model=trained.model,
                    slicing_functions=prepared.slicing_functions,
                    discover=discover_settings(spec.slices.discover),
                    example_columns=list(spec.payloads),
                    seed=spec.seed,
                    label_model=lm.model,
                    task=task,
                    numbering={s: v.numbering for s, v in prepared.splits.items()},
                )
            except LFError as exc:
                raise self._slice_error(exc, prepared) from exc
            record.detail = _headline(metrics)
        return TaskResult(
            name=task,
            kind=spec_task.kind,
            classes=list(spec_task.classes),
            metrics=metrics,
            model=trained.model,
            label_model=lm.model,
            label_matrix=matrices["train"],
            lf_summary=self._lf_summary(task, matrices, gold.get("dev"), lm.model),
            lf_paths=[m.path for m in modules],
            trials=trained.trials,
            selection=trained.selection,
            discovered_slices=details["discovered"],
            probs=lm.probs,
            matrices=matrices,
            details=details,
            lf_modules=[SourceModule(m.path, m.files, m.lfs) for m in modules],
        )

    def _slice_error(self, exc: LFError, prepared: _Prepared) -> LFError:
        """``exc`` of a failed slicing function, naming the spec key of the module defining it."""
        for i, module in enumerate(prepared.slice_modules):
            if any(sf.name == exc.lf_name for sf in module.functions):
                where = self.source.error(("slices", "modules", i), f"{module.path}: {exc}")
                return LFError(str(where), lf_name=exc.lf_name, row=exc.row)
        return exc

    def _result(
        self,
        tasks: dict[str, TaskResult],
        prepared: _Prepared,
        final_dir: Path,
        reporter: _Progress,
    ) -> PipelineResult:
        """The run's result: the task's own for one task, the tasks joined for several."""
        spec = self.spec
        common: dict[str, Any] = {
            "name": spec.name,
            "spec": spec,
            "spec_path": self.spec_path,
            "run_dir": final_dir,
            "payload_columns": list(spec.payloads),
            "datasets": {s: (v.frame, v.source) for s, v in prepared.splits.items()},
            "slice_paths": self.slice_paths,
            "slice_modules": prepared.slice_modules,
            "report_path": final_dir / "report.html",
            "stages": reporter.records,
            "tasks": tasks,
        }
        if not spec.multitask:
            (only,) = tasks.values()
            only.run_dir = final_dir
            return PipelineResult(
                classes=only.classes,
                metrics=only.metrics,
                model=only.model,
                label_model=only.label_model,
                label_matrix=only.label_matrix,
                lf_summary=only.lf_summary,
                lf_paths=only.lf_paths,
                lf_modules=only.lf_modules,
                trials=only.trials,
                discovered_slices=only.discovered_slices,
                selection=only.selection,
                **common,
            )
        from gristmill.training import MultiTaskModel
        from gristmill.training._multitask import TASK_SEPARATOR as SEP

        for name, task in tasks.items():
            task.run_dir = final_dir / "tasks" / name
        model = MultiTaskModel({name: task.model for name, task in tasks.items()})
        label_matrix = LabelMatrix(
            np.hstack([t.label_matrix.to_numpy().astype(np.int64) for t in tasks.values()]),
            [f"{name}{SEP}{lf}" for name, t in tasks.items() for lf in t.label_matrix.lf_names],
        )
        summary = pd.concat(
            [
                t.lf_summary.set_axis([f"{name}{SEP}{lf}" for lf in t.lf_summary.index])
                for name, t in tasks.items()
            ]
        )
        lf_paths = list(dict.fromkeys(p for t in tasks.values() for p in t.lf_paths))
        lf_modules = {m.path: m for t in tasks.values() for m in t.lf_modules}  # as lf_paths
        return PipelineResult(
            classes=model.classes,
            metrics={name: task.metrics for name, task in tasks.items()},
            model=model,
            label_model=None,
            label_matrix=label_matrix,
            lf_summary=summary,
            lf_paths=lf_paths,
            lf_modules=list(lf_modules.values()),
            trials=[{"task": name, **t} for name, task in tasks.items() for t in task.trials],
            selection="dev" if all(t.selection == "dev" for t in tasks.values()) else "holdout",
            **common,
        )

    def _clean(self, prepared: _Prepared, cache: StageCache, record: StageRecord) -> None:
        assert self.spec.cleaning is not None
        hits = []
        for split in self.spec.cleaning.splits:
            if split not in prepared.splits:
                continue
            cleaned, repairs, cached = clean_split(
                self.spec, split, prepared.splits[split], prepared.constraints, cache
            )
            prepared.splits[split] = cleaned
            prepared.repairs[split] = repairs
            hits.append(cached)
        record.cached = bool(hits) and all(hits)
        record.detail = ", ".join(f"{s} {len(r)} repairs" for s, r in prepared.repairs.items())

    def _lf_summary(
        self,
        task: str,
        matrices: dict[str, LabelMatrix],
        dev_gold: np.ndarray | None,
        label_model: Any,
    ) -> pd.DataFrame:
        from gristmill.labeling import lf_summary
        from gristmill.pipeline._multilabel import multilabel_lf_summary

        spec_task = self.spec.tasks[task]

        def summarise(
            matrix: LabelMatrix, y: np.ndarray | None = None, model: Any = None
        ) -> pd.DataFrame:
            if spec_task.multilabel:
                return multilabel_lf_summary(
                    matrix.to_numpy(), matrix.lf_names, spec_task.classes, y, label_model=model
                )
            return lf_summary(matrix, y=y, label_model=model)

        try:
            summary = summarise(matrices["train"], model=label_model)
        except GristmillError:
            summary = summarise(matrices["train"])
        if dev_gold is not None and "dev" in matrices and bool(np.any(gold_rows(dev_gold))):
            rows = gold_rows(dev_gold)
            dev_matrix = LabelMatrix(matrices["dev"].to_numpy()[rows], matrices["dev"].lf_names)
            on_dev = summarise(dev_matrix, dev_gold[rows])
            for column in ("Coverage", "Emp. Acc."):
                if column in on_dev.columns:
                    summary[f"Dev {column}"] = on_dev[column].to_numpy()
        return summary

    def _run_dir(self, run_dir: str | os.PathLike[str] | None) -> Path:
        """The run directory: ``run_dir`` (new, empty or an earlier run), else a new one.

        Raises
        ------
        OutputError
            When ``run_dir`` is a file, lies under a file, or is a directory of files that are
            not a run's.
        """
        if run_dir is not None:
            path = Path(run_dir).resolve()
            for kept in self._inputs():
                if path == kept or path in kept.parents:
                    raise OutputError(
                        f"run directory {path} would replace {kept}, which the run reads; "
                        "give a directory of its own (the default is runs/<name>-<time>/)"
                    )
            blocker = next((p for p in path.parents if p.exists()), None)
            if blocker is not None and not blocker.is_dir():
                raise OutputError(f"run directory {path} lies under {blocker}, which is a file")
            check_replaceable(path, _RUN_FILES, "gristmill run directory")
            return path
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        base = self.root / "runs" / f"{self.spec.name}-{stamp}"
        candidate, n = base, 1
        while candidate.exists():
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")
        return candidate

    def _inputs(self) -> list[Path]:
        """What a run reads and keeps: the spec, its project folder's cache and the data files."""
        splits = (self.spec.data.train, self.spec.data.dev, self.spec.data.test)
        files = [(self.root / s.path).resolve() for s in splits if s is not None and s.path]
        return [self.spec_path, self.cache_dir.resolve(), *files]

    def _write_run_dir(self, result: PipelineResult, repairs: dict[str, pd.DataFrame]) -> None:
        """Write everything into a temporary sibling, then rename it into place.

        One task: its files sit in the run directory. Several: ``tasks/<name>/`` holds each
        task's files; the top level keeps the spec, all metrics, the model and the report.
        """
        from gristmill.report import write_run_report
        from gristmill.training import save_end_model

        final = result.run_dir
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            if self.source.text is not None:  # the spec that ran, even if the file changed since
                atomic_write_text(tmp / "spec.yaml", self.source.text)
            else:
                shutil.copyfile(self.spec_path, tmp / "spec.yaml")
            atomic_write_text(tmp / "metrics.json", json.dumps(result.metrics, indent=2))
            save_end_model(result.model, tmp / "model")
            for name, task in result.tasks.items():
                folder = tmp / "tasks" / name if self.spec.multitask else tmp
                self._write_task_files(folder, task, result.datasets)
            if self.spec.multitask:
                atomic_write_text(
                    tmp / "trials.json", json.dumps(result.trials, indent=1, default=str)
                )
            if repairs:
                table = pd.concat(
                    [r.assign(split=s) for s, r in repairs.items()], ignore_index=True
                )
                table.to_csv(tmp / "repairs.csv", index=False)
            only = next(iter(result.tasks.values()))
            write_run_report(
                result, tmp / "report.html", details=None if self.spec.multitask else only.details
            )
            replace_directory(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _write_task_files(
        self,
        folder: Path,
        task: TaskResult,
        datasets: dict[str, tuple[pd.DataFrame, str]],
    ) -> None:
        """A task's label matrix, probabilistic labels, metrics, LF summary, trials, slices."""
        folder.mkdir(parents=True, exist_ok=True)
        task.label_matrix.to_parquet(folder / "label_matrix.parquet")
        write_table(self._probs_table(task, datasets), folder / "probs.parquet")
        atomic_write_text(folder / "metrics.json", json.dumps(task.metrics, indent=2))
        task.lf_summary.to_csv(folder / "lf_summary.csv")
        atomic_write_text(folder / "trials.json", json.dumps(task.trials, indent=1, default=str))
        atomic_write_text(
            folder / "slices.json",
            json.dumps(
                {"discovered": task.discovered_slices, "sizes": task.details["slice_sizes"]},
                indent=1,
                default=str,
            ),
        )

    def _probs_table(
        self, task: TaskResult, datasets: dict[str, tuple[pd.DataFrame, str]]
    ) -> pd.DataFrame:
        parts = []
        for split, (frame, _) in datasets.items():
            part = pd.DataFrame({"split": split, "row": np.arange(len(frame))})
            if self.spec.data.id is not None:
                part["id"] = frame[self.spec.data.id].astype(str).to_numpy()
            part["covered"] = (task.matrices[split].to_numpy() != -1).any(axis=1)
            for j, name in enumerate(task.classes):
                part[f"proba_{name}"] = task.probs[split][:, j]
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


def _headline(metrics: dict[str, Any]) -> str:
    for split in ("test", "dev"):
        end = metrics["end_model"].get(split)
        label = metrics["label_model"].get(split)
        if end and label:
            acc_e, acc_l = end["overall"]["accuracy"], label["overall"]["accuracy"]
            return f"{split} accuracy: end model {acc_e:.3f}, label model {acc_l:.3f}"
    return "no gold dev/test labels"
