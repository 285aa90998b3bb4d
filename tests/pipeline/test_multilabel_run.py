"""A multilabel run: its label model knows its sources by name, and the LF summary shows it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gristmill.labelmodel import BinaryRelevanceLabelModel
from gristmill.pipeline import Pipeline


def test_the_label_model_names_its_sources_and_estimates_their_accuracy(
    multilabel_project: Path,
) -> None:
    result = Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)
    model = result.label_model
    names = list(result.label_matrix.lf_names)
    assert model.lf_names_ == names and model.n_sources_ == len(names)
    summary = result.lf_summary
    np.testing.assert_allclose(summary["Est. Acc."].to_numpy(), model.lf_accuracies_)
    # the crowd worker is right about 85 % of the time on "music" (it misses present tags)
    assert 0.75 < summary.loc["column:worker:music", "Est. Acc."] < 0.98
    written = pd.read_csv(result.run_dir / "lf_summary.csv", index_col=0)
    np.testing.assert_allclose(written["Est. Acc."].to_numpy(), model.lf_accuracies_)
    assert "Est. Acc." in (result.run_dir / "report.html").read_text(encoding="utf-8")
    # the label model saved in the stage cache comes back with its names
    again = Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)
    assert isinstance(again.label_model, BinaryRelevanceLabelModel)
    assert again.label_model.lf_names_ == names
    np.testing.assert_allclose(again.lf_summary["Est. Acc."], summary["Est. Acc."])


def test_a_dev_set_for_the_label_model_keeps_the_labels_priors(multilabel_project: Path) -> None:
    path = multilabel_project / "gristmill.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["tasks"]["tags"]["label_model"] = {"name": "auto", "use_dev": True}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = Pipeline.from_yaml(path).run(track=False)
    # each label's prior is its share of the dev rows (about 0.4), not the share of "applies"
    # among votes of LFs that only ever say "applies"
    for model in result.label_model.models_:
        assert 0.25 < model.class_balance_[1] < 0.55
    assert result.metrics["label_model"]["test"]["overall"]["subset_accuracy"] > 0.8
