"""Porting a Snorkel notebook: Snorkel's keyword arguments say how gristmill spells them."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from gristmill.exceptions import IdentifiabilityWarning, ParameterError
from gristmill.labelmodel import LABEL_MODELS, Triplet, get_label_model

ALL = sorted(LABEL_MODELS)
L = np.array([[0, 0, -1], [1, 1, 1], [0, -1, 0], [1, 1, -1], [-1, 0, 0]] * 10)
Y = np.array([0, 1, 0, 1, 0] * 10)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    ("keyword", "value", "hint"),
    [
        ("Y_dev", Y, "y_dev="),
        ("L_train", L, "first argument"),
        ("n_epochs", 500, "constructor"),
        ("log_freq", 100, "constructor"),
        ("lr", 0.01, "constructor"),
        ("progress_bar", False, "constructor"),
    ],
)
def test_fit_refuses_snorkel_keywords_saying_the_gristmill_way(
    name: str, keyword: str, value: object, hint: str
) -> None:
    model = get_label_model(name, cardinality=2)
    with pytest.raises(ParameterError, match=rf"\.fit\(\) takes no '{keyword}'.*{hint}"):
        model.fit(L, **{keyword: value})


@pytest.mark.parametrize("name", ALL)
def test_predict_and_score_refuse_snorkel_keywords_saying_the_gristmill_way(name: str) -> None:
    model = get_label_model(name).fit(L)
    with pytest.raises(ParameterError, match="'tie_break_policy'.*tie_break="):
        model.predict(L, tie_break_policy="random")
    with pytest.raises(ParameterError, match="'return_probs'.*predict_proba"):
        model.predict(L, return_probs=True)
    with pytest.raises(ParameterError, match="'metrics'.*metric="):
        model.score(L, Y, metrics=["accuracy"])
    with pytest.raises(ParameterError, match="'tie_break_policy'.*tie_break="):
        model.score(L, Y, tie_break_policy="abstain")
    with pytest.raises(ParameterError, match=r"'Y'.*score\(L, y\)"):
        model.score(L, Y=Y)
    assert isinstance(model.score(L, Y, metric="accuracy", tie_break="abstain"), float)


@pytest.mark.parametrize("name", ALL)
def test_constructors_refuse_snorkel_keywords_and_keep_their_signature(name: str) -> None:
    cls = LABEL_MODELS[name]
    with pytest.raises(ParameterError, match=rf"{cls.__name__}\(\) takes no 'verbose'"):
        cls(cardinality=2, verbose=True)
    with pytest.raises(ParameterError, match="'device'.*CPU"):
        cls(device="cpu")
    assert "cardinality" in inspect.signature(cls).parameters
    model = cls(cardinality=3)
    assert clone(model).get_params() == model.get_params()


def test_triplet_warning_points_at_the_users_fit_call() -> None:
    # Four LFs, one pair of which votes together: the others have no usable triplet.
    votes = np.full((200, 4), -1)
    votes[:50, 0], votes[50:100, 1], votes[100:150, 2], votes[150:, 3] = 1, 0, 1, 0
    votes[:60, 3] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Triplet().fit(votes)
    assert caught and {w.filename for w in caught if w.category is IdentifiabilityWarning} == {
        __file__
    }
