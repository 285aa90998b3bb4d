"""Factories: keyword, regex, threshold/range, lookup (dict and KB table), column and model LFs."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
from sklearn.linear_model import LogisticRegression

from gristmill import DataError, LFError
from gristmill.labeling import _factories as factories
from gristmill.labeling import (
    apply_lfs,
    column_lf,
    keyword_lf,
    lookup_lf,
    model_lf,
    regex_lf,
    threshold_lf,
)

TEXTS = pd.DataFrame(
    {
        "text": [
            "Check out my channel",
            "subscribed to you!",
            "I love this SONG",
            None,
            "checkout 10 songs",
            "ÜBER deals: SUBSCRIBE",
        ]
    }
)


def test_keyword_lf_word_boundary_and_case() -> None:
    lf = keyword_lf(["check out", "subscribe"], 1)
    assert lf.vectorized and lf.name == "keyword_check_out"
    assert lf(TEXTS).tolist() == [1, -1, -1, -1, -1, 1]
    assert keyword_lf("über", 1)(TEXTS).tolist() == [-1, -1, -1, -1, -1, 1]


def test_keyword_lf_substring_mode() -> None:
    lf = keyword_lf("subscribe", 1, word_boundary=False)
    assert lf(TEXTS).tolist() == [-1, 1, -1, -1, -1, 1]


def test_keyword_lf_case_sensitive() -> None:
    assert keyword_lf("song", 0, case_sensitive=True)(TEXTS).tolist() == [-1] * 6
    assert keyword_lf("SONG", 0, case_sensitive=True)(TEXTS).tolist() == [-1, -1, 0, -1, -1, -1]
    assert keyword_lf("song", 0)(TEXTS).tolist() == [-1, -1, 0, -1, -1, -1]


def test_keyword_lf_unicode_boundaries_and_punctuation() -> None:
    frame = pd.DataFrame({"text": ["see www.spam.com now", "wwwx", "café!", "cafés"]})
    assert keyword_lf("www.", 1)(frame).tolist() == [1, -1, -1, -1]
    assert keyword_lf("café", 1)(frame).tolist() == [-1, -1, 1, -1]


def test_keyword_lf_on_object_and_categorical_columns() -> None:
    frame = pd.DataFrame({"text": pd.Series(["buy now", 3, None], dtype=object)})
    assert keyword_lf("buy", 1)(frame).tolist() == [1, -1, -1]
    cats = pd.DataFrame({"text": pd.Categorical(["buy", "sell", "buy"])})
    assert keyword_lf("buy", 1)(cats).tolist() == [1, -1, 1]


def test_keyword_lf_errors() -> None:
    with pytest.raises(LFError, match="non-empty keyword"):
        keyword_lf([], 1)
    with pytest.raises(LFError, match="class index"):
        keyword_lf("a", -1)
    with pytest.raises(LFError, match="needs column 'body'"):
        keyword_lf("a", 1, column="body")(TEXTS)


def test_regex_lf_uses_python_re() -> None:
    lf = regex_lf(r"check\s*out", 1, case_sensitive=False)
    assert lf(TEXTS).tolist() == [1, -1, -1, -1, 1, -1]
    lookahead = regex_lf(r"song(?!s)", 0)
    assert lookahead(TEXTS).tolist() == [-1] * 6
    with pytest.raises(LFError, match="invalid pattern"):
        regex_lf("(", 1)


def test_threshold_and_range() -> None:
    frame = pd.DataFrame({"n": [1, 5, 10, None, 7]})
    assert threshold_lf("n", 1, lower=5)(frame).tolist() == [-1, 1, 1, -1, 1]
    assert threshold_lf("n", 0, upper=5, inclusive="neither")(frame).tolist() == [0, -1, -1, -1, -1]
    assert threshold_lf("n", 2, lower=5, upper=7)(frame).tolist() == [-1, 2, -1, -1, 2]
    assert threshold_lf("n", 2, lower=5, upper=7, inclusive="right")(frame).tolist() == [
        -1,
        -1,
        -1,
        -1,
        2,
    ]


def test_thresholds_on_one_column_get_distinct_names_telling_their_bounds() -> None:
    stars = pd.DataFrame({"stars": [1, 2, 3, 4, 5]})
    lfs = [
        threshold_lf("stars", 1, lower=4),
        threshold_lf("stars", 1, lower=4, inclusive="neither"),
        threshold_lf("stars", 0, upper=2),
        threshold_lf("stars", 0, upper=2, inclusive="left"),
        threshold_lf("stars", 2, lower=2.5, upper=3.5),
        threshold_lf("stars", 2, lower=-1, upper=3, inclusive="right"),
    ]
    assert [lf.name for lf in lfs] == [
        "threshold_stars_ge_4",
        "threshold_stars_gt_4",
        "threshold_stars_le_2",
        "threshold_stars_lt_2",
        "threshold_stars_ge_2.5_le_3.5",
        "threshold_stars_gt_-1_le_3",
    ]
    L = apply_lfs(lfs, stars, engine="pandas")
    assert list(L.lf_names) == [lf.name for lf in lfs]
    assert L.values[:, 0].tolist() == [-1, -1, -1, 1, 1]
    assert L.values[:, 3].tolist() == [0, -1, -1, -1, -1]
    # One bound given as int, float or numpy number is one threshold: one name.
    assert threshold_lf("x", 1, lower=np.float64(4.0)).name == "threshold_x_ge_4"
    assert threshold_lf("x", 1, lower=np.float32(0.1)).name == "threshold_x_ge_0.1"
    assert threshold_lf("Star Rating", 1, lower=4).name == "threshold_star_rating_ge_4"
    assert threshold_lf("x", 1, lower=3, name="mine").name == "mine"


def test_threshold_names_show_dates_and_durations() -> None:
    assert threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01")).name == (
        "threshold_posted_ge_2020-01-01"
    )
    assert threshold_lf("posted", 1, upper=datetime.date(2020, 1, 1)).name == (
        "threshold_posted_le_2020-01-01"
    )
    assert threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01 12:30")).name == (
        "threshold_posted_ge_2020-01-01T12:30:00"
    )
    assert threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01", tz="UTC")).name == (
        "threshold_posted_ge_2020-01-01+00:00"
    )
    wait = threshold_lf("wait", 1, lower=pd.Timedelta(0), upper=pd.Timedelta("1h30min"))
    assert wait.name == "threshold_wait_ge_0s_le_1h30min"
    assert threshold_lf("wait", 1, lower=np.timedelta64(-500, "ms")).name == (
        "threshold_wait_ge_-500ms"
    )


def test_threshold_errors() -> None:
    with pytest.raises(LFError, match="'lower', 'upper' or both"):
        threshold_lf("n", 1)
    with pytest.raises(LFError, match="exceeds"):
        threshold_lf("n", 1, lower=3, upper=1)
    with pytest.raises(LFError, match="inclusive"):
        threshold_lf("n", 1, lower=3, inclusive="open")
    with pytest.raises(LFError, match="not numeric"):
        threshold_lf("text", 1, lower=3)(TEXTS)


def test_lookup_dict_collection_and_case_folding() -> None:
    frame = pd.DataFrame({"author": ["Bot", "fan", "bot", None]})
    assert lookup_lf("author", {"Bot": 1, "fan": 0})(frame).tolist() == [1, 0, -1, -1]
    assert lookup_lf("author", ["bot"], label=1, case_sensitive=False)(frame).tolist() == [
        1,
        -1,
        1,
        -1,
    ]


def test_lookup_knowledge_base_table_with_class_names_and_pairs() -> None:
    kb = pd.DataFrame(
        {
            "person1": ["Ann", "Bob", "Cy"],
            "person2": ["Bob", "Ann", "Di"],
            "relation": ["spouse", "spouse", "not_spouse"],
        }
    )
    data = pd.DataFrame({"a": ["Ann", "Cy", "Ann"], "b": ["Bob", "Di", "Di"]})
    lf = lookup_lf(
        ["a", "b"],
        kb,
        key_column=["person1", "person2"],
        label_column="relation",
        classes=["not_spouse", "spouse"],
    )
    assert lf.name == "lookup_a_b"
    assert lf(data).tolist() == [1, 0, -1]


def test_lookup_errors() -> None:
    with pytest.raises(LFError, match="maps to two classes"):
        lookup_lf("a", pd.DataFrame({"a": ["x", "x"], "y": [0, 1]}), label_column="y")
    with pytest.raises(LFError, match="lacks column"):
        lookup_lf("a", pd.DataFrame({"k": ["x"], "y": [0]}), label_column="y")
    with pytest.raises(LFError, match="needs label="):
        lookup_lf("a", ["x"])
    with pytest.raises(LFError, match="not one of the classes"):
        lookup_lf("a", {"x": "spam"}, classes=["ham"])
    with pytest.raises(LFError, match="not a class index"):
        lookup_lf("a", {"x": "spam"})
    with pytest.raises(LFError, match="2 data column"):
        lookup_lf(["a", "b"], {("x", "y"): 1}, key_column="k")


def test_column_lf_with_and_without_mapping() -> None:
    frame = pd.DataFrame({"w1": ["spam", "ham", None, "??"], "w2": [1, None, 0, -1]})
    assert column_lf("w1", {"spam": 1, "ham": 0}).name == "column_w1"
    assert column_lf("w1", {"spam": 1, "ham": 0})(frame).tolist() == [1, 0, -1, -1]
    assert column_lf("w1", {"SPAM": 1}, case_sensitive=False)(frame).tolist() == [1, -1, -1, -1]
    assert column_lf("w2")(frame).tolist() == [1, -1, 0, -1]
    with pytest.raises(LFError, match="non-numeric labels"):
        column_lf("w1")(frame)
    with pytest.raises(LFError, match="non-integer"):
        column_lf("x")(pd.DataFrame({"x": [0.5]}))


def test_column_lf_mapping_errors_name_column_lf_and_the_value() -> None:
    message = (
        r"^column_lf 'column_w1', value 'spam': label 'SPAM' is not a class index "
        r"\(an int >= 0, or -1\); map each value to a class index$"
    )
    with pytest.raises(LFError, match=message) as info:
        column_lf("w1", {"spam": "SPAM"})  # type: ignore[dict-item]
    assert info.value.lf_name == "column_w1"
    message = r"^column_lf 'crowd', value 'Spam' maps to two classes \(1 and 0\)"
    with pytest.raises(LFError, match=message):
        column_lf("w1", {"spam": 1, "Spam": 0}, case_sensitive=False, name="crowd")


def test_model_lf_thresholds_confidence() -> None:
    x = np.array([[-3.0], [-2.0], [2.0], [3.0], [0.0], [-2.5], [2.5]])
    y = np.array([0, 0, 1, 1, 0, 0, 1])
    model = LogisticRegression().fit(pd.DataFrame({"score": x[:, 0]}), y)
    frame = pd.DataFrame({"score": [-5.0, 0.05, 5.0]})
    lf = model_lf(model, columns=["score"], threshold=0.9)
    assert lf.name == "model_logisticregression"
    assert lf(frame).tolist() == [0, -1, 1]
    loose = model_lf(model, columns=["score"], threshold=0.0, name="loose")
    assert -1 not in loose(frame).tolist()


def test_model_lf_with_named_classes_and_text_column() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    texts = ["buy now", "cheap buy", "lovely song", "great song"]
    model = make_pipeline(CountVectorizer(), MultinomialNB()).fit(
        texts, ["spam", "spam", "ham", "ham"]
    )
    lf = model_lf(model, columns="text", classes=["ham", "spam"], threshold=0.6)
    frame = pd.DataFrame({"text": ["buy buy buy", "song song", "zzz"]})
    assert lf(frame).tolist() == [1, 0, -1]
    # A list of one column passes a DataFrame, which the pipeline iterates as column names.
    as_frame = model_lf(model, columns=["text"], classes=["ham", "spam"])
    message = (
        r"predict_proba returned shape \(1, 2\); expected \(3, 2\); columns=\['text'\] passes "
        r"a DataFrame.*pass columns='text'"
    )
    with pytest.raises(LFError, match=message):
        as_frame(frame)


def test_model_lf_errors() -> None:
    with pytest.raises(LFError, match="not fitted"):
        model_lf(LogisticRegression(), columns=["a"])
    with pytest.raises(LFError, match="no predict_proba"):
        model_lf(object(), columns=["a"])
    model = LogisticRegression().fit([[0.0], [1.0]], ["a", "b"])
    with pytest.raises(LFError, match="classes=\\[...\\]"):
        model_lf(model, columns=["x"])
    with pytest.raises(LFError, match="threshold"):
        model_lf(model, columns=["x"], classes=["a", "b"], threshold=2)


@pytest.mark.parametrize("word_boundary", [True, False])
@pytest.mark.parametrize("case_sensitive", [True, False])
def test_keyword_lf_whole_column_search_equals_regex_search(
    word_boundary: bool, case_sensitive: bool
) -> None:
    # An all-ASCII column takes the byte-buffer search; one non-ASCII value sends the same rows
    # through the RE2 matcher instead. Both must vote identically on every row.
    rng = np.random.default_rng(7)
    alphabet = np.array(list("abAB _-.!x1"))
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 12))) for _ in range(3_000)]
    keywords = ["ab", "a b", "b!", "x", "_a", "ab ab", "bb"]
    texts[: 4 + len(keywords)] = ["ab", "b ab", "xa", "b!", *keywords]  # row edges, exact rows
    ascii_frame = pd.DataFrame({"text": texts + [None]})
    mixed_frame = pd.DataFrame({"text": texts + ["é"]})
    for keyword in keywords:
        lf = keyword_lf(keyword, 1, case_sensitive=case_sensitive, word_boundary=word_boundary)
        fast, regex = lf(ascii_frame)[:-1], lf(mixed_frame)[:-1]
        np.testing.assert_array_equal(fast, regex, err_msg=keyword)
        assert (fast == 1).any(), keyword


class _BoundaryRowCounter:
    """pyarrow.compute, counting the rows given to word-boundary patterns (those with \\pL)."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(pc, name)

    def match_substring_regex(self, text: object, pattern: str, **options: object) -> object:
        if r"\pL" in pattern:
            self.rows.append(len(text))  # type: ignore[arg-type]
        return pc.match_substring_regex(text, pattern, **options)


