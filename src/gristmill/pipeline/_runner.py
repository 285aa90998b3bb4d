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

from gristmill.exceptions import GristmillError, LFError
from gristmill.io import atomic_write_text, write_table
from gristmill.labeling._matrix import LabelMatrix
from gristmill.pipeline._cache import StageCache
from gristmill.pipeline._spec import PipelineSpec, SpecSource, load_spec, spec_to_dict
from gristmill.pipeline._stages import (
    SPLITS,
    LFModule,
    LoadedSplit,
    check_columns,
    clean_split,
    fit_label_model,
    gold_labels,
    label_split,
    load_lf_modules,
    load_split,
    read_cleaning_constraints,
    train_end_model,
)

__all__ = ["Pipeline", "PipelineResult", "PlanStep"]


@dataclass
class StageRecord:
    """How one stage went: its name, whether it came from the cache, and its duration."""

    name: str
    cached: bool
    seconds: float
    detail: str = ""


@dataclass
class PipelineResult:
    """Everything a run produced (see docs/CONTRACTS.md, "Pipeline result")."""

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
        tag = " [dim](cached)[/]" if record.cached else ""
        detail = f" [dim]{record.detail}[/]" if record.detail else ""
        self.print(f"[green]✓[/] {name:<12} {record.seconds:6.1f}s{tag}{detail}")


