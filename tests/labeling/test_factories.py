"""Factories: keyword, regex, threshold/range, lookup (dict and KB table), column and model LFs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from gristmill import LFError
from gristmill.labeling import (
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
        -1, -1, -1, -1, 2
    ]


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
        1, -1, 1, -1
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
        lf = keyword_lf(
            keyword, 1, case_sensitive=case_sensitive, word_boundary=word_boundary
        )
        fast, regex = lf(ascii_frame)[:-1], lf(mixed_frame)[:-1]
        np.testing.assert_array_equal(fast, regex, err_msg=keyword)
        assert (fast == 1).any(), keyword


def test_keyword_lf_does_not_match_across_rows() -> None:
    frame = pd.DataFrame({"text": ["check", "out now", "xcheck", "outx"]})
    assert keyword_lf("check out", 1, word_boundary=False)(frame).tolist() == [-1] * 4