def test_keyword_lf_checks_word_boundaries_only_on_rows_holding_a_keyword(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Non-ASCII text goes through RE2, where the Unicode word-boundary pattern costs several
    # times the bare keyword search: on 100,000s of rows only the rows holding a keyword pay it.
    texts = ["très bon clip", "j'adore", None, "gagnez de l'argent", "moneyé", "Money: 5€"] * 500
    frame = pd.DataFrame({"text": texts})
    counter = _BoundaryRowCounter()
    monkeypatch.setattr(factories, "pc", counter)
    votes = keyword_lf(["money", "argent"], 1)(frame)
    assert votes.tolist() == [-1, -1, -1, 1, -1, 1] * 500
    assert sum(counter.rows) == 3 * 500  # the rows holding "money" or "argent"


def test_keyword_lf_does_not_match_across_rows() -> None:
    frame = pd.DataFrame({"text": ["check", "out now", "xcheck", "outx"]})
    assert keyword_lf("check out", 1, word_boundary=False)(frame).tolist() == [-1] * 4


DATES = pd.DataFrame(
    {
        "posted": pd.to_datetime(["2019-06-30", "2020-01-01", "2021-03-04", None]),
        "wait": pd.to_timedelta(["30min", "2h", "5h", None]),
    }
)


def test_threshold_on_datetime_and_timedelta_columns() -> None:
    since_2020 = threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01"))
    assert since_2020(DATES).tolist() == [-1, 1, 1, -1]
    before_2020 = threshold_lf("posted", 0, upper=datetime.date(2020, 1, 1), inclusive="neither")
    assert before_2020(DATES).tolist() == [0, -1, -1, -1]
    in_2020 = threshold_lf(
        "posted", 2, lower=np.datetime64("2020-01-01"), upper=pd.Timestamp("2020-12-31")
    )
    assert in_2020(DATES).tolist() == [-1, 2, -1, -1]
    slow = threshold_lf("wait", 1, lower=pd.Timedelta("1h"))
    assert slow(DATES).tolist() == [-1, 1, 1, -1]
    assert threshold_lf("wait", 0, upper=datetime.timedelta(hours=2))(DATES).tolist() == [
        0,
        0,
        -1,
        -1,
    ]
    assert threshold_lf("wait", 0, upper=np.timedelta64(2, "h"))(DATES).tolist() == [0, 0, -1, -1]
    utc = DATES.assign(posted=DATES["posted"].dt.tz_localize("UTC"))
    since_utc = threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01", tz="UTC"))
    assert since_utc(utc).tolist() == [-1, 1, 1, -1]


@pytest.mark.parametrize(
    ("column", "bounds", "message"),
    [
        ("posted", {"lower": 2020}, "dtype datetime64.*lower=2020.*pd.Timestamp or pd.Timedelta"),
        ("wait", {"upper": 3600}, "dtype timedelta64.*upper=3600"),
        ("n", {"lower": pd.Timestamp("2020-01-01")}, "dtype int64.*pd.to_datetime"),
        ("posted", {"lower": pd.Timedelta("1h")}, "dtype datetime64.*need a timedelta64"),
    ],
)
def test_threshold_bound_of_another_kind_than_the_column(
    column: str, bounds: dict[str, object], message: str
) -> None:
    lf = threshold_lf(column, 1, name="when", **bounds)  # type: ignore[arg-type]
    with pytest.raises(LFError, match=f"threshold_lf 'when': column '{column}' has {message}"):
        lf(DATES.assign(n=[1, 2, 3, 4]))


def test_threshold_tz_mismatch_is_an_lf_error() -> None:
    utc = DATES.assign(posted=DATES["posted"].dt.tz_localize("UTC"))
    lf = threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01"), name="when")
    with pytest.raises(LFError, match="'when': cannot compare column 'posted'"):
        lf(utc)


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"lower": "2"}, "'lower' must be a number.*got '2' of type str; parse it first"),
        ({"upper": pd.NA}, "'upper' must be a number.*got <NA>"),
        ({"lower": float("nan")}, "'lower' must be a number.*not missing"),
        ({"lower": pd.NaT}, "'lower' must be a number"),
        ({"lower": True}, "got True of type bool"),
        ({"lower": 1, "upper": pd.Timestamp("2020")}, "must be of the same kind"),
        ({"lower": pd.Timestamp("2021"), "upper": pd.Timestamp("2020")}, "exceeds"),
        (
            {"lower": pd.Timestamp("2020"), "upper": pd.Timestamp("2021", tz="UTC")},
            "cannot compare lower",
        ),
    ],
)
def test_threshold_rejects_bad_bounds_up_front(bounds: dict[str, object], message: str) -> None:
    with pytest.raises(LFError, match=message):
        threshold_lf("posted", 1, **bounds)  # type: ignore[arg-type]


