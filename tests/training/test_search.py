"""Model search under a budget: selection on dev or held-out soft labels, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.training import EndModel, available_learners, search_end_model


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    words = np.array([["song", "voice", "love", "dance"], ["free", "cash", "win", "click"]])
    text = [
        " ".join(rng.choice(words[c], 2)) + " " + " ".join(rng.choice(["a", "the", "so"], 2))
        for c in y
    ]
    return pd.DataFrame({"text": text}), y


def test_search_on_dev_is_reproducible_and_tries_each_candidate() -> None:
    train, y = _data(120, 0)
    dev, y_dev = _data(40, 1)
    probs = 0.85 * np.eye(2)[y] + 0.075
    kwargs = dict(
        payloads={"text": {"kind": "text", "min_df": 1}},
        classes=["ham", "spam"],
        dev=dev,
        dev_y=y_dev,
        candidates=["logreg"],
        trials=3,
        seed=7,
    )
    first = search_end_model(train, probs, **kwargs)
    second = search_end_model(train, probs, **kwargs)
    assert first.selection == "dev"
    assert [t["params"] for t in first.trials] == [t["params"] for t in second.trials]
    assert first.trials[0]["params"] == {
        "learner": "logreg",
        "target": "soft",
        "C": 1.0,
        "class_weight": None,
    }
    assert first.trials[1]["params"]["target"] == "hard"  # both targets are tried early
    assert isinstance(first.model, EndModel)
    assert first.best_value == max(t["value"] for t in first.trials) > 0.9
    assert np.allclose(first.model.predict_proba(dev), second.model.predict_proba(dev))


def test_search_without_dev_holds_out_probabilistic_labels() -> None:
    train, y = _data(100, 2)
    probs = 0.9 * np.eye(2)[y] + 0.05
    calls = []
    result = search_end_model(
        train,
        probs,
        payloads={"text": "text"},
        classes=["a", "b"],
        candidates=["logreg"],
        trials=2,
        holdout=0.25,
        on_trial=lambda n, p, v: calls.append((n, p["learner"], v)),
    )
    assert result.selection == "holdout"
    assert [c[0] for c in calls] == [0, 1]
    assert result.model.predict_proba(train).shape == (100, 2)


def test_search_space_overrides_and_budget_errors() -> None:
    train, y = _data(60, 3)
    probs = np.eye(2)[y] * 0.8 + 0.1
    result = search_end_model(
        train,
        probs,
        payloads={"text": "text"},
        classes=["a", "b"],
        candidates=["logreg"],
        trials=3,
        search_space={"logreg": {"C": [0.5, 2.0], "class_weight": "balanced"}},
    )
    assert all(0.5 <= t["params"]["C"] <= 2.0 for t in result.trials)
    assert all(t["params"]["class_weight"] == "balanced" for t in result.trials)
    with pytest.raises(ValueError, match="budget"):
        search_end_model(
            train, probs, payloads={"text": "text"}, classes=["a", "b"], trials=None, minutes=None
        )


def test_available_learners_lists_installed_ones() -> None:
    learners = available_learners()
    assert learners[0] == "logreg"
    assert set(learners) <= {"logreg", "lightgbm", "mlp"}
