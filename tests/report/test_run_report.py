"""The run report renders every section from a PipelineResult, offline."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

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