def test_lookup_table_with_gaps_in_its_label_column() -> None:
    data = pd.DataFrame({"name": ["ann", "cy", "bob", "zed"]})
    floats = pd.DataFrame({"name": ["ann", "bob", "cy"], "cls": [1, 0, None]})
    assert floats["cls"].dtype == float
    assert lookup_lf("name", floats, label_column="cls")(data).tolist() == [1, -1, 0, -1]
    nullable = floats.astype({"cls": "Int64"})
    assert lookup_lf("name", nullable, label_column="cls")(data).tolist() == [1, -1, 0, -1]
    names = pd.DataFrame({"name": ["ann", "bob", "cy"], "cls": ["spam", None, "ham"]})
    lf = lookup_lf("name", names, label_column="cls", classes=["ham", "spam"])
    assert lf(data).tolist() == [1, 0, -1, -1]


def test_lookup_skips_missing_keys() -> None:
    table = pd.DataFrame({"name": ["ann", None], "cls": [1, 0]})
    data = pd.DataFrame({"name": ["ann", None, np.nan]})
    assert lookup_lf("name", table, label_column="cls")(data).tolist() == [1, -1, -1]


@pytest.mark.parametrize(
    ("label", "message", "hints_classes"),
    [
        (0.5, "'lookup_name', key 'bob': label 0.5 is not a class index \\(an int from 0", False),
        (-2, "'lookup_name', key 'bob': label -2 is not a class index", False),
        ("spam", "'lookup_name', key 'bob': label 'spam' is not a class index", True),
    ],
)
def test_lookup_bad_label_names_the_key(label: object, message: str, hints_classes: bool) -> None:
    table = pd.DataFrame({"name": ["ann", "bob"], "cls": pd.Series([1, label], dtype=object)})
    with pytest.raises(LFError, match=message) as info:
        lookup_lf("name", table, label_column="cls")
    assert ("pass classes=[...]" in str(info.value)) is hints_classes


