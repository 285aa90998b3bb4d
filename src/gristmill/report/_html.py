"""Building blocks of self-contained HTML reports: tables, inline SVG charts, the page shell.

No JavaScript, no CDN, no plotting library: every chart is SVG written here, so a report opens
offline and can be attached to a ticket as one file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "PALETTE",
    "bar_chart",
    "confusion_heatmap",
    "escape",
    "fmt",
    "line_chart",
    "page",
    "section",
    "table",
]

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.meta{color:#666;font-size:.9rem}.flag{color:#c44e52;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
svg text{font-family:inherit}
"""


def escape(value: Any) -> str:
    """HTML-escape ``str(value)``."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """Format a number compactly (ints as ints, floats rounded); other values as text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else f"{value:.{digits}f}"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    left: int = 1,
    classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; the first ``left`` columns are left-aligned; cells are escaped.

    ``classes`` optionally gives a CSS class per row (e.g. ``"flag"``).
    """
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        css = f' class="{escape(classes[r])}"' if classes and classes[r] else ""
        cells = "".join(
            f'<td class="{"l" if i < left else ""}">{escape(fmt(v))}</td>'
            for i, v in enumerate(row)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 460,
    height: int = 240,
    vmax: float | None = None,
) -> str:
    """A grouped vertical bar chart as inline SVG (values drawn above the bars)."""
    names = list(series)
    top = (
        vmax
        if vmax is not None
        else max([v for vals in series.values() for v in vals if not math.isnan(v)] + [1e-9])
    )
    pad_l, pad_b, pad_t = 36, 36, 28
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(names), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    for tick in range(5):
        value = top * tick / 4
        y = pad_t + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{pad_l}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text x="{pad_l - 4}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end">{fmt(value, 2)}</text>'
        )
    for g, group in enumerate(groups):
        x0 = pad_l + g * group_w + group_w * 0.1
        for s, name in enumerate(names):
            value = series[name][g]
            if math.isnan(value):
                continue
            h = plot_h * max(value, 0) / top
            x = x0 + s * bar_w
            y = pad_t + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(name)} {escape(group)}: {fmt(value)}</title></rect>"
                f'<text x="{x + bar_w * 0.46:.1f}" y="{y - 3:.1f}" font-size="9" '
                f'text-anchor="middle">{fmt(value, 2)}</text>'
            )
        parts.append(
            f'<text x="{pad_l + (g + 0.5) * group_w:.1f}" y="{height - pad_b + 14}" '
            f'font-size="11" text-anchor="middle">{escape(group)}</text>'
        )
    for s, name in enumerate(names):
        x = pad_l + s * 130
        parts.append(
            f'<rect x="{x}" y="{height - 14}" width="10" height="10" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/><text x="{x + 14}" y="{height - 5}" '
            f'font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    values: Sequence[float],
    *,
    title: str = "",
    width: int = 460,
    height: int = 200,
    labels: Sequence[str] | None = None,
) -> str:
    """Points joined by a line plus the running best, as inline SVG (e.g. search trials)."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    pad_l, pad_b, pad_t = 40, 24, 24
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    step = plot_w / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad_l + i * step, pad_t + plot_h - plot_h * (v - lo) / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<text x="{pad_l - 4}" y="{pad_t + 4}" font-size="10" text-anchor="end">{fmt(hi)}</text>',
        f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" font-size="10" '
        f'text-anchor="end">{fmt(lo)}</text>',
    ]
    best, running = -math.inf, []
    for v in values:
        if not math.isnan(v):
            best = max(best, v)
        running.append(best)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(running)))
    parts.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[2]}" stroke-width="2"/>')
    for i, v in enumerate(values):
        if math.isnan(v):
            continue
        x, y = xy(i, v)
        label = f"{labels[i]}: " if labels else ""
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{PALETTE[0]}">'
            f"<title>trial {i} {escape(label)}{fmt(v)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def confusion_heatmap(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], *, title: str = "", cell: int = 44
) -> str:
    """A confusion matrix (rows gold, columns predicted) as an SVG heat map with counts."""
    k = len(classes)
    left, top = 90, 40
    width, height = left + k * cell + 10, top + k * cell + 24
    peak = max([max(row) for row in matrix] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<text x="{left + k * cell / 2}" y="{height - 6}" font-size="10" '
        f'text-anchor="middle">predicted</text>',
    ]
    for i, name in enumerate(classes):
        parts.append(
            f'<text x="{left - 4}" y="{top + i * cell + cell / 2 + 4}" font-size="10" '
            f'text-anchor="end">{escape(name[:12])}</text>'
            f'<text x="{left + i * cell + cell / 2}" y="{top - 6}" font-size="10" '
            f'text-anchor="middle">{escape(name[:8])}</text>'
        )
        for j in range(k):
            value = matrix[i][j]
            shade = int(255 - 200 * value / peak)
            fill = f"rgb({shade},{shade},255)" if i != j else f"rgb({shade},255,{shade})"
            parts.append(
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" '
                f'height="{cell}" fill="{fill}" stroke="#fff"/>'
                f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2 + 4}" '
                f'font-size="11" text-anchor="middle">{value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def section(title: str, *blocks: str) -> str:
    """An ``<h2>`` section holding the given HTML blocks."""
    return f"<section><h2>{escape(title)}</h2>{''.join(blocks)}</section>"


def page(title: str, body: Sequence[str], *, subtitle: str = "") -> str:
    """A complete, self-contained HTML page (inline CSS, no scripts, no external resources)."""
    sub = f'<p class="meta">{escape(subtitle)}</p>' if subtitle else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{sub}{''.join(body)}</body></html>"
    )
