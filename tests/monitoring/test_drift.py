"""Per-feature drift tests: shifted samples are flagged, i.i.d. samples are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError
from gristmill.monitoring import DriftThresholds, column_kind, feature_drift

rng = np.random.default_rng(42)


def _normal(n: int, shift: float = 0.0, name: str = "x") -> pd.Series:
    return pd.Series(rng.normal(size=n) + shift, name=name)


@pytest.mark.parametrize(("n", "method"), [(400, "ks"), (3000, "wasserstein")])
def test_numeric_auto_method_by_sample_size(n: int, method: str) -> None:
    same = feature_drift(_normal(n), _normal(n))
    shifted = feature_drift(_normal(n), _normal(n, shift=0.6))
    assert same.method == shifted.method == method
    assert not same.drifted and same.score < 1
    assert shifted.drifted and shifted.score > 1


@pytest.mark.parametrize(("n", "method"), [(400, "chi2"), (3000, "jensenshannon")])
def test_categorical_auto_method_by_sample_size(n: int, method: str) -> None:
    ref = pd.Series(rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]), name="c")
    same = pd.Series(rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]))
    shifted = pd.Series(rng.choice(["a", "b", "c", "d"], size=n, p=[0.1, 0.2, 0.2, 0.5]))
    assert column_kind(ref) == "categorical"
    assert feature_drift(ref, same).method == method
    assert not feature_drift(ref, same).drifted
    assert feature_drift(ref, shifted).drifted


def test_psi_on_request() -> None:
    result = feature_drift(_normal(2000), _normal(2000, shift=1.0), method="psi")
    assert result.method == "psi" and result.threshold == 0.1 and result.drifted
    assert not feature_drift(_normal(2000), _normal(2000), method="psi").drifted


def _texts(n: int, topic: list[str]) -> pd.Series:
    common = ["this", "song", "is", "great", "love", "it", "the", "video", "nice"]
    words = [" ".join(rng.choice(common + topic, size=8)) for _ in range(n)]
    return pd.Series(words, name="text")


def test_text_drift_uses_a_domain_classifier() -> None:
    ref = _texts(600, ["music", "beat"])
    assert column_kind(ref) == "text"
    same = feature_drift(ref, _texts(600, ["music", "beat"]))
    shifted = feature_drift(ref, _texts(600, ["football", "goal", "match"]))
    assert same.method == shifted.method == "domain"
    assert not same.drifted and 0.35 < same.statistic < 0.6
    assert shifted.drifted and shifted.statistic > 0.9


def test_errors_name_the_column() -> None:
    with pytest.raises(DataError, match="'x'.*current"):
        feature_drift(_normal(10), pd.Series([np.nan, np.nan]))
    with pytest.raises(DataError, match="'c' is categorical"):
        feature_drift(pd.Series(["a", "b"], name="c"), pd.Series(["a"]), method="ks")
    with pytest.raises(ValueError, match="method must be one of"):
        feature_drift(_normal(10), _normal(10), method="magic")
    with pytest.raises(ValueError, match="p_value must be > 0"):
        DriftThresholds(p_value=0)