def test_lookup_single_string_is_one_key() -> None:
    frame = pd.DataFrame({"author": ["Bob", "B", "o", "bob"]})
    assert lookup_lf("author", "Bob", label=1)(frame).tolist() == [1, -1, -1, -1]
    assert lookup_lf("author", "Bob", label=1, case_sensitive=False)(frame).tolist() == [
        1,
        -1,
        -1,
        1,
    ]


def test_model_lf_abstains_on_missing_inputs() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    texts = ["buy now", "cheap buy", "lovely song", "great song"]
    model = make_pipeline(CountVectorizer(), MultinomialNB()).fit(texts, [1, 1, 0, 0])
    lf = model_lf(model, columns="text", threshold=0.6)
    for column in (
        pd.Series(["buy buy", None, "song song", np.nan], dtype=object),
        pd.Series(["buy buy", None, "song song", None], dtype="string"),
    ):
        assert lf(pd.DataFrame({"text": column})).tolist() == [1, -1, 0, -1]
    assert lf(pd.DataFrame({"text": [None, None]})).tolist() == [-1, -1]

    numeric = LogisticRegression().fit(pd.DataFrame({"a": [-3.0, 3.0], "b": [0.0, 0.0]}), [0, 1])
    two_columns = model_lf(numeric, columns=["a", "b"], threshold=0.0)
    frame = pd.DataFrame({"a": [-3.0, 3.0, None, 3.0], "b": [0.0, 0.0, 0.0, pd.NA]})
    assert two_columns(frame).tolist() == [0, 1, -1, -1]


