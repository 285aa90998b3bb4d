"""The monitor report: one self-contained HTML file with inline SVG charts of a MonitorResult."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gristmill.report._html import (
    PALETTE,
    bar_chart,
    escape,
    fmt,
    legend_entries,
    legend_text,
    line_style,
    nice_ceiling,
    page,
    section,
    shorten,
    table,
)

__all__ = ["render_monitor_report"]

_MAX_LF_BARS = 10
"""LFs drawn in the LF charts (the table lists all): the drifted ones, then the most changed."""
_MAX_LF_LINES = 10
"""LFs drawn in the coverage-over-time chart: those whose coverage moves most."""


def series_chart(labels: Sequence[str], series: Mapping[str, Sequence[float]], *,
                 title: str = "", reference_line: float | None = None, width: int = 520,
                 height: int = 240) -> str:
    """Several series over the same x labels (e.g. time windows) as an inline SVG line chart.

    ``reference_line`` draws a dashed horizontal line (e.g. the drift threshold). Series past
    the palette's colours are told apart by their dash pattern.
    """
    values = [v for vals in series.values() for v in vals if not math.isnan(v)]
    if not values or not labels:
        return ""
    pad_l, pad_r, pad_t = 44, 10, 26
    legend = legend_entries([str(name) for name in series], width - pad_r, pad_l)
    legend_rows = legend[-1][3] + 1
    height += 13 * max(legend_rows - 1, 0)
    lo = min(values + ([reference_line] if reference_line is not None else []) + [0.0])
    hi = max(values + ([reference_line] if reference_line is not None else []))
    span = (hi - lo) or 1.0
    pad_b = 37 + 13 * legend_rows
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    step = plot_w / max(len(labels) - 1, 1)

    def y_of(v: float) -> float:
        return pad_t + plot_h - plot_h * (v - lo) / span

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="13">'
             f"{escape(shorten(title, width - 10, 13))}</text>"]
    for tick in range(5):
        v = lo + span * tick / 4
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y_of(v):.1f}" '
                     f'y2="{y_of(v):.1f}" stroke="#eee"/><text x="{pad_l - 4}" '
                     f'y="{y_of(v) + 4:.1f}" font-size="10" text-anchor="end">{fmt(v, 2)}</text>')
    if reference_line is not None:
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y_of(reference_line):.1f}" '
                     f'y2="{y_of(reference_line):.1f}" stroke="#c44e52" stroke-dasharray="5,4"/>')
    parts += _x_labels(labels, pad_l, step, pad_t + plot_h + 14)
    for s, (name, vals) in enumerate(series.items()):
        style, colour = line_style(s), PALETTE[s % len(PALETTE)]
        points = [(pad_l + i * step, y_of(v)) for i, v in enumerate(vals) if not math.isnan(v)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" {style} stroke-width="2"/>')
        for (x, y), v in zip(points, [v for v in vals if not math.isnan(v)], strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(name)}: {fmt(v)}</title></circle>')
        _, shown, lx, line = legend[s]
        ly = height - 13 * legend_rows + 9 + line * 13
        parts.append(f'<line x1="{lx:.1f}" x2="{lx + 12:.1f}" y1="{ly - 4}" y2="{ly - 4}" '
                     f'{style} stroke-width="2"/>{legend_text(str(name), shown, lx + 14, ly)}')
    parts.append("</svg>")
    return "".join(parts)


def _x_labels(labels: Sequence[str], x0: float, step: float, y: float) -> list[str]:
    """Every label that fits without running into the next; the first and last kept inside.

    A label at an end is anchored at its point (it cannot be centred there without leaving
    the chart), so labels are spaced one and a half label widths apart.
    """
    widest = max(len(str(label)) for label in labels) * 10 * 0.62
    stride = max(math.ceil((1.5 * widest + 8) / step) if len(labels) > 1 else 1,
                 math.ceil(len(labels) / 8))
    parts = []
    for i in range(0, len(labels), stride):
        anchor = "middle"
        if len(labels) > 1 and i == 0:
            anchor = "start"
        elif len(labels) > 1 and i == len(labels) - 1:
            anchor = "end"
        parts.append(f'<text x="{x0 + i * step:.1f}" y="{y}" font-size="10" '
                     f'text-anchor="{anchor}">{escape(labels[i])}</text>')
    return parts


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _sig(value: Any) -> str:
    """A test statistic, p-value or threshold with four significant digits (as the CLI prints).

    Fixed decimals would print a p-value of 1e-5 as 0.000, and 0.04995 against a threshold of
    0.05 as 0.050 against 0.050.
    """
    number = _nan(value)
    return "–" if math.isnan(number) else f"{number:.4g}"


def _summary(result: Any) -> str:
    verdict = ('<p class="flag">Drift detected.</p>' if result.drifted
               else "<p>No drift beyond the thresholds.</p>")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in result.reasons)
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.notes)
    rows = [["reference rows", result.n_reference], ["current rows", result.n_current],
            ["features drifted", f"{sum(f.drifted for f in result.features)} of "
                                 f"{len(result.features)}"]]
    if result.agreement is not None:
        rows.append([f"estimated accuracy ({_target(result)} vs served model)",
                     _nan(result.agreement.estimated_accuracy)])
        rows += [[f"estimated accuracy on label {label!r}", _nan(stats["current"])]
                 for label, stats in result.agreement.labels.items()]
    return section("Summary", verdict, f"<ul>{reasons}</ul>" if reasons else "",
                   table(["", "value"], rows),
                   f'<p class="meta">Notes:</p><ul class="meta">{notes}</ul>' if notes else "")


def _features(result: Any) -> str:
    if not result.features:
        return ""
    names = [f.column for f in result.features]
    scores = [min(f.score, 10.0) for f in result.features]
    # The axis reaches 1, the drift threshold, even when every score is far below it.
    chart = bar_chart(names, {"drift score (> 1 = drift)": scores},
                      title="Drift score per feature (capped at 10)",
                      width=max(360, 90 * len(names)), vmax=nice_ceiling(max([*scores, 1.0])))
    rows = [[f.column, f.kind, f.method, _sig(f.statistic), _sig(f.threshold),
             "yes" if f.drifted else "no"] for f in result.features]
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
                      title="Predicted class shares", vmax=1.0, width=max(460, 70 * len(classes)))
    blocks = [f'<div class="charts">{chart}</div>']
    if result.prediction is not None:
        p = result.prediction
        blocks.append(table(["test", "statistic", "threshold", "drifted"],
                            [[p.method, _sig(p.statistic), _sig(p.threshold),
                              "yes" if p.drifted else "no"]]))
    return section("Prediction drift", *blocks)


def _lf_change(d: Any) -> float:
    """How much an LF moved: its larger change of coverage or of agreement."""
    changes = [d.coverage_current - d.coverage_reference,
               _nan(d.agreement_current) - _nan(d.agreement_reference)]
    return max([abs(c) for c in changes if not math.isnan(c)] + [0.0])


def _lfs(result: Any) -> str:
    if not result.lfs:
        return ""
    ordered = sorted(result.lfs, key=lambda d: (not d.drifted, -_lf_change(d)))
    shown = ordered[:_MAX_LF_BARS]
    names = [d.name for d in shown]
    width = max(420, 100 * len(names))
    charts = [bar_chart(names, {"reference": [d.coverage_reference for d in shown],
                                "current": [d.coverage_current for d in shown]},
                        title="LF coverage", vmax=1.0, width=width)]
    agreements = {"reference": [_nan(d.agreement_reference) for d in shown],
                  "current": [_nan(d.agreement_current) for d in shown]}
    if any(not math.isnan(v) for values in agreements.values() for v in values):
        charts.append(bar_chart(names, agreements, title=f"LF agreement with the {_target(result)}",
                                vmax=1.0, width=width))
    note = ""
    if len(ordered) > len(shown):
        note = (f'<p class="meta">The charts show {len(shown)} of {len(ordered)} LFs: the '
                "drifted ones, then those whose coverage or agreement changed most. The table "
                "lists every LF, in that order.</p>")
    rows = [[d.name, d.coverage_reference, d.coverage_current, _sig(d.coverage_p_value),
             _nan(d.agreement_reference), _nan(d.agreement_current), _agreement_p(d),
             "yes" if d.drifted else "no"] for d in ordered]
    table_html = table(["LF", "coverage ref", "coverage cur", "p", "agreement ref",
                        "agreement cur", "p", "drifted"], rows,
                       classes=["flag" if d.drifted else "" for d in ordered])
    return section("LF drift", f'<div class="charts">{"".join(charts)}</div>', note,
                   _target_note(result), table_html, _agreement(result))


def _target(result: Any) -> str:
    """What agreement was counted against (a result that does not say: the label model)."""
    return str(result.agreement_target or "label model")


def _target_note(result: Any) -> str:
    """Why agreement is not counted against the label model, when it is not."""
    if _target(result) == "label model":
        return ""
    multilabel = result.agreement is not None and result.agreement.labels
    per_label = ", label by label" if multilabel else ""
    return (f'<p class="meta">No usable label model: agreement is counted against the '
            f"majority vote of the LFs{per_label}.</p>")


def _agreement(result: Any) -> str:
    """The served model's agreement with the agreement target; per label for a multilabel task,
    whose counts are (row, label) pairs some LF votes on."""
    a = result.agreement
    if a is None:
        return ""
    rows = [["all labels" if a.labels else "agreement", _nan(a.reference), _nan(a.current),
             a.n_reference, a.n_current, _sig(a.p_value), "yes" if a.drifted else "no"]]
    rows += [[label, _nan(stats["reference"]), _nan(stats["current"]), stats["n_reference"],
              stats["n_current"], "", ""] for label, stats in a.labels.items()]
    counted = "(row, label) pairs" if a.labels else "rows"
    return table([f"{_target(result)} vs served model", "reference", "current",
                  f"{counted} ref", f"{counted} cur", "p", "dropped"], rows)


def _agreement_p(d: Any) -> str:
    """The agreement test's p-value; a dash when agreement is undefined on a side."""
    if math.isnan(_nan(d.agreement_reference)) or math.isnan(_nan(d.agreement_current)):
        return "–"
    return _sig(d.agreement_p_value)


