"""HTML building blocks: escaping, tables and hand-made SVG charts."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from gristmill.report import bar_chart, confusion_heatmap, line_chart, page, section, table


def test_table_escapes_and_formats() -> None:
    html = table(["name", "value"], [["<b>x</b>", 0.123456], ["y", 3], ["z", math.nan]])
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert ">0.123<" in html and ">3<" in html and ">–<" in html


def test_charts_are_well_formed_svg() -> None:
    for svg in (
        bar_chart(["dev", "test"], {"a": [0.5, 0.9], "b": [0.7, math.nan]}, title="t & u", vmax=1),
        line_chart([0.5, 0.7, 0.6], title="trials", labels=["x", "y", "z"]),
        confusion_heatmap([[5, 1], [2, 7]], ["ham", "spam"], title="cm"),
    ):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
    bars = ET.fromstring(bar_chart(["g"], {"s": [0.5]}, vmax=1.0, height=240))
    rects = [r for r in bars.iter() if r.tag.endswith("rect") and r.find("{*}title") is not None]
    assert len(rects) == 1 and float(rects[0].get("height")) > 0
    assert line_chart([math.nan]) == ""


def test_page_is_self_contained() -> None:
    html = page("Run <1>", [section("Metrics", "<p>ok</p>")], subtitle="sub")
    assert html.startswith("<!DOCTYPE html>")
    assert "Run &lt;1&gt;" in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


def test_floats_keep_their_decimals_and_tiny_values_stay_visible() -> None:
    html = table(["what", "value"], [["accuracy", 1.0], ["coverage", 0.0004], ["p", 1.94e-05],
                                     ["zero", 0.0], ["rows", 185], ["minus zero", -0.0]])
    assert ">1.000<" in html and ">0.0004<" in html and ">1.94e-05<" in html
    assert html.count(">0.000<") == 2 and ">185<" in html and "-0.000" not in html


def test_long_bar_labels_are_shortened_with_the_full_name_on_hover() -> None:
    name = "a_slice_with_an_extremely_long_name_that_never_ends"
    root = ET.fromstring(bar_chart([name, "b"], {"s": [0.5, 0.7]}, vmax=1.0, width=300))
    labels = [t for t in root.iter() if t.tag.endswith("text") and t.find("{*}title") is not None]
    assert labels and labels[0].find("{*}title").text == name
    assert "".join(labels[0].itertext()).endswith("…")