def test_model_lf_accepts_whole_float_classes() -> None:
    model = LogisticRegression().fit(pd.DataFrame({"x": [-3.0, 3.0]}), [0.0, 1.0])
    assert model_lf(model, columns=["x"])(pd.DataFrame({"x": [-5.0, 5.0]})).tolist() == [0, 1]


def test_factories_take_int_column_names() -> None:
    frame = pd.DataFrame({0: ["buy now", "hi", None], 1: [5, 1, None], 2: [1, 0, None]})
    assert threshold_lf(1, 1, lower=3).name == "threshold_1_ge_3"
    assert threshold_lf(1, 1, lower=3)(frame).tolist() == [1, -1, -1]
    assert column_lf(2).name == "column_2"
    assert column_lf(2)(frame).tolist() == [1, 0, -1]
    assert lookup_lf(0, {"hi": 0}).name == "lookup_0"
    assert lookup_lf(0, {"hi": 0})(frame).tolist() == [-1, 0, -1]
    kb = pd.DataFrame({0: ["hi"], 1: [1]})
    assert lookup_lf(0, kb, label_column=1)(frame).tolist() == [-1, 1, -1]
    assert keyword_lf("buy", 1, column=0)(frame).tolist() == [1, -1, -1]
    # Row LFs see column names as strings, so the string finds the int-named column too.
    assert keyword_lf("buy", 1, column="0")(frame).tolist() == [1, -1, -1]
    assert regex_lf("^h", 0, column="0")(frame).tolist() == [-1, 0, -1]


