"""AttentionImputer: recovery, dtypes, unseen values, determinism, persistence, repair hooks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from gristmill.cleaning import AttentionImputer  # noqa: E402
from gristmill.exceptions import DataError, NotFittedError  # noqa: E402

FAST = {"dim": 16, "n_heads": 2, "max_epochs": 15, "patience": 3, "batch_size": 128}
CITY_TO_COUNTRY = {"paris": "fr", "rome": "it", "oslo": "no", "lima": "pe", "kyiv": "ua"}


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = rng.choice(list(CITY_TO_COUNTRY), n)
    size = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "city": pd.array(city, dtype="str"),
            "country": pd.Series(city).map(CITY_TO_COUNTRY).astype("category"),
            "size": size,
            "double": 3 * size + 1,
            "stars": pd.array(rng.integers(1, 4, n), dtype="Int64"),
            "flag": pd.Series(rng.random(n) < 0.5, dtype="boolean"),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[AttentionImputer, pd.DataFrame, pd.DataFrame]:
    truth = _table()
    hidden = truth.copy()
    hidden.loc[:39, "country"] = None
    hidden.loc[40:79, "double"] = np.nan
    hidden.loc[80:89, ["country", "double", "stars", "flag"]] = None
    imputer = AttentionImputer(seed=0, **FAST).fit(hidden)
    return imputer, truth, hidden


def test_recovers_deterministic_dependencies(fitted: tuple) -> None:
    imputer, truth, hidden = fitted
    out = imputer.transform(hidden)
    assert out.loc[:39, "country"].tolist() == truth.loc[:39, "country"].tolist()
    error = np.abs(out.loc[40:79, "double"] - truth.loc[40:79, "double"])
    assert error.mean() < 0.25 * truth["double"].std()
    # Rows with several missing cells are filled from what is left.
    assert out.loc[80:89, "country"].tolist() == truth.loc[80:89, "country"].tolist()
    assert out.notna().all().all()


def test_mixed_types_round_trip_with_same_dtypes(fitted: tuple) -> None:
    imputer, truth, hidden = fitted
    out = imputer.transform(hidden)
    assert out.dtypes.equals(hidden.dtypes)
    assert list(out.columns) == list(hidden.columns)
    assert out.index.equals(hidden.index)
    assert set(out["stars"].unique()) <= {1, 2, 3}
    observed = hidden.notna()
    pd.testing.assert_frame_equal(out[observed.all(axis=1)], hidden[observed.all(axis=1)])
    assert imputer.column_types_["stars"] == "categorical"
    assert imputer.column_types_["double"] == "numeric"


def test_unseen_categories_at_transform(fitted: tuple) -> None:
    imputer, truth, _ = fitted
    new = truth.head(5).copy()
    new["city"] = pd.array(["atlantis"] * 5, dtype="str")
    new.loc[:, "double"] = np.nan
    out = imputer.transform(new)
    assert out["double"].notna().all()
    assert out["city"].tolist() == ["atlantis"] * 5


def test_predict_proba_confidence_and_candidates(fitted: tuple) -> None:
    imputer, truth, hidden = fitted
    proba = imputer.predict_proba(hidden, "country")
    assert proba.shape == (len(hidden), len(imputer.classes_["country"]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    classes = np.array(imputer.classes_["country"], dtype=object)
    assert (classes[proba.argmax(axis=1)] == truth["country"].astype(str).to_numpy()).mean() > 0.95
    out, confidence = imputer.transform(hidden, return_confidence=True)
    assert confidence.shape == hidden.shape
    assert (confidence.to_numpy()[hidden.notna().to_numpy()] == 1.0).all()
    assert confidence.loc[:39, "country"].between(0.5, 1.0).all()
    values, scores = imputer.predict_values(hidden, "double")
    assert values.shape == scores.shape == (len(hidden),)
    assert ((scores >= 0) & (scores <= 1)).all()
    cells = imputer.candidates(hidden, [(0, "country"), (45, "double")], k=3)
    assert list(cells.columns) == ["row", "column", "rank", "value", "probability"]
    assert cells[cells["column"] == "country"]["rank"].tolist() == [1, 2, 3]
    assert cells.iloc[0]["value"] == truth.loc[0, "country"]
    assert len(cells[cells["column"] == "double"]) == 1
    assert imputer.candidates(hidden, []).columns.tolist() == list(cells.columns)
    with pytest.raises(DataError, match="numeric"):
        imputer.predict_proba(hidden, "double")
    with pytest.raises(DataError, match="nope"):
        imputer.predict_proba(hidden, "nope")
    with pytest.raises(DataError, match="no row labelled"):
        imputer.candidates(hidden, [(10_000, "country")])


def test_every_column_blends_with_the_chained_regressions(fitted: tuple) -> None:
    imputer, truth, hidden = fitted
    assert set(imputer.blend_) == set(truth.columns)
    assert all(0.0 <= weight <= 1.0 for weight in imputer.blend_.values())
    pure = AttentionImputer(seed=0, linear_blend=False, **FAST).fit(hidden)
    assert pure.blend_ == {}
    # double = 3 * size + 1: the blend recovers it at least as well as the network alone.
    rows = slice(40, 79)
    blended = np.abs(imputer.transform(hidden).loc[rows, "double"] - truth.loc[rows, "double"])
    alone = np.abs(pure.transform(hidden).loc[rows, "double"] - truth.loc[rows, "double"])
    assert blended.mean() <= alone.mean() + 1e-9
    assert blended.mean() < 0.05 * truth["double"].std()


def test_a_category_decided_by_a_sum_leans_on_the_classifier() -> None:
    # The sign of a sum of four numbers: one linear score, which attention (a weighted
    # average of the context cells) approximates poorly and a logistic regression exactly.
    rng = np.random.default_rng(5)
    n = 600
    numbers = rng.normal(size=(n, 4))
    truth = pd.DataFrame(numbers, columns=["a", "b", "c", "d"])
    truth["sign"] = pd.array(np.where(numbers.sum(axis=1) > 0, "plus", "minus"), dtype="str")
    truth["tag"] = pd.array(rng.choice(["x", "y", "z"], n), dtype="str")
    hidden = truth.copy()
    hidden.loc[:99, "sign"] = None
    imputer = AttentionImputer(seed=0, **FAST).fit(hidden)
    assert imputer.blend_["sign"] < 0.5
    out = imputer.transform(hidden)
    assert (out.loc[:99, "sign"] == truth.loc[:99, "sign"]).mean() > 0.9
    # "tag" is noise: its probabilities stay near the class shares whatever the blend.
    assert imputer.predict_proba(hidden, "tag").max() < 0.6


def test_a_category_the_classifier_cannot_see_leans_on_the_network() -> None:
    # The region of 40 cities: the logistic partner one-hot encodes only the 20 most frequent
    # values of a context column, the network embeds every value. The held-out cells show the
    # network is right, and that outweighs the prior towards the partner.
    rng = np.random.default_rng(3)
    n = 800
    cities = [f"c{k}" for k in range(40)]
    city = rng.choice(cities, n)
    region = {c: ["north", "south", "east"][k % 3] for k, c in enumerate(cities)}
    truth = pd.DataFrame(
        {
            "city": pd.array(city, dtype="str"),
            "region": pd.array(pd.Series(city).map(region).to_numpy(), dtype="str"),
            "noise": rng.normal(size=n),
        }
    )
    hidden = truth.copy()
    hidden.loc[:149, "region"] = None
    imputer = AttentionImputer(seed=0, **FAST).fit(hidden)
    assert imputer.blend_["region"] > 0.6
    out = imputer.transform(hidden)
    assert (out.loc[:149, "region"] == truth.loc[:149, "region"]).mean() > 0.98


def test_same_seed_same_model_and_other_seed_differs() -> None:
    hidden = _table(200, seed=1)
    hidden.loc[:19, "country"] = None
    params = {**FAST, "max_epochs": 2}
    first = AttentionImputer(seed=7, **params).fit(hidden)
    second = AttentionImputer(seed=7, **params).fit(hidden)
    third = AttentionImputer(seed=8, **params).fit(hidden)
    np.testing.assert_array_equal(
        first.predict_proba(hidden, "country"), second.predict_proba(hidden, "country")
    )
    assert first.history_ == second.history_
    assert not np.array_equal(
        first.predict_proba(hidden, "country"), third.predict_proba(hidden, "country")
    )


def test_save_and_load_give_the_same_predictions(fitted: tuple, tmp_path: Path) -> None:
    imputer, _, hidden = fitted
    directory = imputer.save(tmp_path / "model")
    assert sorted(p.name for p in directory.iterdir()) == ["imputer.json", "weights.npz"]
    loaded = AttentionImputer.load(directory)
    pd.testing.assert_frame_equal(loaded.transform(hidden), imputer.transform(hidden))
    np.testing.assert_array_equal(
        loaded.predict_proba(hidden, "country"), imputer.predict_proba(hidden, "country")
    )
    assert loaded.get_params() == imputer.get_params()
    assert loaded.blend_ == imputer.blend_
    for column in ("size", "double"):
        np.testing.assert_array_equal(
            loaded.predict_values(hidden, column)[0], imputer.predict_values(hidden, column)[0]
        )
    with pytest.raises(DataError, match="not a saved AttentionImputer"):
        AttentionImputer.load(tmp_path / "missing")


def test_all_missing_column_and_bad_input() -> None:
    frame = _table(50)
    frame["empty"] = np.nan
    with pytest.raises(DataError, match="'empty'"):
        AttentionImputer(**FAST).fit(frame)
    with pytest.raises(NotFittedError):
        AttentionImputer().transform(_table(5))
    with pytest.raises(ValueError, match="n_heads"):
        AttentionImputer(dim=10, n_heads=3).fit(_table(20))
    with pytest.raises(ValueError, match="mask_rate"):
        AttentionImputer(mask_rate=2.0).fit(_table(20))
    with pytest.raises(ValueError, match="batch_size"):
        AttentionImputer(batch_size="big").fit(_table(20))


def test_columns_restricts_filling_and_global_rng_untouched() -> None:
    import torch

    hidden = _table(100)
    hidden.loc[:9, ["country", "double"]] = None
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    imputer = AttentionImputer(columns=["double"], **{**FAST, "max_epochs": 1}).fit(hidden)
    assert torch.rand(1) == before
    out = imputer.transform(hidden)
    assert out["country"].isna().sum() == 10
    assert out["double"].notna().all()


def test_a_single_column_table_has_no_partner_to_blend() -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=60)})
    frame.loc[:4, "x"] = np.nan
    imputer = AttentionImputer(**{**FAST, "max_epochs": 2}).fit(frame)
    assert imputer.blend_ == {}
    assert imputer.transform(frame)["x"].notna().all()


def test_integer_column_labels_survive_save_and_load(tmp_path: Path) -> None:
    frame = _table(120)
    frame.columns = [0, 1, 2, "double", 4, 5]
    frame.loc[:9, [1, "double"]] = None
    fast = {**FAST, "max_epochs": 2}
    imputer = AttentionImputer(column_types={4: "numeric"}, **fast).fit(frame)
    loaded = AttentionImputer.load(imputer.save(tmp_path / "model"))
    assert loaded.columns_ == [0, 1, 2, "double", 4, 5]
    assert loaded.column_types_ == imputer.column_types_
    assert loaded.get_params() == imputer.get_params()
    assert loaded.blend_ == imputer.blend_
    out = loaded.transform(frame)
    pd.testing.assert_frame_equal(out, imputer.transform(frame))
    assert out.columns.equals(frame.columns)
    assert out.dtypes.equals(frame.dtypes)
    np.testing.assert_allclose(loaded.predict_proba(frame, 1), imputer.predict_proba(frame, 1))


def test_labels_that_json_cannot_keep_are_refused_at_save(tmp_path: Path) -> None:
    frame = _table(60)[["city", "size"]]
    frame.columns = pd.MultiIndex.from_tuples([("a", "city"), ("a", "size")])
    imputer = AttentionImputer(**{**FAST, "max_epochs": 1}).fit(frame)
    with pytest.raises(DataError, match=r"column label \('a', 'city'\) cannot be saved"):
        imputer.save(tmp_path / "model")


def test_predicting_many_rows_keeps_memory_bounded_with_many_valued_columns() -> None:
    # The chained regressions model only columns of few values, but give class probabilities
    # of every column: (rows, sum of vocabulary sizes) floats. Predicting 8,000 rows with two
    # 1,000-value columns held those at once (256 MB); in chunks it is a fraction of that.
    import tracemalloc

    rng = np.random.default_rng(0)
    ident = np.repeat(np.arange(1000), 2)
    frame = pd.DataFrame(
        {
            "name": pd.array([f"h{i}" for i in ident], dtype="str"),
            "phone": pd.array([f"p{i}" for i in ident], dtype="str"),
            "kind": pd.array([f"k{i % 4}" for i in ident], dtype="str"),
            "score": ident % 7 + rng.normal(0, 0.1, len(ident)),
        }
    )
    frame.loc[:99, "kind"] = None
    imputer = AttentionImputer(seed=0, dim=8, n_heads=2, max_epochs=1, batch_size=256)
    imputer.fit(frame)
    assert "kind" in imputer.blend_ and len(imputer.classes_["name"]) == 1000
    many = pd.concat([frame] * 4, ignore_index=True)
    tracemalloc.start()
    try:
        probabilities = imputer.predict_proba(many, "kind")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert probabilities.shape == (8000, 4)
    np.testing.assert_allclose(probabilities[:2000], imputer.predict_proba(frame, "kind"))
    assert peak < 100e6
