"""What every imputer shares (``TableImputer``): labels, dtypes and input checks, per imputer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.cleaning import get_imputer
from gristmill.cleaning._impute_baselines import IMPUTER_NAMES
from gristmill.exceptions import DataError, ParameterError

FAST_ATTENTION = {"dim": 16, "n_heads": 2, "max_epochs": 2}


def _imputer(name: str) -> object:
    if name == "attention":
        pytest.importorskip("torch")
        return get_imputer(name, **FAST_ATTENTION)
    return get_imputer(name)


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A label column, a number and a category decided by the label, with gaps in each."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "rome"], n)
    frame = pd.DataFrame(
        {
            "city": pd.array(city, dtype="str"),
            "size": rng.normal(0, 1, n),
            "country": pd.Categorical(pd.Series(city).map({"paris": "fr", "rome": "it"})),
        }
    )
    frame.loc[[1, 2], "size"] = np.nan
    frame.loc[[3, 4], "city"] = None
    frame.loc[[5], "country"] = None
    return frame


@pytest.mark.parametrize("name", IMPUTER_NAMES)
def test_integer_column_labels_are_kept(name: str) -> None:
    frame = _table()
    frame.columns = [0, 1, 2]
    imputer = _imputer(name)
    out = imputer.fit_transform(frame)  # type: ignore[attr-defined]
    assert imputer.columns_ == [0, 1, 2]  # type: ignore[attr-defined]
    assert out.columns.equals(frame.columns)
    assert out.index.equals(frame.index)
    assert out.dtypes.equals(frame.dtypes)
    assert out.notna().all().all()


@pytest.mark.parametrize("name", IMPUTER_NAMES)
def test_a_batch_category_lacking_the_imputed_value_gets_it(name: str) -> None:
    imputer = _imputer(name).fit(_table())  # type: ignore[attr-defined]
    batch = pd.DataFrame(
        {
            "city": pd.array(["paris", "rome"], dtype="str"),
            "size": [0.5, -0.5],
            "country": pd.Categorical([None, None], categories=["zz"]),
        },
        index=["a", "b"],
    )
    out = imputer.transform(batch)
    assert isinstance(out["country"].dtype, pd.CategoricalDtype)
    assert set(out["country"]) <= {"fr", "it"}
    assert "zz" in out["country"].cat.categories
    assert out.index.equals(batch.index)


def test_mean_mode_fills_a_category_the_batch_lacks() -> None:
    out = (
        get_imputer("mean")
        .fit(pd.DataFrame({"kind": pd.Categorical(["x", "x", "y"])}))
        .transform(pd.DataFrame({"kind": pd.Categorical([None, "y"], categories=["y"])}))
    )
    assert out["kind"].tolist() == ["x", "y"]
    assert list(out["kind"].cat.categories) == ["y", "x"]


@pytest.mark.parametrize("name", IMPUTER_NAMES)
def test_an_infinity_is_a_data_error_naming_column_and_row(name: str) -> None:
    frame = _table()
    frame.index = [f"r{i}" for i in range(len(frame))]
    broken = frame.copy()
    broken.loc["r7", "size"] = -np.inf
    with pytest.raises(DataError, match=r"fit: column 'size' holds -inf at row 'r7'"):
        _imputer(name).fit(broken)  # type: ignore[attr-defined]
    imputer = _imputer(name).fit(frame)  # type: ignore[attr-defined]
    with pytest.raises(DataError, match=r"transform: column 'size' holds inf at row 'r0'"):
        imputer.transform(frame.assign(size=np.inf))


def test_infinities_in_nullable_floats_are_caught() -> None:
    frame = pd.DataFrame({"x": pd.array([1.0, None, np.inf], dtype="Float64")})
    with pytest.raises(DataError, match="column 'x' holds inf at row 2"):
        get_imputer("mean").fit(frame)


@pytest.mark.parametrize("name", IMPUTER_NAMES)
def test_a_batch_column_that_cannot_hold_its_values_is_a_data_error(name: str) -> None:
    imputer = _imputer(name).fit(_table())  # type: ignore[attr-defined]
    batch = _table().iloc[:4].assign(city=np.nan)  # an all-missing column read as floats
    with pytest.raises(DataError, match=r"transform: column 'city' has dtype float64"):
        imputer.transform(batch)
    words = _table().iloc[:4].assign(size=pd.array(["1.5", None, "big", "2"], dtype=object))
    with pytest.raises(DataError, match=r"'size' was numeric in fit but holds 'big' at row 2"):
        imputer.transform(words)


@pytest.mark.parametrize("name", IMPUTER_NAMES)
def test_a_single_row_table(name: str) -> None:
    frame = pd.DataFrame({"size": [1.5], "city": ["paris"]}, index=["only"])
    out = _imputer(name).fit_transform(frame)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(out, frame)


@pytest.mark.parametrize("name", IMPUTER_NAMES)
def test_column_parameters_of_the_wrong_kind_are_parameter_errors(name: str) -> None:
    table = _table()
    label = table.columns[0]
    imputer = _imputer(name)
    with pytest.raises(ParameterError, match=f"'columns' parameter .* Got {label!r} instead"):
        imputer.set_params(columns=label).fit(table)  # type: ignore[attr-defined]
    with pytest.raises(ParameterError, match="'column_types' parameter .* must be a mapping"):
        imputer.set_params(columns=None, column_types=[label]).fit(table)  # type: ignore[attr-defined]