def test_missing_int_column_message_shows_names_as_they_are() -> None:
    with pytest.raises(LFError, match=r"needs column '3'; the data has \[0, 1\]"):
        keyword_lf("a", 1, column="3")(pd.DataFrame({0: ["a"], 1: ["b"]}))


def test_duplicate_column_is_a_data_error() -> None:
    frame = pd.DataFrame([["buy", "sell"]], columns=["text", "text"])
    with pytest.raises(DataError, match="'keyword_buy': the data has 2 columns named 'text'"):
        keyword_lf("buy", 1)(frame)


def test_regex_lf_searches_non_strings_like_keyword_lf() -> None:
    frame = pd.DataFrame(
        {"text": pd.Series([10001, "10001-1234", 1.5, True, None, np.nan, "x"], dtype=object)}
    )
    for word, pattern in [("10001", "10001"), ("1.5", r"1\.5"), ("True", "True")]:
        from_regex = regex_lf(pattern, 1)(frame).tolist()
        assert from_regex == keyword_lf(word, 1, word_boundary=False)(frame).tolist()
        assert from_regex.count(1) >= 1
    assert regex_lf(r"^100\d1$", 1)(frame).tolist() == [1, -1, -1, -1, -1, -1, -1]
    typed = pd.DataFrame({"text": [10001.0, None, 3.5]})
    assert regex_lf(r"\.0$", 1)(typed).tolist() == [1, -1, -1]
    assert keyword_lf(".0", 1, word_boundary=False)(typed).tolist() == [1, -1, -1]


