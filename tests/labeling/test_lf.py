"""Labeling functions and preprocessors: the decorator, both kinds, pre and resources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gristmill
from gristmill import ABSTAIN, LabelingFunction, LFError, labeling_function, preprocessor
from gristmill.labeling import Row


def test_row_lf_decorator_defaults_and_call() -> None:
    @labeling_function()
    def mentions_link(x):
        return 1 if "http" in x.text else ABSTAIN

    assert isinstance(mentions_link, LabelingFunction)
    assert mentions_link.name == "mentions_link"
    assert mentions_link.vectorized is False
    assert mentions_link({"text": "see http://a"}) == 1
    assert mentions_link(pd.Series({"text": "nice"})) == ABSTAIN


def test_name_and_resources_are_passed() -> None:
    @labeling_function(name="kb", resources={"spammers": {"bot1"}})
    def known_spammer(x, spammers):
        return 1 if x.author in spammers else -1

    assert known_spammer.name == "kb"
    assert known_spammer({"author": "bot1"}) == 1
    assert known_spammer({"author": "fan"}) == -1


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ([("spammers", {"bot1"})], r"resources must be a dict of keyword arguments.*got list"),
        ({"spammers", "bot1"}, "got set"),
        ({1: "bot1"}, "their keys must be parameter names; got 1"),
        ({"spam list": []}, "got 'spam list'"),
    ],
)
def test_resources_must_be_keyword_arguments(resources: object, message: str) -> None:
    with pytest.raises(LFError, match=f"^Labeling function 'kb': .*{message}") as info:
        labeling_function(name="kb", resources=resources)(lambda x, **kw: -1)  # type: ignore
    assert info.value.lf_name == "kb"
    with pytest.raises(LFError, match=f"^Preprocessor 'words': .*{message}"):
        preprocessor(name="words", resources=resources)(lambda x, **kw: {})  # type: ignore


def test_vectorized_lf_returns_compact_array() -> None:
    @labeling_function(vectorized=True)
    def long_text(frame):
        return np.where(frame["text"].str.len() > 3, 0, -1)

    votes = long_text(pd.DataFrame({"text": ["ab", "abcdef"]}))
    assert votes.tolist() == [-1, 0]
    assert votes.dtype == np.int8


def test_preprocessor_fields_are_visible_and_input_unchanged() -> None:
    @preprocessor()
    def words(x):
        return {"n_words": len(x.text.split())}

    @labeling_function(pre=[words])
    def short(x):
        return 0 if x.n_words < 3 else -1

    row = Row(text="so good")
    assert short(row) == 0
    assert "n_words" not in row
    assert words(row)["n_words"] == 2


def test_snorkel_style_preprocessor_returning_the_row() -> None:
    @preprocessor()
    def lower(x):
        x.low = x.text.lower()
        return x

    @labeling_function(pre=[lower])
    def shouts_buy(x):
        return 1 if "buy" in x.low else -1

    assert shouts_buy({"text": "BUY NOW"}) == 1


def test_vectorized_preprocessor() -> None:
    @preprocessor(vectorized=True)
    def lengths(frame):
        return {"length": frame["text"].str.len()}

    @labeling_function(vectorized=True, pre=[lengths])
    def long_text(frame):
        return np.where(frame["length"] > 4, 1, -1)

    frame = pd.DataFrame({"text": ["abc", "abcdefg"]})
    assert long_text(frame).tolist() == [-1, 1]
    assert "length" not in frame.columns


def test_preprocessor_kind_must_match() -> None:
    @preprocessor(vectorized=True)
    def frame_pre(frame):
        return {}

    with pytest.raises(LFError, match="must be row too"):
        labeling_function(pre=[frame_pre])(lambda x: -1)
    with pytest.raises(LFError, match="Preprocessor objects"):
        labeling_function(pre=[lambda x: x])(lambda x: -1)


def test_bad_preprocessor_result() -> None:
    @preprocessor()
    def broken(x):
        return 3

    @labeling_function(pre=[broken])
    def uses_it(x):
        return -1

    with pytest.raises(LFError, match="'broken' must return a mapping"):
        uses_it({"text": "a"})


@pytest.mark.parametrize("bad", [None, "1", 1.5, True, -2])
def test_invalid_row_votes_are_rejected(bad: object) -> None:
    lf = LabelingFunction("bad_vote", lambda x: bad)
    with pytest.raises(LFError, match="'bad_vote'"):
        lf({"a": 1})


def test_a_row_lf_returning_none_is_asked_about_its_missing_return() -> None:
    @labeling_function()
    def says_buy(x):
        if "buy" in x.text:
            return 1

    frame = pd.DataFrame({"text": ["buy now", "nice song"]}, index=["a", "b"])
    message = (
        r"^Labeling function 'says_buy' failed on row 'b': .*it returned None of type NoneType: "
        r"does every path end in `return ABSTAIN` or a class\?$"
    )
    with pytest.raises(LFError, match=message) as info:
        gristmill.apply_lfs([says_buy], frame)
    assert (info.value.lf_name, info.value.row) == ("says_buy", "b")


def test_numpy_integer_votes_are_accepted() -> None:
    lf = LabelingFunction("np_vote", lambda x: np.int64(2))
    assert lf({"a": 1}) == 2


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ([1], "shape \\(2,\\)"),
        ([True, False], "dtype bool"),
        ([0.5, 1.0], "non-integer vote 0.5 on row 0"),
        ([1.0, np.nan], "returned a missing vote \\(NaN\\) on row 1; abstain with -1"),
        ([-3, 0], "vote -3 on row 0; votes must be -1 \\(abstain\\) or a class index"),
        (["a", "b"], "dtype"),
    ],
)
def test_invalid_vectorized_votes_are_rejected(votes: list[object], message: str) -> None:
    lf = LabelingFunction("vec", lambda frame: np.array(votes), vectorized=True)
    with pytest.raises(LFError, match=message):
        lf(pd.DataFrame({"a": [1, 2]}))


def test_a_nullable_series_with_a_missing_vote_is_named_missing() -> None:
    lf = LabelingFunction(
        "vec",
        lambda frame: pd.Series([1, pd.NA], dtype="Int64", index=frame.index),
        vectorized=True,
    )
    with pytest.raises(LFError, match="'vec' returned a missing vote \\(NaN\\) on row 'y'"):
        lf(pd.DataFrame({"a": [1, 2]}, index=["x", "y"]))


def test_vectorized_lf_needs_a_frame() -> None:
    lf = LabelingFunction("vec", lambda frame: frame, vectorized=True)
    with pytest.raises(LFError, match="takes a DataFrame"):
        lf({"a": 1})


def test_decorator_needs_parentheses_and_callables() -> None:
    with pytest.raises(LFError, match="parentheses"):
        labeling_function(lambda x: -1)  # type: ignore[arg-type]
    with pytest.raises(LFError, match="needs a callable"):
        LabelingFunction("x", 3)  # type: ignore[arg-type]


def test_row_attribute_errors_name_the_columns() -> None:
    with pytest.raises(AttributeError, match="no column 'txt'.*'text'"):
        Row(text="a").txt  # noqa: B018


def test_top_level_reexports() -> None:
    assert gristmill.labeling_function is labeling_function
    assert gristmill.ABSTAIN == -1


def _buy_votes_in_another_order(frame: pd.DataFrame) -> pd.Series:
    """Votes as a Series whose rows come in another order than the frame's (hits first)."""
    buys = frame["text"].str.contains("buy")
    hits, rest = frame[buys].assign(v=1), frame[~buys].assign(v=-1)
    return pd.concat([hits, rest])["v"]


