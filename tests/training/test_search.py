"""Model search under a budget: selection on dev or held-out soft labels, reproducibility."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import NotFittedError, ParameterError
from gristmill.training import EndModel, available_learners, search_end_model
from gristmill.training._classifiers import CLASSIFIERS, DeadlinePassed
from gristmill.training._search import (
    DEFAULT_SEARCH_SPACE,
    SEARCH_PARAMS,
    check_search_param,
    search_space_problems,
)


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


def test_interrupt_stops_the_search_without_a_failed_trial_report(
    capfd: pytest.CaptureFixture[str],
) -> None:
    train, y = _data(60, 0)
    dev, y_dev = _data(20, 1)
    finished = []

    def on_trial(number: int, params: dict, value: float) -> None:
        finished.append(number)
        if number == 1:
            raise KeyboardInterrupt  # Ctrl-C inside the second trial

    with pytest.raises(KeyboardInterrupt):
        search_end_model(
            train,
            0.85 * np.eye(2)[y] + 0.075,
            payloads={"text": {"kind": "text", "min_df": 1}},
            classes=["ham", "spam"],
            dev=dev,
            dev_y=y_dev,
            candidates=["logreg"],
            trials=50,
            on_trial=on_trial,
        )
    assert finished == [0, 1]
    assert capfd.readouterr().err == ""  # Optuna logs a failed trial with its traceback


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


def test_a_trial_running_past_the_time_budget_is_stopped_and_left_out() -> None:
    # A LightGBM trial of 10^5 rounds outlasts a 1.2 s budget by far: it used to run to its
    # end (the budget was only checked between trials) and count; now it is cut and dropped.
    pytest.importorskip("lightgbm")
    train, y = _data(80, 0)
    dev, y_dev = _data(30, 1)
    calls: list[str] = []
    result = search_end_model(
        train,
        0.5 * np.eye(2)[y] + 0.25,  # soft labels: the trees never run out of splits
        payloads={"text": "text"},
        classes=["ham", "spam"],
        dev=dev,
        dev_y=y_dev,
        candidates=["logreg", "lightgbm"],
        targets=("soft",),
        search_space={"lightgbm": {"n_estimators": 100_000, "num_leaves": 2}},
        trials=None,
        minutes=0.02,
        on_trial=lambda n, p, v: calls.append(p["learner"]),
    )
    assert result.trials[0]["params"]["learner"] == "logreg"  # the first trial always finishes
    assert {t["params"]["learner"] for t in result.trials} == {"logreg"}
    assert calls == [t["params"]["learner"] for t in result.trials]
    assert result.model.learner == "logreg"


@pytest.mark.parametrize("learner", ["logreg", "lightgbm", "mlp"])
def test_a_learner_stops_once_its_deadline_has_passed(learner: str) -> None:
    if learner != "logreg":
        pytest.importorskip("torch" if learner == "mlp" else learner)
    train, y = _data(60, 4)
    model = EndModel({"text": "text"}, ["ham", "spam"], learner=learner)
    with pytest.raises(DeadlinePassed):
        model.fit(train, np.eye(2)[y], deadline=time.monotonic() - 1.0)
    with pytest.raises(NotFittedError):
        model.predict(train)
    unlimited = EndModel({"text": "text"}, ["ham", "spam"], learner=learner).fit(
        train, np.eye(2)[y]
    )
    in_time = model.fit(train, np.eye(2)[y], deadline=time.monotonic() + 3600.0)
    assert np.array_equal(in_time.predict_proba(train), unlimited.predict_proba(train))


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


def test_search_space_entries_are_checked_before_any_trial() -> None:
    train, y = _data(60, 3)
    probs = np.eye(2)[y] * 0.8 + 0.1
    trials: list[int] = []
    with pytest.raises(ParameterError) as info:
        search_end_model(
            train,
            probs,
            payloads={"text": "text"},
            classes=["a", "b"],
            candidates=["logreg"],
            trials=2,
            search_space={"logreg": {"C": [5, 1], "nosuch": 3}, "lightgbm": {"num_leaves": 8}},
            on_trial=lambda n, p, v: trials.append(n),
        )
    assert str(info.value) == (
        "search_space.logreg.C: the range [5, 1] of logreg's 'C' is reversed; write [1, 5]; "
        "search_space.logreg.nosuch: logreg has no parameter 'nosuch'; it takes "
        "['C', 'class_weight', 'max_iter']; "
        "search_space.lightgbm: learner 'lightgbm' is not a candidate (['logreg']), so its "
        "search space would be ignored; add it to the candidates or remove its search space"
    )
    assert trials == []


def test_a_real_parameter_with_integer_bounds_is_searched_over_reals() -> None:
    train, y = _data(60, 3)
    probs = np.eye(2)[y] * 0.8 + 0.1
    result = search_end_model(
        train,
        probs,
        payloads={"text": "text"},
        classes=["a", "b"],
        candidates=["logreg"],
        targets=["soft"],
        trials=4,
        search_space={"logreg": {"C": [1, 100], "max_iter": [20, 40]}},
    )
    values = [t["params"]["C"] for t in result.trials]
    assert all(1 <= c <= 100 for c in values)
    assert any(not float(c).is_integer() for c in values)
    assert all(isinstance(t["params"]["max_iter"], int) for t in result.trials)


@pytest.mark.parametrize(
    ("learner", "name", "spec", "message"),
    [
        ("svm", "C", 1.0, "unknown learner 'svm'"),
        ("logreg", "seed", 3, "logreg has no parameter 'seed'"),
        ("logreg", "C", True, "logreg's 'C' takes a number > 0"),
        ("logreg", "C", float("inf"), "logreg's 'C' takes a number > 0"),
        ("logreg", "C", "1e-3", "got '1e-3' (text, not a number: in YAML write exponents"),
        ("lightgbm", "n_estimators", 50.5, "lightgbm's 'n_estimators' takes an integer >= 1"),
        ("lightgbm", "colsample", (0.5, 1.5), "must have bounds that are a number in (0, 1]"),
        ("mlp", "dropout", [0.1, 0.2, 1.0], "mlp's 'dropout' takes a number in [0, 1)"),
        ("mlp", "epochs", (), "the list of choices of mlp's 'epochs' is empty"),
    ],
)
def test_check_search_param_refuses(learner: str, name: str, spec: object, message: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        check_search_param(learner, name, spec)


def test_search_params_are_the_learners_own_and_admit_their_defaults() -> None:
    for learner, domains in SEARCH_PARAMS.items():
        defaults = CLASSIFIERS[learner]().get_params()
        assert set(domains) == set(defaults) - {"seed"}
        for name, domain in domains.items():
            assert domain.admits(defaults[name]), (learner, name)
    for learner, space in DEFAULT_SEARCH_SPACE.items():
        for name, spec in space.items():
            check_search_param(learner, name, list(spec) if isinstance(spec, tuple) else spec)
    assert search_space_problems(DEFAULT_SEARCH_SPACE, list(DEFAULT_SEARCH_SPACE)) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"candidates": []}, "needs at least one candidate learner"),
        ({"candidates": ["svm"]}, "'candidates' parameter .* Got ['svm'] instead"),
        ({"trials": 0}, "'trials' parameter of search_end_model must be an int >= 1 or None"),
        ({"trials": None, "minutes": 0}, "'minutes' parameter .* must be > 0 or None. Got 0"),
        ({"dev": None, "holdout": 1.0}, "'holdout' parameter .* must be in (0, 1). Got 1.0"),
        ({"metric": "acc"}, "'metric' parameter .* one of ['accuracy', 'f1', 'f1_macro', "),
        ({"classes": ["a", "b", "c"], "metric": "recall"}, "Got 'recall' instead"),
    ],
)
def test_parameters_are_checked_before_any_trial(changes: dict, message: str) -> None:
    train, y = _data(60, 3)
    kwargs = {
        "payloads": {"text": "text"},
        "classes": ["a", "b"],
        "candidates": ["logreg"],
        "trials": 2,
        "dev": train,
        "dev_y": y,
        **changes,
    }
    probs = np.full((60, len(kwargs["classes"])), 1 / len(kwargs["classes"]))
    trials: list[int] = []
    pattern = ".*".join(re.escape(part) for part in message.split(" .* "))
    with pytest.raises(ParameterError, match=pattern):
        search_end_model(train, probs, on_trial=lambda n, p, v: trials.append(n), **kwargs)
    assert trials == []
