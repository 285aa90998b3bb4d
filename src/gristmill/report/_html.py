"""Building blocks of self-contained HTML reports: tables, inline SVG charts, the page shell.

No JavaScript, no CDN, no plotting library: every chart is SVG written here, so a report opens
offline and can be attached to a ticket as one file.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from typing import Any

__all__ = [
    "PALETTE",
    "bar_chart",
    "confusion_heatmap",
    "escape",
    "fmt",
    "legend_entries",
    "legend_text",
    "line_chart",
    "line_style",
    "nice_ceiling",
    "page",
    "section",
    "shorten",
    "table",
]

PALETTE = (
    "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
    "#ccb974", "#64b5cd",
)
_DASHES = (None, "6,3", "2,2", "8,3,2,3")
_CHAR_WIDTH = 0.62
"""Average advance of a character in ems in the page's sans-serif font: to fit labels to space."""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}
td.l{overflow-wrap:anywhere;min-width:4rem}
.meta{color:#666;font-size:.9rem}.meta,li{overflow-wrap:anywhere}.flag{color:#c44e52;font-weight:bold}
.wide{overflow-x:auto;max-width:100%}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start;overflow-x:auto}
.charts>svg{flex:none}
svg text{font-family:inherit}
"""


def escape(value: Any) -> str:
    """HTML-escape ``str(value)``."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """Format a number: integers whole, floats with ``digits`` decimals, NaN as a dash.

    Every float keeps its decimals (an accuracy of 1.0 reads ``1.000`` beside ``0.967``); a
    non-zero float that would round to zero, or one of a million or more, is shown with
    ``digits`` significant digits instead (``1.94e-05``, not ``0.000``). Other values as text.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if number == 0:
        return f"{0.0:.{digits}f}"
    if abs(number) < 0.5 * 10.0**-digits or abs(number) >= 1e6:
        return f"{number:.{digits}g}"
    return f"{number:.{digits}f}"


def shorten(text: str, width: float, font_size: float) -> str:
    """``text`` cut (with an ellipsis) to about ``width`` pixels at ``font_size``."""
    fits = max(int(width / (font_size * _CHAR_WIDTH)), 2)
    return text if len(text) <= fits else text[: fits - 1] + "…"


def _label(text: str, width: float, font_size: float, attributes: str) -> str:
    """An SVG ``<text>`` fitted to ``width`` pixels; when shortened its full text is the tooltip."""
    short = shorten(text, width, font_size)
    tooltip = f"<title>{escape(text)}</title>" if short != text else ""
    return f'<text {attributes} font-size="{font_size}">{tooltip}{escape(short)}</text>'


