"""Baseline imputers and column-type inference, through their public behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.cleaning import (
    IterativeRegressionImputer,
    MeanModeImputer,
    NeighborsImputer,
    TreesImputer,
    get_imputer,
    infer_column_types,
)
from gristmill.exceptions import DataError, NotFittedError, ParameterError


def _cities(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "rome", "oslo", "lima"], n)
    country = pd.Series(city).map({"paris": "fr", "rome": "it", "oslo": "no", "lima": "pe"})
    size = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "city": pd.array(city, dtype="str"),
            "country": country.astype("str"),
            "size": size,
            "double": 2 * size + 1,
        }
    )


def test_infer_column_types_and_overrides() -> None:
    frame = pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "price": [1.5, 2.0, 3.5],
            "stars": [1, 2, 2],
            "flag": [True, False, True],
            "cat": pd.Categorical(["x", "y", "x"]),
        }
    )
    assert infer_column_types(frame) == {
        "name": "categorical",
        "price": "numeric",
        "stars": "categorical",
        "flag": "categorical",
        "cat": "categorical",
    }
    assert infer_column_types(frame, {"stars": "numeric"})["stars"] == "numeric"
    assert infer_column_types(frame, max_discrete_values=1)["stars"] == "numeric"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": "numeric"}, "nope"),
        ({"price": "text"}, "'categorical' or 'numeric'"),
        ({"name": "numeric"}, "declared numeric"),
    ],
)
def test_infer_column_types_rejects_bad_overrides(overrides: dict[str, str], message: str) -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "price": [1.0, 2.0]})
    with pytest.raises(DataError, match=message):
        infer_column_types(frame, overrides)


def test_dates_are_rejected() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-01-01"])})
    with pytest.raises(DataError, match="when"):
        infer_column_types(frame)


def test_mean_mode_fills_and_keeps_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "city": pd.array(["a", "a", "b", None], dtype="str"),
            "price": [1.5, 3.0, 4.5, np.nan],
            "count": pd.array([1, 2, 4, None], dtype="Int64"),
            "kind": pd.Categorical(["x", "y", "y", None]),
        }
    )
    out = MeanModeImputer(column_types={"count": "numeric"}).fit_transform(frame)
    assert out.dtypes.equals(frame.dtypes)
    assert out.iloc[3].tolist() == ["a", 3.0, 2, "y"]
    assert out.notna().all().all()


def test_columns_limits_what_is_filled() -> None:
    frame = pd.DataFrame({"a": ["x", None, "x"], "b": [1.5, np.nan, 2.5]})
    out = MeanModeImputer(columns=["b"]).fit_transform(frame)
    assert out["a"].isna().sum() == 1
    assert out.loc[1, "b"] == 2.0


def test_trees_recover_a_deterministic_dependency() -> None:
    frame = _cities()
    hidden = frame.copy()
    hidden.loc[:49, "country"] = None
    hidden.loc[50:99, "double"] = np.nan
    out = TreesImputer(seed=0).fit_transform(hidden)
    assert out.loc[:49, "country"].tolist() == frame.loc[:49, "country"].tolist()
    error = np.abs(out.loc[50:99, "double"] - frame.loc[50:99, "double"])
    assert error.mean() < 0.2 * frame["double"].std()
    assert out.dtypes.equals(frame.dtypes)


@pytest.mark.parametrize("imputer", [NeighborsImputer(), IterativeRegressionImputer()])
def test_encoded_imputers_recover_a_dependency(imputer: object) -> None:
    frame = _cities()
    hidden = frame.copy()
    hidden.loc[:49, "country"] = None
    hidden.loc[50:99, "double"] = np.nan
    out = imputer.fit_transform(hidden)  # type: ignore[attr-defined]
    accuracy = (out.loc[:49, "country"] == frame.loc[:49, "country"]).mean()
    assert accuracy >= 0.9
    error = np.abs(out.loc[50:99, "double"] - frame.loc[50:99, "double"])
    assert error.mean() < 0.5 * frame["double"].std()
    assert out.notna().all().all()


def test_all_missing_column_is_a_clear_error() -> None:
    frame = pd.DataFrame({"a": ["x", "y"], "empty": [np.nan, np.nan]})
    with pytest.raises(DataError, match="empty"):
        TreesImputer().fit(frame)


def test_errors_before_fit_and_for_missing_columns() -> None:
    with pytest.raises(NotFittedError):
        MeanModeImputer().transform(pd.DataFrame({"a": [1.0]}))
    imputer = MeanModeImputer().fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    with pytest.raises(DataError, match="'b'"):
        imputer.transform(pd.DataFrame({"a": [np.nan]}))
    with pytest.raises(DataError, match="zzz"):
        MeanModeImputer(columns=["zzz"]).fit(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(DataError, match="DataFrame"):
        MeanModeImputer().fit([[1, 2]])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty"):
        MeanModeImputer().fit(pd.DataFrame({"a": []}))


def test_get_imputer_by_name() -> None:
    assert isinstance(get_imputer("trees", seed=3), TreesImputer)
    assert get_imputer("knn", n_neighbors=3).n_neighbors == 3
    with pytest.raises(DataError, match="unknown imputation method"):
        get_imputer("magic")
    with pytest.raises(ValueError, match="n_neighbors"):
        get_imputer("knn", n_neighbors=0).fit(pd.DataFrame({"a": [1.0, np.nan, 2.0]}))


@pytest.mark.parametrize("imputer", [IterativeRegressionImputer(), TreesImputer()])
def test_a_lone_column_gets_its_mean_or_most_frequent_value(imputer: object) -> None:
    codes = pd.DataFrame({"stars": [1.0, np.nan, 3.0, 3.0]})  # few integers: categorical
    out = imputer.fit_transform(codes)  # type: ignore[attr-defined]
    assert out["stars"].tolist() == [1.0, 3.0, 3.0, 3.0]
    sizes = pd.DataFrame({"size": [1.5, np.nan, 2.5, 3.5]}, index=list("abcd"))
    out = imputer.fit_transform(sizes)  # type: ignore[attr-defined]
    assert out.loc["b", "size"] == pytest.approx(2.5)
    assert out.index.equals(sizes.index)


@pytest.mark.parametrize("method", ["mean", "knn", "iterative", "trees", "attention"])
def test_huge_numbers_are_imputed_within_their_range(method: str) -> None:
    # Squares of numbers beyond 1e154 overflow: the column's scale must not become infinite
    # (NaN or infinite imputations), nor may LightGBM's float32 labels overflow.
    frame = _cities(n=200).drop(columns="double")
    frame["size"] = (frame["size"] + 5) * 1e300
    frame.loc[::10, "size"] = np.nan
    params = {"max_epochs": 2} if method == "attention" else {}
    out = get_imputer(method, **params).fit_transform(frame)
    filled = out.loc[::10, "size"].to_numpy(dtype=float)
    observed = frame["size"].dropna()
    assert np.isfinite(filled).all()
    assert (filled >= observed.min()).all() and (filled <= observed.max()).all()
    biggest = pd.DataFrame({"a": [1e308, 1.5e308, np.nan], "b": ["x", "y", "x"]})
    mean = MeanModeImputer(column_types={"a": "numeric"}).fit_transform(biggest).loc[2, "a"]
    assert mean == pytest.approx(1.25e308)


@pytest.mark.parametrize("method", ["mean", "knn", "iterative", "trees", "attention"])
def test_an_empty_column_not_to_impute_is_left_alone(method: str) -> None:
    frame = _cities(n=60).assign(empty=np.nan)
    frame.loc[:5, "size"] = np.nan
    params = {"max_epochs": 2} if method == "attention" else {}
    imputer = get_imputer(method, columns=["size"], **params).fit(frame)
    assert "empty" not in imputer.columns_
    out = imputer.transform(frame)
    assert out["size"].notna().all()
    assert out["empty"].isna().all() and out.dtypes.equals(frame.dtypes)
    with pytest.raises(DataError, match="'empty'"):
        get_imputer(method, columns=["size", "empty"], **params).fit(frame)


@pytest.mark.parametrize("method", ["knn", "iterative", "trees", "attention"])
@pytest.mark.parametrize("seed", [-1, 1.5, "0", None])
def test_a_seed_that_is_not_an_int_from_0_is_a_parameter_error(method: str, seed: object) -> None:
    # max_rows=10 makes the encoded imputers draw their seeded sample of rows.
    params = {"knn": {"max_rows": 10}, "iterative": {"max_rows": 10}}.get(method, {})
    with pytest.raises(ParameterError, match=f"'seed' parameter of .* Got {seed!r} instead"):
        get_imputer(method, seed=seed, **params).fit(_cities(n=60))


def test_neighbours_are_searched_once_per_one_hot_block_with_sklearn_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A categorical of 30 values is 30 one-hot columns missing together: their neighbours are
    # searched once, not 30 times, and every cell gets the value sklearn's KNNImputer gives.
    rng = np.random.default_rng(0)
    n = 400
    key = rng.integers(0, 30, n)
    frame = pd.DataFrame(
        {
            "x": key + rng.normal(size=n),
            "y": np.round(rng.normal(size=n), 1),  # ties and equal rows: zero distances
            "kind": [f"k{v}" for v in key],
        }
    ).mask(rng.random((n, 3)) < 0.4)
    frame.loc[0, ["x", "y", "kind"]] = np.nan  # a row with no distance to any other
    imputer = NeighborsImputer(max_rows=300).fit(frame)
    encoded = imputer.encoding_.encode(frame)
    expected = imputer.model_.transform(encoded)
    searches = []
    argpartition = np.argpartition

    def counting(*args: object, **kwargs: object) -> np.ndarray:
        searches.append(1)
        return argpartition(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(np, "argpartition", counting)
    filled = imputer.transform(frame)
    assert len(searches) == 3  # x, y, and the 30 columns of kind
    for name in frame.columns:
        rows = np.flatnonzero(frame[name].isna().to_numpy())
        decoded = imputer.encoding_.decode(name, expected[rows])
        assert list(filled[name].iloc[rows]) == list(decoded)


def test_trees_impute_exactly_what_their_fitted_models_predict() -> None:
    # The models are scored one boosting round at a time (for speed with many classes): the
    # imputations must stay exactly the estimators' own predictions, for a multi-class, a
    # two-class and a numeric column, including rows missing several cells.
    rng = np.random.default_rng(0)
    n = 500
    key = rng.integers(0, 12, n)
    frame = pd.DataFrame(
        {
            "kind": [f"k{v}" for v in key],
            "parity": np.where(key % 2 == 0, "even", "odd"),
            "x": key + rng.normal(size=n),
            "noise": rng.choice(["a", "b", "c"], n),
        }
    ).mask(rng.random((n, 4)) < 0.2)
    imputer = TreesImputer(n_estimators=20).fit(frame)
    filled = imputer.transform(frame)
    features = imputer._features(frame)
    for position, name in enumerate(imputer.columns_):
        rows = np.flatnonzero(frame[name].isna().to_numpy())
        predicted = imputer.models_[name].predict(np.delete(features[rows], position, axis=1))
        if name == "x":
            center, scale = imputer.target_scales_[name]
            assert filled[name].iloc[rows].tolist() == (predicted * scale + center).tolist()
        else:
            expected = [imputer.classes_[name][code] for code in predicted]
            assert filled[name].iloc[rows].tolist() == expected
    assert len(imputer.classes_["kind"]) == 12 and len(imputer.classes_["parity"]) == 2
