"""Per-feature drift tests: shifted samples are flagged, i.i.d. samples are not."""

from __future__ import annotations

import math

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
    with pytest.raises(DataError, match="'c' is categorical"):
        feature_drift(pd.Series(["a", "b"], name="c"), pd.Series(["a"]), method="ks")
    with pytest.raises(ValueError, match="method must be one of"):
        feature_drift(_normal(10), _normal(10), method="magic")
    with pytest.raises(ValueError, match="p_value must be > 0"):
        DriftThresholds(p_value=0)


def test_a_long_text_does_not_blow_up_memory() -> None:
    # A fixed-width NumPy string array would size all 400 cells by the 200,000-character text
    # (about 320 MB); capped Python strings keep the peak small.
    import tracemalloc

    ref = _texts(200, ["music", "beat"])
    cur = _texts(200, ["music", "beat"])
    cur.iloc[7] = "spam " * 40_000
    tracemalloc.start()
    try:
        result = feature_drift(ref, cur, kind="text")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.method == "domain" and not result.drifted
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_too_few_rows_are_not_tested() -> None:
    ref = _normal(500)
    for n in (1, 5, 29):
        result = feature_drift(ref, _normal(n, shift=5.0))
        assert not result.tested and not result.drifted and result.method == "none"
        assert np.isnan(result.score)
        assert f"too few rows to test: {n} current values (at least 30 needed)" in result.note
    assert feature_drift(ref, _normal(30, shift=5.0)).drifted
    small = feature_drift(ref, _normal(10), thresholds=DriftThresholds(min_rows=5))
    assert small.tested and small.method == "ks"


def test_a_column_without_values_is_a_change_in_missingness() -> None:
    ref = _normal(500)
    gone = feature_drift(ref, pd.Series([np.nan] * 40))
    assert gone.method == "missing" and gone.drifted and gone.score > 1
    assert gone.missing_reference == 0.0 and gone.missing_current == 1.0
    assert gone.note == "every current value is missing"
    # Mostly missing in the reference too: 40 missing rows are no surprise.
    mostly_missing = pd.Series(np.r_[_normal(10).to_numpy(), [np.nan] * 490], name="x")
    assert not feature_drift(mostly_missing, pd.Series([np.nan] * 40)).drifted
    assert feature_drift(ref, pd.Series([np.nan] * 3)).note.startswith("too few rows")
    assert feature_drift(pd.Series([np.nan] * 50), pd.Series([np.nan] * 50)).method == "none"


def test_dates_that_do_not_parse_are_named_as_such() -> None:
    hours = pd.Series(pd.date_range("2024-01-01", periods=300, freq="h").astype(str), name="d")
    result = feature_drift(hours, pd.Series(["yesterday"] * 60), kind="datetime")
    assert result.method == "missing" and result.drifted and result.kind == "datetime"
    assert result.note == "no current value parses as a date (e.g. 'yesterday')"
    assert result.missing_current == 1.0
    some = feature_drift(hours, pd.concat([hours.iloc[:50], pd.Series(["soon"] * 10)]),
                         kind="datetime")
    assert some.method == "ks" and some.n_current == 50
    assert some.note == "10 of 60 current values do not parse as dates (e.g. 'soon')"
    assert some.missing_current == pytest.approx(10 / 60)


def test_distances_need_both_samples_large() -> None:
    ref = _normal(3000)
    assert feature_drift(ref, _normal(3000)).method == "wasserstein"
    assert feature_drift(ref, _normal(400)).method == "ks"
    cats = pd.Series(rng.choice(["a", "b", "c"], size=3000), name="c")
    assert feature_drift(cats, pd.Series(rng.choice(["a", "b", "c"], size=3000))).method == (
        "jensenshannon")
    assert feature_drift(cats, pd.Series(rng.choice(["a", "b", "c"], size=300))).method == "chi2"
    # Thousands of values: two samples of one law are far apart in Jensen–Shannon distance.
    ids = pd.Series(rng.integers(0, 2000, size=3000).astype(str), name="id")
    same = feature_drift(ids, pd.Series(rng.integers(0, 2000, size=3000).astype(str)),
                         kind="categorical")
    assert same.method == "chi2" and not same.drifted
    # Nearly unique values: the share the reference lacks is what moves.
    users = _draw("high-card", 3000, seed=1).rename("user")
    assert not feature_drift(users, _draw("high-card", 3000, seed=2), kind="categorical").drifted
    newcomers = feature_drift(users, _draw("high-card", 3000, seed=3, shifted=True),
                              kind="categorical")
    assert newcomers.method == "chi2" and newcomers.drifted