def test_column_lf_names_the_row_with_a_fractional_vote() -> None:
    frame = pd.DataFrame({"c": [1, 0.5, 2.5]}, index=["x", "y", "z"])
    with pytest.raises(
        LFError, match="column_lf 'column_c': column 'c' must hold class indices.*0.5 on row 'y'"
    ) as info:
        column_lf("c")(frame)
    assert (info.value.lf_name, info.value.row) == ("column_c", "y")


@pytest.mark.parametrize(
    ("table", "options"),
    [
        (
            {"a": 1, "b": 0, None: 1, "c": None, "d": np.nan, "e": pd.NA, 3: 2, 4.0: 1},
            {},
        ),
        ({"f": 1.0, "g": np.int64(2), "i": -1, pd.NaT: 0, 7: -1}, {}),
        (
            {"a": "spam", "b": "ham", "c": np.nan, 5: "other", 6: "ham"},
            {"classes": ["ham", "spam", "other"]},
        ),
        ({"a": 1, "b": 1.0, "c": True}, {"classes": [True, 1, 0]}),  # the first equal class
        ({"a": "X", "B": "y", "c": [1]}, {"classes": ["y", "X", [1]], "case_sensitive": False}),
    ],
)
def test_lookup_tables_built_without_checks_per_key_equal_the_checked_ones(
    monkeypatch, table, options
) -> None:
    # Keys and labels that need no check skip them (a 1M-key table took 13 s to build).
    fast = lookup_lf("k", table, **options).f
    monkeypatch.setattr(factories, "_listed_class_index", lambda *args: None)
    monkeypatch.setattr(
        factories, "_is_missing", lambda v: bool(pd.api.types.is_scalar(v) and pd.isna(v))
    )
    checked = lookup_lf("k", table, **options).f
    assert list(fast.keys) == list(checked.keys)
    np.testing.assert_array_equal(fast.labels, checked.labels)
    assert fast.labels.dtype == checked.labels.dtype
