"""The run report: one offline HTML page per pipeline run."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gristmill.io import atomic_write_text
from gristmill.report._html import (
    bar_chart,
    confusion_heatmap,
    escape,
    line_chart,
    page,
    section,
    table,
)

__all__ = ["render_run_report", "write_run_report"]

_MODELS = (("label_model", "label model"), ("end_model", "end model"))
_METRIC_NAMES = ("accuracy", "f1", "f1_macro", "precision", "recall")
_MULTILABEL_METRIC_NAMES = ("subset_accuracy", "f1_micro", "f1_macro", "hamming_loss")


def _overall_section(metrics: Mapping[str, Any]) -> str:
    splits = [s for s in ("dev", "test") if s in metrics.get("end_model", {})]
    if not splits:
        return section("Metrics", "<p>No gold labels on dev or test: nothing to score.</p>")
    first = metrics["end_model"][splits[0]]["overall"]
    names = [
        m
        for m in (_MULTILABEL_METRIC_NAMES if "hamming_loss" in first else _METRIC_NAMES)
        if m in first
    ]
    rows = []
    for split in splits:
        for key, label in _MODELS:
            overall = metrics[key][split]["overall"]
            rows.append(
                [
                    split,
                    label,
                    *[overall.get(m, math.nan) for m in names],
                    overall.get("coverage", math.nan),
                    _count(overall.get("n")),
                ]
            )
    charts = []
    for split in splits:
        series = {
            label: [metrics[key][split]["overall"].get(m, math.nan) for m in names]
            for key, label in _MODELS
        }
        charts.append(
            bar_chart(names, series, title=f"{split}: label model vs end model", vmax=1.0)
        )
    return section(
        "Metrics",
        table(["split", "model", *names, "LF coverage", "gold rows"], rows, left=2),
        f'<div class="charts">{"".join(charts)}</div>',
    )


def _slices_section(metrics: Mapping[str, Any], sizes: Mapping[str, Any]) -> str:
    split = next(
        (s for s in ("test", "dev") if metrics.get("end_model", {}).get(s, {}).get("slices")), None
    )
    if split is None:
        return section("Slices", "<p>No declared slices.</p>")
    end_slices = metrics["end_model"][split]["slices"]
    label_slices = metrics["label_model"][split]["slices"]
    key = "f1" if "precision" in metrics["end_model"][split]["overall"] else "f1_macro"
    rows, names = [], list(end_slices)
    for name in names:
        end, label = end_slices[name], label_slices.get(name, {})
        rows.append(
            [
                name,
                _count(sizes.get(split, {}).get(name, end.get("n", 0))),
                label.get("accuracy", math.nan),
                end.get("accuracy", math.nan),
                end.get(key, math.nan),
            ]
        )
    overall = metrics["end_model"][split]["overall"]
    chart = bar_chart(
        ["overall", *names],
        {
            "label model": [
                metrics["label_model"][split]["overall"]["accuracy"],
                *[label_slices.get(n, {}).get("accuracy", math.nan) for n in names],
            ],
            "end model": [
                overall["accuracy"],
                *[end_slices[n].get("accuracy", math.nan) for n in names],
            ],
        },
        title=f"accuracy per slice ({split})",
        vmax=1.0,
        width=max(460, 120 * (len(names) + 1)),
    )
    return section(
        f"Slices ({split})",
        table(
            ["slice", "gold rows", "label model acc.", "end model acc.", f"end model {key}"],
            rows,
        ),
        f'<div class="charts">{chart}</div>',
    )


def _discovered_section(discovered: Mapping[str, Any] | None) -> str:
    if not discovered or not discovered.get("clusters"):
        return ""
    clusters = discovered["clusters"]
    rows = [
        [c["cluster"], c["size"], c["accuracy"], c["gap"], "yes" if c["flagged"] else ""]
        for c in clusters
    ]
    flags = ["flag" if c["flagged"] else "" for c in clusters]
    examples = []
    for c in clusters:
        if not c["flagged"]:
            continue
        items = "".join(
            f"<li>gold <b>{escape(e['gold'])}</b>, predicted <b>{escape(e['predicted'])}</b>: "
            f"{escape('; '.join(f'{k}={v}' for k, v in e['values'].items()))}</li>"
            for e in c.get("examples", [])
        )
        examples.append(
            f"<p>Cluster {c['cluster']} ({c['size']} rows, accuracy "
            f"{c['accuracy']:.3f}):</p><ul>{items}</ul>"
        )
    note = (
        "<p>Clusters of the end model's feature space (truncated SVD + k-means) on the "
        f"{escape(discovered['split'])} set, worst first. Flagged clusters are at least 5 points "
        "and one standard error below overall accuracy: candidates for a new slice or LF.</p>"
    )
    return section(
        "Discovered slices",
        note,
        table(["cluster", "rows", "accuracy", "gap", "flagged"], rows, classes=flags),
        "".join(examples),
    )


def _confusion_section(details: Mapping[str, Any], classes: list[str]) -> str:
    confusion = details.get("confusion", {})
    charts = []
    for split in ("test", "dev"):
        for key, label in _MODELS:
            matrix = confusion.get(key, {}).get(split)
            if matrix is not None:
                charts.append(confusion_heatmap(matrix, classes, title=f"{label}, {split}"))
        if charts:
            break
    if not charts:
        return ""
    return section("Confusion matrices", '<div class="charts">' + "".join(charts) + "</div>")


def _lf_section(summary: Any, classes: Sequence[str]) -> str:
    if summary is None or len(summary) == 0:
        return ""
    columns = [c for c in summary.columns if c != "j"]
    rows = []
    for r, name in enumerate(summary.index):
        # Column by column: a row of a frame without a text column would turn counts to floats.
        row = {str(c): summary[c].iloc[r] for c in columns}
        cells = [_cell(value) for value in row.values()]
        for i, column in enumerate(row):
            if column == "Polarity":
                cells[i] = _polarity(row[column], classes)
            elif _no_votes_scored(row, column):
                cells[i] = math.nan
        rows.append([name, *cells])
    left = [0, *(i + 1 for i, c in enumerate(columns) if c == "Polarity")]
    return section(
        "Supervision sources (LF summary on train)",
        table(["source", *columns], rows, left=left),
    )


def _polarity(value: Any, classes: Sequence[str]) -> str:
    """The classes an LF votes, by name (class indices beyond ``classes`` as numbers)."""
    votes = value if isinstance(value, (list, tuple)) else [value]
    return ", ".join(
        str(classes[int(v)])
        if isinstance(v, numbers.Integral) and 0 <= int(v) < len(classes)
        else str(v)
        for v in votes
    ) or "–"


def _no_votes_scored(row: Mapping[str, Any], column: str) -> bool:
    """Whether ``column`` is an empirical accuracy over no votes (Snorkel writes 0 there)."""
    if not column.endswith("Emp. Acc."):
        return False
    prefix = column[: -len("Emp. Acc.")]
    if f"{prefix}Correct" in row and f"{prefix}Incorrect" in row:
        return bool(row[f"{prefix}Correct"] + row[f"{prefix}Incorrect"] == 0)
    return f"{prefix}Coverage" in row and bool(row[f"{prefix}Coverage"] == 0)


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    try:
        return float(value) if not isinstance(value, str) else value
    except (TypeError, ValueError):
        return str(value)


def _count(value: Any) -> Any:
    """A row count (stored as a float in metrics) as an int; a missing one as NaN."""
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return int(float(value))
    return math.nan


def _trials_section(trials: list[Mapping[str, Any]], selection: str) -> str:
    if not trials:
        return ""
    rows = [
        [
            t["number"],
            t["params"].get("learner", ""),
            t["value"],
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in t["params"].items()
                if k != "learner"
            ),
        ]
        for t in trials
    ]
    best = max(trials, key=lambda t: -math.inf if math.isnan(t["value"]) else t["value"])
    how = (
        "gold dev set" if selection == "dev" else "held-out probabilistic labels (no gold dev set)"
    )
    chart = line_chart(
        [float(t["value"]) for t in trials],
        title="trial value and best so far",
        labels=[str(t["params"].get("learner", "")) for t in trials],
    )
    return section(
        "Model search",
        f"<p>Selected on the {escape(how)}. Winner: trial {best['number']} "
        f"({escape(best['params'].get('learner', ''))}).</p>",
        chart,
        table(["trial", "learner", "value", "parameters"], rows, left=[0, 1, 3]),
    )


def _task_sections(task: Any, details: Mapping[str, Any]) -> list[str]:
    """Metrics, slices, confusion, LF summary and search of one task (or a single-task run)."""
    return [
        _overall_section(task.metrics),
        _slices_section(task.metrics, details.get("slice_sizes", {})),
        _discovered_section(task.discovered_slices),
        _confusion_section(details, list(task.classes)),
        _lf_section(task.lf_summary, list(task.classes)),
        _trials_section(list(task.trials), getattr(task, "selection", "dev")),
    ]


def render_run_report(result: Any, *, details: Mapping[str, Any] | None = None) -> str:
    """Return the HTML of a run report for a :class:`~gristmill.pipeline.PipelineResult`.

    Parameters
    ----------
    result : PipelineResult
    details : mapping, optional
        ``confusion`` matrices and ``slice_sizes`` from the evaluation stage (a run with
        several tasks reads each task's own from ``result.tasks``).
    """
    details = dict(details or {})
    tasks = getattr(result, "tasks", None) or {}
    stages = getattr(result, "stages", []) or []
    stage_rows = [
        [s.name, f"{s.seconds:.1f}s", "cached" if s.cached else "ran", s.detail] for s in stages
    ]
    subtitle = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · spec {result.spec_path} · classes "
        f"{', '.join(result.classes)} · payloads {', '.join(result.payload_columns)} · "
        f"end model {getattr(result.model, 'learner', type(result.model).__name__)} · "
        f"label model "
        f"{type(result.label_model).__name__ if result.label_model is not None else 'per task'}"
    )
    if len(tasks) > 1:
        body = []
        for name, task in tasks.items():
            body.append(
                f'<h2 class="task">Task {escape(name)} ({escape(task.kind)}: '
                f"{escape(', '.join(task.classes))})</h2>"
            )
            body += _task_sections(task, task.details)
    else:
        body = _task_sections(result, details)
    if stage_rows:
        stages_table = table(["stage", "time", "", "detail"], stage_rows, left=[0, 2, 3])
        body.append(section("Stages", stages_table))
    return page(f"gristmill run: {result.name}", body, subtitle=subtitle)


def write_run_report(
    result: Any, path: str | os.PathLike[str], *, details: Mapping[str, Any] | None = None
) -> Path:
    """Write :func:`render_run_report` to ``path`` atomically and return the path."""
    return atomic_write_text(path, render_run_report(result, details=details))