def test_integer_codes_with_missing_values_match_the_reference() -> None:
    ref = pd.Series(np.arange(300) % 3, name="code")
    cur = pd.Series([0.0, 1.0, 2.0, np.nan] * 50)
    result = feature_drift(ref, cur, kind="categorical")
    assert not result.drifted and result.missing_current == 0.25


def _draw(kind: str, n: int, seed: int, *, shifted: bool = False) -> pd.Series:
    """``n`` values of a column of each kind; ``shifted`` draws from a changed distribution."""
    gen = np.random.default_rng(seed)
    if kind == "numeric":
        return pd.Series(gen.lognormal(3.0, 0.5, size=n) * (1.3 if shifted else 1.0))
    if kind == "low-card":
        shares = [0.25] * 4 if shifted else [0.4, 0.3, 0.2, 0.1]
        return pd.Series(gen.choice(["a", "b", "c", "d"], size=n, p=shares))
    if kind == "high-card":  # like user names: a few prolific posters, most post once
        regulars = [f"{'bot' if shifted else 'regular'}{k}" for k in range(40)]
        once = [f"user{k}" for k in gen.integers(0, 10**9, size=n)]
        return pd.Series(np.where(gen.random(n) < 0.15, gen.choice(regulars, size=n), once))
    if kind == "text":
        common = ["this", "song", "is", "great", "love", "it", "the", "video", "nice", "wow"]
        topic = ["goal", "match", "team"] if shifted else ["music", "beat", "voice"]
        return pd.Series([" ".join(gen.choice(common + topic, size=8)) for _ in range(n)])
    days = gen.normal(30.0 if shifted else 0.0, 30.0, size=n)
    stamps = (pd.Timestamp("2024-06-01") + pd.to_timedelta(days, unit="D")).astype(str)
    return pd.Series(np.where(gen.random(n) < 0.1, None, stamps), dtype=object)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "repeats"), [
    ("numeric", 200), ("low-card", 150), ("high-card", 50), ("text", 10), ("datetime", 200)])
def test_samples_of_the_reference_raise_no_more_false_alarms_than_nominal(
        kind: str, repeats: int) -> None:
    # Current rows from the reference's law must drift in about p_value (5%) of the checks at
    # any size: rows resampled from one reference (as a tester would), and fresh draws of both
    # samples (a test's level holds over references: against one fixed reference, fresh rows
    # drift more or less often as that reference happens to sit). A real change must be found
    # from 100 rows on; fewer than 30 rows are never tested.
    declared = {"low-card": "categorical", "high-card": "categorical"}.get(kind, kind)
    reference = _draw(kind, 1000, seed=0).rename("column")
    rates = {}
    for n in (1, 5, 30, 100, 400):
        for source in ("resampled", "fresh", "shifted"):
            alarms = 0
            for r in range(repeats):
                seed = 1000 * n + r
                ref, current = reference, _draw(kind, n, seed, shifted=source == "shifted")
                if source == "resampled":
                    current = reference.sample(n, random_state=seed)
                elif source == "fresh":
                    ref = _draw(kind, 1000, seed=10**6 + seed).rename("column")
                result = feature_drift(ref, current, kind=declared)
                assert result.tested == (current.notna().sum() >= 30)
                alarms += result.drifted
            rates[n, source] = alarms / repeats
    for n in (1, 5):
        assert rates[n, "resampled"] == rates[n, "fresh"] == rates[n, "shifted"] == 0.0
    # The nominal 5% plus three standard errors of a rate measured on `repeats` checks.
    tolerance = 0.05 + 3 * math.sqrt(0.05 * 0.95 / repeats)
    for n in (30, 100, 400):
        assert rates[n, "resampled"] <= tolerance and rates[n, "fresh"] <= tolerance, rates
    assert rates[100, "shifted"] >= 0.8 and rates[400, "shifted"] >= 0.95, rates