def line_style(index: int) -> str:
    """Stroke attributes of the ``index``-th series: a colour, and a dash once colours repeat."""
    colour = PALETTE[index % len(PALETTE)]
    dash = _DASHES[(index // len(PALETTE)) % len(_DASHES)]
    return f'stroke="{colour}"' + (f' stroke-dasharray="{dash}"' if dash else "")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 4, 5, 8 times a power of ten that is at least ``value``.

    Quarters of it, the axis ticks, are then round numbers too.
    """
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 4, 5, 8, 10) if m * power >= value * (1 - 1e-9))


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    left: int | Collection[int] = 1,
    classes: Sequence[str] | None = None,
) -> str:
    """An HTML table in a box that scrolls sideways when too wide; cells are escaped.

    ``left`` is the number of leading columns to left-align (text), or the set of their
    positions; the others (numbers) are right-aligned. ``classes`` optionally gives a CSS class
    per row (e.g. ``"flag"``).
    """
    at_left = set(range(left)) if isinstance(left, int) else set(left)
    align = ["l" if i in at_left else "" for i in range(len(headers))]
    head = "".join(f'<th class="{align[i]}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        css = f' class="{escape(classes[r])}"' if classes and classes[r] else ""
        cells = "".join(
            f'<td class="{align[i] if i < len(align) else ""}">{escape(fmt(v))}</td>'
            for i, v in enumerate(row)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return (
        f'<div class="wide"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def legend_entries(
    names: Sequence[str], width: float, x0: float
) -> list[tuple[str, str, float, int]]:
    """Legend entries as (name, shown name, x, line): left to right, wrapped at ``width``."""
    entries: list[tuple[str, str, float, int]] = []
    x, line = float(x0), 0
    for name in names:
        shown = shorten(str(name), 220, 11)
        step = 14 + len(shown) * 11 * _CHAR_WIDTH + 16
        if x > x0 and x + step > width:
            x, line = float(x0), line + 1
        entries.append((str(name), shown, x, line))
        x += step
    return entries


def legend_text(name: str, shown: str, x: float, y: float) -> str:
    """A legend entry's name (its full name on hover when shortened)."""
    tooltip = f"<title>{escape(name)}</title>" if shown != name else ""
    return f'<text x="{x:.1f}" y="{y}" font-size="11">{tooltip}{escape(shown)}</text>'


def _tick(value: float) -> str:
    return f"{value:.3g}"


def bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 460,
    height: int = 240,
    vmax: float | None = None,
) -> str:
    """A grouped vertical bar chart as inline SVG (values drawn above the bars when they fit).

    Group names too long for their room are shortened with an ellipsis; the full name, and
    every value, show on hover.
    """
    names = list(series)
    finite = [v for vals in series.values() for v in vals if not math.isnan(v)]
    top = vmax if vmax is not None else nice_ceiling(max(finite + [0.0]))
    pad_l, pad_t = 40, 28
    legend = legend_entries(names, width - 10, pad_l)
    legend_h = 14 * (legend[-1][3] + 1 if legend else 0)
    pad_b = 22 + legend_h
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(names), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        # Centred over what a page shows of a chart wider than it, not beyond its right edge.
        _label(title, width - 10, 13, f'x="{min(width, 1000) / 2}" y="16" text-anchor="middle"'),
    ]
    for tick in range(5):
        value = top * tick / 4
        y = pad_t + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{pad_l}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text x="{pad_l - 4}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end">{_tick(value)}</text>'
        )
    for g, group in enumerate(groups):
        x0 = pad_l + g * group_w + group_w * 0.1
        for s, name in enumerate(names):
            value = series[name][g]
            if math.isnan(value):
                continue
            h = plot_h * min(max(value, 0) / top, 1.0)
            x = x0 + s * bar_w
            y = pad_t + plot_h - h
            shown = fmt(value, 2)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(name)} {escape(group)}: {fmt(value)}</title></rect>"
            )
            if len(shown) * 9 * _CHAR_WIDTH <= bar_w:
                parts.append(
                    f'<text x="{x + bar_w * 0.46:.1f}" y="{y - 3:.1f}" font-size="9" '
                    f'text-anchor="middle">{shown}</text>'
                )
        parts.append(
            _label(
                str(group),
                group_w - 4,
                11,
                f'x="{pad_l + (g + 0.5) * group_w:.1f}" y="{pad_t + plot_h + 14}" '
                'text-anchor="middle"',
            )
        )
    for s, (name, shown, x, line) in enumerate(legend):
        y = height - legend_h + 14 * line
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/>{legend_text(name, shown, x + 14, y + 9)}'
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
    matrix: Sequence[Sequence[int]],
    classes: Sequence[str],
    *,
    title: str = "",
    cell: int | None = None,
) -> str:
    """A confusion matrix (rows gold, columns predicted) as an SVG heat map with counts.

    Cells shrink from 44 to 22 pixels as classes grow (30 classes stay under 1,000 pixels);
    column names that do not fit their cell are written upwards; names too long for their room
    are shortened, with the full name, and each cell's meaning, on hover.
    """
    k = len(classes)
    cell = cell or max(22, min(44, 880 // max(k, 1)))
    names = [str(name) for name in classes]
    upright = all(len(name) * 10 * _CHAR_WIDTH <= cell - 4 for name in names)
    column_room = 0 if upright else max(len(shorten(n, 90, 10)) for n in names) * 10 * _CHAR_WIDTH
    left, top = 100, int(40 + column_room)
    width, height = left + k * cell + 10, top + k * cell + 24
    peak = max([max(row) for row in matrix if len(row)] + [1])
    number_size = 11 if cell >= 30 else 9
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        _label(title, width - 10, 13, f'x="{width / 2}" y="14" text-anchor="middle"'),
        f'<text x="{left + k * cell / 2}" y="{height - 6}" font-size="10" '
        f'text-anchor="middle">predicted</text>',
    ]
    for i, name in enumerate(names):
        parts.append(
            _label(name, left - 8, 10,
                   f'x="{left - 4}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end"')
        )
        x = left + i * cell + cell / 2
        if upright:
            parts.append(_label(name, cell - 4, 10, f'x="{x}" y="{top - 6}" text-anchor="middle"'))
        else:
            parts.append(_label(name, 90, 10, f'x="{x + 3.5}" y="{top - 4}" '
                                f'transform="rotate(-90 {x + 3.5} {top - 4})"'))
        for j in range(k):
            value = matrix[i][j]
            shade = int(255 - 200 * value / peak)
            fill = f"rgb({shade},{shade},255)" if i != j else f"rgb({shade},255,{shade})"
            parts.append(
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" '
                f'height="{cell}" fill="{fill}" stroke="#fff"><title>gold {escape(name)}, '
                f"predicted {escape(names[j])}: {value}</title></rect>"
                f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2 + 4}" '
                f'font-size="{number_size}" text-anchor="middle">{value}</text>'
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