def test_vectorized_series_votes_are_matched_to_rows_by_label() -> None:
    lf = LabelingFunction("buy", _buy_votes_in_another_order, vectorized=True)
    frame = pd.DataFrame(
        {"text": ["buy now", "nice song", "buy cheap", "hello"]}, index=list("abcd")
    )
    assert lf(frame).tolist() == [1, -1, 1, -1]
    L = gristmill.apply_lfs([lf], frame)
    assert L.to_frame()["buy"].to_dict() == {"a": 1, "b": -1, "c": 1, "d": -1}


@pytest.mark.parametrize(
    "votes",
    [
        pd.Series([1, -1]),  # a fresh RangeIndex, not the frame's labels
        pd.Series([1, -1], index=["x", "x"]),
        pd.Series([1, -1, 0], index=["x", "y", "z"]),
    ],
)
def test_vectorized_series_with_other_labels_is_rejected(votes: pd.Series) -> None:
    lf = LabelingFunction("misaligned", lambda frame: votes, vectorized=True)
    frame = pd.DataFrame({"a": [1, 2]}, index=["x", "y"])
    with pytest.raises(LFError, match="'misaligned' returned a pandas Series whose index") as info:
        lf(frame)
    assert info.value.lf_name == "misaligned"


def test_vectorized_preprocessor_series_are_matched_to_rows_by_label() -> None:
    @preprocessor(vectorized=True)
    def descending(frame):
        return {"desc": frame["n"].sort_values(ascending=False)}

    @preprocessor(vectorized=True)
    def reversed_frame(frame):
        return frame[["n"]].rename(columns={"n": "rev"}).iloc[::-1]

    @labeling_function(vectorized=True, pre=[descending, reversed_frame])
    def same(frame):
        return np.where((frame["desc"] == frame["n"]) & (frame["rev"] == frame["n"]), 1, 0)

    frame = pd.DataFrame({"n": [1, 2, 3]}, index=list("xyz"))
    assert same(frame).tolist() == [1, 1, 1]


