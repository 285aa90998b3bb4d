"""The monitor report: one self-contained HTML file with inline SVG charts of a MonitorResult."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gristmill.io import atomic_write_text
from gristmill.report._html import PALETTE, bar_chart, escape, fmt, page, section, table

__all__ = ["render_monitor_report", "write_monitor_report"]


def series_chart(labels: Sequence[str], series: Mapping[str, Sequence[float]], *,
                 title: str = "", reference_line: float | None = None, width: int = 520,
                 height: int = 240) -> str:
    """Several series over the same x labels (e.g. time windows) as an inline SVG line chart.

    ``reference_line`` draws a dashed horizontal line (e.g. the drift threshold).
    """
    values = [v for vals in series.values() for v in vals if not math.isnan(v)]
    if not values or not labels:
        return ""
    legend_rows = math.ceil(len(series) / 4)
    height += 13 * max(legend_rows - 1, 0)
    lo = min(values + ([reference_line] if reference_line is not None else []) + [0.0])
    hi = max(values + ([reference_line] if reference_line is not None else []))
    span = (hi - lo) or 1.0
    pad_l, pad_r, pad_t, pad_b = 44, 10, 26, 37 + 13 * legend_rows
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    step = plot_w / max(len(labels) - 1, 1)

    def y_of(v: float) -> float:
        return pad_t + plot_h - plot_h * (v - lo) / span

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="13">'
             f"{escape(title)}</text>"]
    for tick in range(5):
        v = lo + span * tick / 4
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y_of(v):.1f}" '
                     f'y2="{y_of(v):.1f}" stroke="#eee"/><text x="{pad_l - 4}" '
                     f'y="{y_of(v) + 4:.1f}" font-size="10" text-anchor="end">{fmt(v, 2)}</text>')
    if reference_line is not None:
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y_of(reference_line):.1f}" '
                     f'y2="{y_of(reference_line):.1f}" stroke="#c44e52" stroke-dasharray="5,4"/>')
    for i, label in enumerate(labels):
        if len(labels) <= 8 or i % math.ceil(len(labels) / 8) == 0:
            parts.append(f'<text x="{pad_l + i * step:.1f}" y="{pad_t + plot_h + 14}" '
                         f'font-size="10" text-anchor="middle">{escape(label)}</text>')
    for s, (name, vals) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = [(pad_l + i * step, y_of(v)) for i, v in enumerate(vals) if not math.isnan(v)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="2"/>')
        for (x, y), v in zip(points, [v for v in vals if not math.isnan(v)], strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(name)}: {fmt(v)}</title></circle>')
        lx = pad_l + (s % 4) * 120
        ly = height - 13 * legend_rows + 9 + (s // 4) * 13
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{ly}" font-size="11">{escape(str(name)[:16])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _summary(result: Any) -> str:
    verdict = ('<p class="flag">Drift detected.</p>' if result.drifted
               else "<p>No drift beyond the thresholds.</p>")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in result.reasons)
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.notes)
    rows = [["reference rows", result.n_reference], ["current rows", result.n_current],
            ["features drifted", f"{sum(f.drifted for f in result.features)} of "
                                 f"{len(result.features)}"]]
    if result.agreement is not None:
        rows.append(["estimated accuracy (label model vs served model)",
                     _nan(result.agreement.estimated_accuracy)])
    return section("Summary", verdict, f"<ul>{reasons}</ul>" if reasons else "",
                   table(["", "value"], rows),
                   f'<p class="meta">Notes:</p><ul class="meta">{notes}</ul>' if notes else "")


def _features(result: Any) -> str:
    if not result.features:
        return ""
    names = [f.column for f in result.features]
    chart = bar_chart(names, {"drift score (> 1 = drift)": [min(f.score, 10.0)
                                                            for f in result.features]},
                      title="Drift score per feature", width=max(360, 90 * len(names)))
    rows = [[f.column, f.kind, f.method, f.statistic, f.threshold, "yes" if f.drifted else "no"]
            for f in result.features]
    flags = ["flag" if f.drifted else "" for f in result.features]
    return section("Feature drift", f'<div class="charts">{chart}</div>',
                   table(["feature", "kind", "test", "statistic", "threshold", "drifted"], rows,
                         left=3, classes=flags),
                   '<p class="meta">KS and chi-square report a p-value (drift below the '
                   "threshold); other tests a distance or AUC (drift above it).</p>")


def _predictions(result: Any) -> str:
    if not result.class_shares:
        return ""
    classes = sorted({c for shares in result.class_shares.values() for c in shares})
    chart = bar_chart(classes, {which: [shares.get(c, 0.0) for c in classes]
                                for which, shares in result.class_shares.items()},
                      title="Predicted class shares", vmax=1.0)
    blocks = [f'<div class="charts">{chart}</div>']
    if result.prediction is not None:
        p = result.prediction
        blocks.append(table(["test", "statistic", "threshold", "drifted"],
                            [[p.method, p.statistic, p.threshold, "yes" if p.drifted else "no"]]))
    return section("Prediction drift", *blocks)


def _lfs(result: Any) -> str:
    if not result.lfs:
        return ""
    names = [d.name for d in result.lfs]
    width = max(420, 110 * len(names))
    coverage = bar_chart(names, {"reference": [d.coverage_reference for d in result.lfs],
                                 "current": [d.coverage_current for d in result.lfs]},
                         title="LF coverage", vmax=1.0, width=width)
    agreement = bar_chart(names, {"reference": [_nan(d.agreement_reference) for d in result.lfs],
                                  "current": [_nan(d.agreement_current) for d in result.lfs]},
                          title="LF agreement with the label model", vmax=1.0, width=width)
    rows = [[d.name, d.coverage_reference, d.coverage_current, d.coverage_p_value,
             _nan(d.agreement_reference), _nan(d.agreement_current), d.agreement_p_value,
             "yes" if d.drifted else "no"] for d in result.lfs]
    table_html = table(["LF", "coverage ref", "coverage cur", "p", "agreement ref",
                        "agreement cur", "p", "drifted"], rows,
                       classes=["flag" if d.drifted else "" for d in result.lfs])
    agreement_html = ""
    if result.agreement is not None:
        a = result.agreement
        agreement_html = table(
            ["label model vs served model", "reference", "current", "p", "dropped"],
            [["agreement", _nan(a.reference), _nan(a.current), a.p_value,
              "yes" if a.drifted else "no"]])
    return section("LF drift", f'<div class="charts">{coverage}{agreement}</div>', table_html,
                   agreement_html)


def _over_time(result: Any) -> str:
    if not result.windows:
        return ""
    labels = [w["label"] for w in result.windows]
    features = sorted({name for w in result.windows for name in w["features"]})
    charts = [series_chart(labels, {f: [min(_nan(w["features"].get(f)), 10.0)
                                        for w in result.windows] for f in features},
                           title="Feature drift score per window", reference_line=1.0)]
    lf_names = sorted({name for w in result.windows for name in w["lf_coverage"]})
    if lf_names:
        charts.append(series_chart(labels, {n: [_nan(w["lf_coverage"].get(n))
                                                for w in result.windows] for n in lf_names},
                                   title="LF coverage per window"))
    return section("Over time", f'<div class="charts">{"".join(charts)}</div>',
                   '<p class="meta">The dashed line is the drift threshold (score 1).</p>')


def _slices(result: Any) -> str:
    if not result.slices:
        return ""
    names = list(result.slices)
    chart = bar_chart(names, {"accuracy": [result.slices[n]["accuracy"] for n in names]},
                      title="Accuracy on feedback labels per slice", vmax=1.0,
                      width=max(360, 90 * len(names)))
    rows = [[n, result.slices[n]["n"], result.slices[n]["accuracy"]] for n in names]
    return section("Slices (feedback labels)", f'<div class="charts">{chart}</div>',
                   table(["slice", "labeled rows", "accuracy"], rows))


def render_monitor_report(result: Any) -> str:
    """The HTML of the monitor report of a :class:`~gristmill.monitoring.MonitorResult`."""
    model = result.model or {}
    title = f"Monitor report: {model.get('name', 'data')}"
    subtitle = (f"version {model.get('version')} · " if model.get("version") else "") + \
        f"checked {result.created}"
    body = [_summary(result), _features(result), _predictions(result), _lfs(result),
            _over_time(result), _slices(result)]
    return page(title, [b for b in body if b], subtitle=subtitle)


def write_monitor_report(result: Any, path: str | os.PathLike[str]) -> Path:
    """Write the monitor report to ``path`` atomically and return the path."""
    return atomic_write_text(path, render_monitor_report(result))
