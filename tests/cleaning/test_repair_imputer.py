"""Repair with a learned imputer as one more source of candidates and evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.cleaning import Cleaner
from gristmill.exceptions import DataError

CITY_TO_COUNTRY = {"paris": "fr", "rome": "it", "oslo": "no", "lima": "pe", "kyiv": "ua"}
FAST = {"dim": 16, "n_heads": 2, "max_epochs": 6, "batch_size": 64, "seed": 0}


def _dirty(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    city = rng.choice(list(CITY_TO_COUNTRY), n)
    truth = pd.DataFrame(
        {
            "city": city,
            "country": pd.Series(city).map(CITY_TO_COUNTRY),
            "tier": np.where(np.isin(city, ["paris", "rome"]), "a", "b"),
        }
    )
    dirty = truth.copy()
    wrong = rng.choice(n, 12, replace=False)
    countries = np.array(sorted(set(CITY_TO_COUNTRY.values())))
    for row in wrong:
        others = countries[countries != truth.loc[row, "country"]]
        dirty.loc[row, "country"] = rng.choice(others)
    return truth, dirty, np.sort(wrong)


def test_default_cleaner_has_no_imputer_and_a_zero_weight() -> None:
    _, dirty, _ = _dirty()
    cleaner = Cleaner(constraints=["city -> country"]).fit(dirty)
    assert cleaner.imputer_ is None
    assert cleaner.weights_["imputer"] == 0.0


def test_attention_imputer_proposes_and_scores_candidates() -> None:
    pytest.importorskip("torch")
    from gristmill.cleaning import AttentionImputer

    truth, dirty, wrong = _dirty()
    unfitted = AttentionImputer(**FAST)
    cleaner = Cleaner(constraints=["city -> country"], imputer=unfitted).fit(dirty)
    # The Cleaner fits a copy; the object passed in stays unfitted.
    assert not hasattr(unfitted, "column_types_")
    assert isinstance(cleaner.imputer_, AttentionImputer)
    # The model learned to trust the imputer's probability of a candidate.
    assert cleaner.weights_["imputer"] > 0
    repaired = cleaner.repaired_
    fixed = (repaired.loc[wrong, "country"] == truth.loc[wrong, "country"]).mean()
    assert fixed >= 0.9
    untouched = np.setdiff1d(np.arange(len(dirty)), wrong)
    assert (repaired.loc[untouched, "country"] == truth.loc[untouched, "country"]).all()
    # A fitted imputer is used as it is, also by transform on another table.
    again = Cleaner(constraints=["city -> country"], imputer=cleaner.imputer_).fit(dirty)
    assert again.imputer_ is cleaner.imputer_
    assert again.transform(dirty.head(50)).shape == (50, 3)


def test_imputer_without_predict_proba_is_rejected() -> None:
    _, dirty, _ = _dirty(60)
    with pytest.raises(DataError, match="predict_proba"):
        Cleaner(imputer=object()).fit(dirty)


def test_an_imputer_fitted_on_integer_labels_scores_the_repair() -> None:
    pytest.importorskip("torch")
    from gristmill.cleaning import AttentionImputer

    truth, dirty, wrong = _dirty()
    dirty.columns = truth.columns = [0, 1, 2]
    imputer = AttentionImputer(**FAST).fit(dirty)
    cleaner = Cleaner(constraints=["0 -> 1"], imputer=imputer).fit(dirty)
    assert cleaner.imputer_ is imputer
    assert cleaner.weights_["imputer"] > 0
    assert cleaner.repaired_.columns.equals(dirty.columns)
    assert (cleaner.repaired_.loc[wrong, 1] == truth.loc[wrong, 1]).mean() >= 0.9


def test_an_empty_column_does_not_stop_the_imputer_of_the_repair() -> None:
    pytest.importorskip("torch")
    from gristmill.cleaning import AttentionImputer

    truth, dirty, wrong = _dirty()
    dirty = dirty.assign(notes=None)
    cleaner = Cleaner(constraints=["city -> country"], imputer=AttentionImputer(**FAST))
    repaired = cleaner.fit(dirty).repaired_
    assert cleaner.imputer_.impute_columns_ == ["city", "country", "tier"]
    assert repaired["notes"].isna().all()
    assert (repaired.loc[wrong, "country"] == truth.loc[wrong, "country"]).mean() >= 0.9