def test_vectorized_preprocessor_series_with_other_labels_is_rejected() -> None:
    @preprocessor(vectorized=True)
    def fresh_index(frame):
        return {"copy": pd.Series(frame["n"].to_numpy())}

    @labeling_function(vectorized=True, pre=[fresh_index])
    def uses_it(frame):
        return np.zeros(len(frame), dtype=int)

    with pytest.raises(LFError, match="preprocessor 'fresh_index' \\(column 'copy'\\) returned"):
        uses_it(pd.DataFrame({"n": [1, 2]}, index=["x", "y"]))


@pytest.mark.parametrize("column", ["items", "keys", "values", "get", "copy", "pop", "update"])
def test_row_attribute_gives_a_column_named_like_a_dict_method(column: str) -> None:
    @labeling_function()
    def positive(x):
        return 1 if x[column] > 0 and getattr(x, column) > 0 else -1

    frame = pd.DataFrame({column: [0, 5, 0], "other": [1, 1, 1]})
    assert gristmill.apply_lfs([positive], frame).values.ravel().tolist() == [-1, 1, -1]


def test_row_keeps_dict_methods_for_other_names_and_preprocessors_merge() -> None:
    @preprocessor()
    def more(x):
        return {"extra": x.update * 2}

    @labeling_function(pre=[more])
    def uses_update_column(x):
        return 1 if x.extra == 4 and x.update == 2 else -1

    assert uses_update_column(Row(update=2)) == 1
    row = Row(text="a")
    assert row.get("text") == "a" and list(row.items()) == [("text", "a")]
    assert dict.get(Row(get=7), "get") == 7


def test_row_lf_vote_too_large_names_lf_and_row() -> None:
    huge = labeling_function(name="huge")(lambda x: 2**70 if x.n == 2 else -1)
    frame = pd.DataFrame({"n": [1, 2]}, index=["p", "q"])
    message = "'huge' failed on row 'q'.*returned 1180591620717411303424; votes must be -1"
    with pytest.raises(LFError, match=message) as info:
        gristmill.apply_lfs([huge], frame)
    assert (info.value.lf_name, info.value.row) == ("huge", "q")


def test_vectorized_vote_too_large_names_the_row() -> None:
    lf = LabelingFunction(
        "wide", lambda frame: np.array([0, 2**64 - 1], dtype=np.uint64), vectorized=True
    )
    with pytest.raises(LFError, match="'wide' returned vote 18446744073709551615 on row 'q'"):
        lf(pd.DataFrame({"n": [1, 2]}, index=["p", "q"]))


def test_vote_above_what_a_label_matrix_holds_is_the_lfs_error() -> None:
    # A label matrix holds classes up to 2**31 - 1: a larger vote is the LF's fault, named
    # with its row (and abstained with on_error="abstain"), not a DataError from the matrix.
    frame = pd.DataFrame({"n": [1, 2]}, index=["p", "q"])
    row_lf = labeling_function(name="row_id")(lambda x: 2**40 if x.n == 2 else -1)
    with pytest.raises(LFError, match="'row_id' failed on row 'q'.*0 to 2147483647") as info:
        gristmill.apply_lfs([row_lf], frame)
    assert (info.value.lf_name, info.value.row) == ("row_id", "q")
    with pytest.warns(gristmill.LFFailureWarning):
        matrix = gristmill.apply_lfs([row_lf], frame, on_error="abstain")
    assert matrix.values.tolist() == [[-1], [-1]]
    assert matrix.failures == {"row_id": 1}
    vectorized = LabelingFunction("ids", lambda frame: np.array([0, 2**40]), vectorized=True)
    with pytest.raises(LFError, match="'ids' returned vote 1099511627776 on row 'q'"):
        gristmill.apply_lfs([vectorized], frame)
    with pytest.raises(LFError, match="'label' must be a class index"):
        gristmill.keyword_lf("x", 2**40)


def test_a_multiindex_row_is_named_by_python_values() -> None:
    frame = pd.DataFrame(
        {"text": ["a", None]}, index=pd.MultiIndex.from_tuples([("d", 1), ("d", 2)])
    )
    failing = labeling_function(name="length")(lambda x: len(x.text))
    with pytest.raises(LFError, match=r"'length' failed on row \('d', 2\): TypeError"):
        gristmill.apply_lfs([failing], frame)
