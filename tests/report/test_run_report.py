"""The run report renders every section from a PipelineResult, offline."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from gristmill.report import render_run_report, write_run_report


def _result() -> SimpleNamespace:
    overall = {
        "n": 10.0,
        "accuracy": 0.8,
        "f1": 0.75,
        "f1_macro": 0.78,
        "precision": 0.7,
        "recall": 0.8,
    }
    slices = {"short": {"n": 4.0, "accuracy": 0.5, "f1": 0.4, "f1_macro": 0.45}}
    split = {"overall": overall, "slices": slices}
    lm_split = {"overall": {**overall, "accuracy": 0.7, "coverage": 0.9}, "slices": slices}
    return SimpleNamespace(
        name="demo",
        spec_path=Path("/p/gristmill.yaml"),
        classes=["ham", "spam"],
        payload_columns=["text"],
        model=SimpleNamespace(learner="logreg"),
        label_model=object(),
        metrics={"label_model": {"test": lm_split}, "end_model": {"test": split}},
        lf_summary=pd.DataFrame({"j": [0], "Polarity": [[1]], "Coverage": [0.5]}, index=["kw"]),
        trials=[
            {"number": 0, "params": {"learner": "logreg", "C": 1.0}, "value": 0.8},
            {"number": 1, "params": {"learner": "mlp", "lr": 0.001}, "value": 0.85},
        ],
        discovered_slices={
            "split": "test",
            "clusters": [
                {
                    "cluster": 2,
                    "size": 12,
                    "accuracy": 0.4,
                    "gap": 0.4,
                    "flagged": True,
                    "rows": [1],
                    "examples": [
                        {
                            "row": 1,
                            "gold": "spam",
                            "predicted": "ham",
                            "values": {"text": "<i>sneaky</i>"},
                        }
                    ],
                }
            ],
        },
        selection="holdout",
        stages=[],
    )


def test_report_has_every_section(tmp_path) -> None:
    details = {
        "confusion": {
            "end_model": {"test": [[4, 1], [1, 4]]},
            "label_model": {"test": [[3, 2], [1, 4]]},
        },
        "slice_sizes": {"test": {"short": 4}},
    }
    path = write_run_report(_result(), tmp_path / "report.html", details=details)
    html = path.read_text()
    for heading in (
        "Metrics",
        "Slices (test)",
        "Discovered slices",
        "Confusion matrices",
        "Supervision sources",
        "Model search",
    ):
        assert heading in html, heading
    assert "held-out probabilistic labels" in html
    assert "Winner: trial 1 (mlp)" in html
    assert "&lt;i&gt;sneaky&lt;/i&gt;" in html  # data is escaped
    assert html.count("<svg") >= 4
    assert "<script" not in html


def test_report_without_gold_says_so() -> None:
    result = _result()
    result.metrics = {"label_model": {}, "end_model": {}}
    result.discovered_slices = None
    html = render_run_report(result)
    assert "No gold labels" in html


_AWKWARD_CLASSES = [
    '<script>alert("x")</script>',
    "a \"quoted\" & 'single'",
    "naïve ☃ café",
    "مرحبا بالعالم",
    "<img src=x onerror=alert(1)>",
    "class_with_a_really_long_name_that_goes_on_and_on",
    *[f"c{k:02d}" for k in range(24)],
]


def _big_result() -> SimpleNamespace:
    """30 classes named with HTML and RTL text, 300 LFs with 85-character names, long slices."""
    result = _result()
    result.classes = _AWKWARD_CLASSES
    slices = {
        f"slice_{i}_with_a_rather_long_descriptive_name": {"n": 40.0, "accuracy": 0.5}
        for i in range(4)
    }
    for model in ("label_model", "end_model"):
        result.metrics[model]["test"] = {
            **result.metrics[model]["test"], "slices": slices
        }
    names = [f"lf_{j:03d}_keyword_vote_for_class_{j % 30}_with_an_extremely_long_name_xyz"
             for j in range(300)]
    result.lf_summary = pd.DataFrame(
        {
            "j": range(300),
            "Polarity": [[j % 30] for j in range(300)],
            "Coverage": 0.1,
            "Overlaps": 0.05,
            "Conflicts": 0.01,
            "Est. Acc.": 0.8,
            "Dev Coverage": 0.1,
            "Dev Emp. Acc.": 0.7,
        },
        index=names,
    )
    return result


def _big_details() -> dict:
    matrix = [[(i * 7 + j) % 13 for j in range(30)] for i in range(30)]
    return {
        "confusion": {"end_model": {"test": matrix}, "label_model": {"test": matrix}},
        "slice_sizes": {"test": {}},
    }


@pytest.mark.browser
def test_many_classes_and_long_names_stay_readable(tmp_path, layout_problems) -> None:  # noqa: ANN001
    path = write_run_report(_big_result(), tmp_path / "report.html", details=_big_details())
    assert layout_problems(path) == []


def test_awkward_class_names_are_escaped() -> None:
    html = render_run_report(_big_result(), details=_big_details())
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


def test_numbers_have_one_format_per_column() -> None:
    result = _result()
    result.metrics["label_model"]["test"]["slices"] = {
        "short": {"n": 4.0, "accuracy": 1.0, "f1": 1.0}
    }
    html = render_run_report(result, details={"slice_sizes": {"test": {"short": 4}}})
    slices = html[html.index("Slices (test)"):html.index("accuracy per slice")]
    # Accuracy 1.0 beside 0.5: "1.000", not "1"; the row counts stay whole numbers.
    assert '<td class="">1.000</td><td class="">0.500</td>' in slices
    assert '<td class="">4</td>' in slices
    metrics = html[html.index("<h2>Metrics"):html.index("<h2>Slices")]
    assert ">10<" in metrics and ">10.000<" not in metrics  # the rows scored


def test_lf_summary_names_classes_and_leaves_undefined_accuracy_blank() -> None:
    result = _result()
    result.lf_summary = pd.DataFrame(
        {
            "j": [0, 1],
            "Polarity": [[1], [0, 1]],
            "Coverage": [0.5, 0.2],
            "Correct": [3, 0],
            "Dev Coverage": [0.0, 0.25],
            "Dev Emp. Acc.": [0.0, 0.75],
        },
        index=["kw", "never_on_dev"],
    )
    html = render_run_report(result)
    section = html[html.index("Supervision sources"):html.index("Model search")]
    cells = '<td class="l">kw</td><td class="l">spam</td><td class="">0.500</td><td class="">3</td>'
    # No vote on the dev rows: its dev accuracy is undefined (a dash), not 0.
    assert cells + '<td class="">0.000</td><td class="">–</td>' in section
    assert '<td class="l">ham, spam</td>' in section and ">0.750<" in section