@dataclass
class _Prepared:
    splits: dict[str, LoadedSplit]
    gold: dict[str, np.ndarray | None]
    modules: list[LFModule]
    slicing_functions: list[Any]
    constraints: Any = None
    repairs: dict[str, pd.DataFrame] = field(default_factory=dict)


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
    def cache_dir(self) -> Path:
        """Where stage outputs are cached: ``<project>/.gristmill/cache``."""
        return self.root / ".gristmill" / "cache"

    def __repr__(self) -> str:
        return f"Pipeline(name={self.spec.name!r}, spec_path={str(self.spec_path)!r})"

    # -- validation ---------------------------------------------------------------------------

    def _prepare(self) -> _Prepared:
        """Every check that needs no long work: files, columns, gold classes, LF imports."""
        spec, where = self.spec, self.source
        constraints = read_cleaning_constraints(spec, self.root, where)
        splits = {}
        for split in SPLITS:
            source = getattr(spec.data, split)
            if source is not None:
                splits[split] = load_split(split, source, self.root, where)
        check_columns(spec, splits, where)
        if constraints is not None and spec.cleaning is not None:
            from gristmill.exceptions import ConstraintError

            for split in spec.cleaning.splits:
                if split in splits:
                    try:
                        constraints.check_columns(
                            splits[split].frame.columns, where=f"the {split} data"
                        )
                    except ConstraintError as exc:
                        raise where.error(("cleaning", "constraints"), str(exc)) from exc
        gold = {split: gold_labels(spec, split, loaded, where) for split, loaded in splits.items()}
        modules = load_lf_modules(spec, self.root, where)
        slicing_functions = self._slicing_functions(splits)
        return _Prepared(
            constraints=constraints,
            splits=splits,
            gold=gold,
            modules=modules,
            slicing_functions=slicing_functions,
        )

    def _slicing_functions(self, splits: dict[str, LoadedSplit]) -> list[Any]:
        from gristmill.training import expression_slice, load_slicing_functions

        spec, where = self.spec, self.source
        found: list[Any] = []
        for i, name in enumerate(spec.slices.modules):
            loc = ("slices", "modules", i)
            path = (self.root / name).resolve()
            if not path.is_file():
                raise where.error(loc, f"no such slicing-function module: {path}")
            try:
                found += load_slicing_functions(path)
            except LFError as exc:
                raise where.error(loc, str(exc)) from exc
        for name, expression in spec.slices.expressions.items():
            sf = expression_slice(name, expression)
            for split in ("dev", "test"):
                if split in splits:
                    try:
                        sf.mask(splits[split].frame.head(5))
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
        return found

    # -- plan ---------------------------------------------------------------------------------

    def plan(self) -> list[PlanStep]:
        """Validate everything and say which stages would run and which come from the cache."""
        prepared = self._prepare()
        spec, cache = self.spec, StageCache(self.cache_dir)
        rows = ", ".join(f"{s} {len(v.frame)}" for s, v in prepared.splits.items())
        steps = [PlanStep("load", f"{rows} rows", "runs")]
        if prepared.constraints is not None:
            steps.append(PlanStep("clean", "repair cells with the cleaning constraints", "runs"))
        modules = ", ".join(m.path.name for m in prepared.modules) or "none"
        n_lfs = sum(len(m.lfs) for m in prepared.modules)
        matrices = {
            s: label_split(spec, s, v, prepared.modules, cache, self.source, dry_run=True)
            for s, v in prepared.splits.items()
        }
        labeled = all(m is not None for m in matrices.values())
        steps.append(
            PlanStep(
                "label",
                f"{n_lfs} LFs from {modules}; "
                f"{len(spec.task.supervision.label_columns)} label columns",
                "cached" if labeled else "runs",
            )
        )
        lm_name = spec.task.label_model_spec.name
        lm = None
        if labeled:
            lm = fit_label_model(
                spec,
                matrices,
                prepared.gold.get("dev"),
                cache,  # type: ignore[arg-type]
                dry_run=True,
            )
        steps.append(PlanStep("label_model", f"{lm_name}", "cached" if lm is not None else "runs"))
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
                prepared.gold.get("dev"),
                cache,
                dry_run=True,
            )
        candidates = model.candidates if model.candidates != "auto" else "auto"
        steps.append(
            PlanStep(
                "train",
                f"candidates {candidates}, {budget}, maximise {model.metric}",
                "cached" if trained is not None else "runs",
            )
        )
        n_slices = len(prepared.slicing_functions)
        steps.append(
            PlanStep(
                "evaluate",
                f"dev/test, {n_slices} declared slices"
                + (", discovered slices" if spec.slices.discover else ""),
                "runs",
            )
        )
        steps.append(PlanStep("report", "run directory and report.html", "runs"))
        return steps

    # -- run ----------------------------------------------------------------------------------

    @staticmethod
    def _covered(
        prepared: _Prepared, L_train: LabelMatrix, probs: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray]:
        covered = (L_train.to_numpy() != -1).any(axis=1)
        frame = prepared.splits["train"].frame.loc[covered].reset_index(drop=True)
        return frame, probs[covered]

    def _tracker(self, track: bool) -> Any:
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
        return tracking.RunTracker(project_dir=self.root)

    def run(
        self,
        *,
        track: bool = True,
        run_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        use_cache: bool = True,
    ) -> PipelineResult:
        """Run every stage and write the run directory.

        Parameters
        ----------
        track : bool, default True
            Record the run with :class:`gristmill.tracking.RunTracker` (MLflow).
        run_dir : path-like, optional
            Output directory (default ``<project>/runs/<name>-<UTC time>``); replaced if present.
        progress : bool, default False
            Print each stage as it finishes (stderr).
        use_cache : bool, default True
            Reuse cached stage outputs; with False every stage reruns (outputs still cached).

        Returns
        -------
        PipelineResult

        Raises
        ------
        SpecError, DataError, LFError
            Before any long work, for invalid specs, data, or LF modules.
        TrackingError
            When tracking is on and the store is unreachable (before any long work).
        """
        reporter = _Progress(progress)
        with reporter.stage("validate", "Validating spec, data and LFs") as record:
            prepared = self._prepare()
            record.detail = ", ".join(
                f"{s} {len(v.frame)} rows" for s, v in prepared.splits.items()
            )
        tracker = self._tracker(track)
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
        spec = self.spec
        cache = StageCache(self.cache_dir, enabled=use_cache)
        classes = list(spec.task.classes)
        if prepared.constraints is not None:
            with reporter.stage("clean", "Repairing data") as record:
                self._clean(prepared, cache, record)
        with reporter.stage("label", "Applying labeling functions") as record:
            reran: list[str] = []
            matrices: dict[str, LabelMatrix] = {}
            for split, loaded in prepared.splits.items():
                matrix = label_split(
                    spec,
                    split,
                    loaded,
                    prepared.modules,
                    cache,
                    self.source,
                    on_module=lambda p, hit: None if hit else reran.append(p.name),
                )
                assert matrix is not None
                matrices[split] = matrix
            record.cached = not reran and bool(prepared.modules)
            record.detail = f"{matrices['train'].shape[1]} sources" + (
                f"; reran {sorted(set(reran))}" if reran else ""
            )
        with reporter.stage("label_model", "Fitting the label model") as record:
            lm = fit_label_model(spec, matrices, prepared.gold.get("dev"), cache)
            assert lm is not None
            record.cached = lm.cached
            record.detail = type(lm.model).__name__
        train, train_probs = self._covered(prepared, matrices["train"], lm.probs["train"])
        with reporter.stage("train", "Searching and training the end model") as record:
            dev = prepared.splits.get("dev")
            on_trial = tracker.log_trial if tracker is not None else None
            trained = train_end_model(
                spec,
                train,
                train_probs,
                dev.frame if dev else None,
                prepared.gold.get("dev"),
                cache,
                on_trial=on_trial,
            )
            assert trained is not None
            record.cached = trained.cached
            record.detail = (
                f"{len(train)}/{len(prepared.splits['train'].frame)} rows covered; "
                f"{len(trained.trials)} trials; best {trained.model.learner}"
            )
        with reporter.stage("evaluate", "Evaluating on dev/test and slices") as record:
            from gristmill.pipeline._evaluate import evaluate

            discover = spec.slices.discover
            discover_settings = (
                None
                if discover is False
                else {"clusters": 8, "min_size": 10}
                if discover is True
                else {"clusters": discover.clusters, "min_size": discover.min_size}
            )
            metrics, details = evaluate(
                classes=classes,
                splits={s: v.frame for s, v in prepared.splits.items()},
                gold=prepared.gold,
                label_probs=lm.probs,
                label_votes={s: m.to_numpy() for s, m in matrices.items()},
                end_model=trained.model,
                slicing_functions=prepared.slicing_functions,
                discover=discover_settings,
                example_columns=list(spec.payloads),
                seed=spec.seed,
            )
            record.detail = _headline(metrics)
        summary = self._lf_summary(matrices, prepared, lm.model)
        with reporter.stage("report", "Writing the run directory") as record:
            final_dir = self._run_dir(run_dir)
            result = PipelineResult(
                name=spec.name,
                spec=spec,
                spec_path=self.spec_path,
                run_dir=final_dir,
                classes=classes,
                payload_columns=list(spec.payloads),
                metrics=metrics,
                model=trained.model,
                label_model=lm.model,
                label_matrix=matrices["train"],
                lf_summary=summary,
                lf_paths=[m.path for m in prepared.modules],
                datasets={s: (v.frame, v.source) for s, v in prepared.splits.items()},
                trials=trained.trials,
                report_path=final_dir / "report.html",
                discovered_slices=details["discovered"],
                stages=reporter.records,
                selection=trained.selection,
            )
            if prepared.repairs:
                result.cleaning = {
                    "constraints": self.spec.cleaning.constraints if self.spec.cleaning else None,
                    "repairs": {s: len(r) for s, r in prepared.repairs.items()},
                }
            self._write_run_dir(result, matrices, lm.probs, details, prepared.repairs)
            record.detail = str(final_dir)
        return result

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
        self, matrices: dict[str, LabelMatrix], prepared: _Prepared, label_model: Any
    ) -> pd.DataFrame:
        from gristmill.labeling import lf_summary

        try:
            summary = lf_summary(matrices["train"], label_model=label_model)
        except GristmillError:
            summary = lf_summary(matrices["train"])
        dev_gold = prepared.gold.get("dev")
        if dev_gold is not None and "dev" in matrices and bool(np.any(dev_gold >= 0)):
            rows = dev_gold >= 0
            dev_matrix = LabelMatrix(matrices["dev"].to_numpy()[rows], matrices["dev"].lf_names)
            on_dev = lf_summary(dev_matrix, y=dev_gold[rows])
            for column in ("Coverage", "Emp. Acc."):
                if column in on_dev.columns:
                    summary[f"Dev {column}"] = on_dev[column].to_numpy()
        return summary

    def _run_dir(self, run_dir: str | os.PathLike[str] | None) -> Path:
        if run_dir is not None:
            return Path(run_dir).resolve()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        base = self.root / "runs" / f"{self.spec.name}-{stamp}"
        candidate, n = base, 1
        while candidate.exists():
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")
        return candidate

    def _write_run_dir(
        self,
        result: PipelineResult,
        matrices: dict[str, LabelMatrix],
        probs: dict[str, np.ndarray],
        details: dict[str, Any],
        repairs: dict[str, pd.DataFrame],
    ) -> None:
        """Write everything into a temporary sibling, then rename it into place."""
        from gristmill.report import write_run_report
        from gristmill.training import save_end_model

        final = result.run_dir
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            shutil.copyfile(self.spec_path, tmp / "spec.yaml")
            matrices["train"].to_parquet(tmp / "label_matrix.parquet")
            write_table(self._probs_table(result, matrices, probs), tmp / "probs.parquet")
            atomic_write_text(tmp / "metrics.json", json.dumps(result.metrics, indent=2))
            result.lf_summary.to_csv(tmp / "lf_summary.csv")
            save_end_model(result.model, tmp / "model")
            atomic_write_text(tmp / "trials.json", json.dumps(result.trials, indent=1, default=str))
            atomic_write_text(
                tmp / "slices.json",
                json.dumps(
                    {"discovered": details["discovered"], "sizes": details["slice_sizes"]},
                    indent=1,
                    default=str,
                ),
            )
            if repairs:
                table = pd.concat(
                    [r.assign(split=s) for s, r in repairs.items()], ignore_index=True
                )
                table.to_csv(tmp / "repairs.csv", index=False)
            write_run_report(result, tmp / "report.html", details=details)
            if final.exists():
                trash = final.with_name(f".{final.name}.old")
                os.replace(final, trash)
                os.replace(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _probs_table(
        self, result: PipelineResult, matrices: dict[str, LabelMatrix], probs: dict[str, np.ndarray]
    ) -> pd.DataFrame:
        parts = []
        for split, (frame, _) in result.datasets.items():
            part = pd.DataFrame({"split": split, "row": np.arange(len(frame))})
            if self.spec.data.id is not None:
                part["id"] = frame[self.spec.data.id].astype(str).to_numpy()
            part["covered"] = (matrices[split].to_numpy() != -1).any(axis=1)
            for j, name in enumerate(result.classes):
                part[f"proba_{name}"] = probs[split][:, j]
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