def _over_time(result: Any) -> str:
    if not result.windows:
        return ""
    labels = [w["label"] for w in result.windows]
    features = sorted({name for w in result.windows for name in w["features"]})
    charts = [series_chart(labels, {f: [min(_nan(w["features"].get(f)), 10.0)
                                        for w in result.windows] for f in features},
                           title="Feature drift score per window (capped at 10)",
                           reference_line=1.0)]
    lf_names = sorted({name for w in result.windows for name in w["lf_coverage"]})
    notes = ['<p class="meta">The dashed line is the drift threshold (score 1).</p>']
    if lf_names:
        coverage = {n: [_nan(w["lf_coverage"].get(n)) for w in result.windows]
                    for n in lf_names}
        if len(coverage) > _MAX_LF_LINES:
            moving = sorted(coverage, key=lambda n: -_spread(coverage[n]))[:_MAX_LF_LINES]
            coverage = {n: coverage[n] for n in lf_names if n in moving}
            notes.append(f'<p class="meta">LF coverage per window: the {_MAX_LF_LINES} of '
                         f"{len(lf_names)} LFs whose coverage varies most.</p>")
        charts.append(series_chart(labels, coverage, title="LF coverage per window"))
    return section("Over time", f'<div class="charts">{"".join(charts)}</div>', *notes)


def _spread(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) - min(finite) if finite else -1.0


def _slices(result: Any) -> str:
    if not result.slices:
        return ""
    names = list(result.slices)
    chart = bar_chart(names, {"accuracy": [result.slices[n]["accuracy"] for n in names]},
                      title="Accuracy on feedback labels per slice", vmax=1.0,
                      width=max(360, 90 * len(names)))
    rows = [[n, int(result.slices[n]["n"]), result.slices[n]["accuracy"]] for n in names]
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

