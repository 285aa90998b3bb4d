"""Detection on small hand-made tables: each detector and the detectors column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.cleaning import (
    Constraints,
    Dictionary,
    DomainRule,
    detect_errors,
    infer_source_column,
)
from gristmill.cleaning import _detect as detect_module
from gristmill.exceptions import ConstraintError, DataError


def cells(found: pd.DataFrame, detector: str | None = None) -> set[tuple[int, str]]:
    if detector is not None:
        found = found[found["detectors"].str.split(",").map(lambda d: detector in d)]
    return set(zip(found["row"], found["column"], strict=True))


def test_missing_and_placeholders() -> None:
    t = pd.DataFrame({"a": ["1", None, "N/A", "null ", "ok"], "b": ["x", "y", "z", "w", ""]})
    assert cells(detect_errors(t, outliers=False)) == {(1, "a"), (2, "a"), (3, "a"), (4, "b")}


def test_fd_violations_flag_the_rhs_of_conflicting_groups() -> None:
    t = pd.DataFrame({"zip": ["1", "1", "1", "2", "2"], "city": ["a", "a", "b", "c", "c"]})
    found = detect_errors(t, ["zip -> city"], outliers=False)
    assert cells(found) == {(0, "city"), (1, "city"), (2, "city")}
    assert set(found["detectors"]) == {"fd"}


def test_two_tuple_dc_joins_on_equality_across_attributes() -> None:
    t = pd.DataFrame({"dep": ["1", "2", "3"], "arr": ["2", "3", "4"], "gate": ["a", "b", "a"]})
    # Rows where one row's arr equals another's dep must share the gate: (0,1) differ, (1,2) differ.
    found = detect_errors(t, ["t1&t2&EQ(t1.arr,t2.dep)&IQ(t1.gate,t2.gate)"], outliers=False)
    assert cells(found, "dc") == {
        (0, "arr"),
        (0, "gate"),
        (1, "arr"),
        (1, "gate"),
        (1, "dep"),
        (2, "dep"),
        (2, "gate"),
    }


def test_order_predicates_compare_numbers() -> None:
    t = pd.DataFrame({"id": ["1", "1", "2"], "start": ["9", "10", "5"], "end": ["8", "20", "6"]})
    found = detect_errors(t, ["t1&LT(t1.end,t1.start)"], outliers=False)
    assert cells(found) == {(0, "end"), (0, "start")}
    pair = detect_errors(t, ["t1&t2&EQ(t1.id,t2.id)&GT(t1.start,t2.end)"], outliers=False)
    assert {r for r, _ in cells(pair)} == {0, 1}


@pytest.mark.parametrize(
    ("rule", "flagged"),
    [
        ('t1&GT(t1.lo,"5")', {6, 7}),
        ("t1&GT(t1.lo,t1.hi)", {6}),
        ('t1&t2&EQ(t1.k,t2.k)&LT(t1.lo,t2.hi)&GT(t1.lo,"5")', {6}),
        ('t1&LT(t1.hi,"b")', set()),
    ],
    ids=["constant", "one-tuple", "two-tuple", "text-constant"],
)
def test_order_predicates_on_numbers_mixed_with_text(rule: str, flagged: set[int]) -> None:
    # "lo" holds numbers and a few text cells (a typo, placeholders): the rule compares its
    # numbers; the text cells satisfy no order predicate.
    t = pd.DataFrame(
        {
            "lo": ["1", "2", "x", " 4", "", "N/A", "7", "9"],
            "hi": ["2", "3", "4", "5", "6", "7", "1", "10"],
            "k": ["a"] * 8,
        }
    )
    found = detect_errors(t, [rule], outliers=False)
    assert {r for r, c in cells(found, "dc") if c == "lo"} == flagged


@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_two_tuple_dc_compares_pairs_in_batches_like_every_pair(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A join group holding most rows has quadratically many pairs: they are compared a batch
    # at a time (bounded memory), with the rows flagged as when every pair is checked.
    monkeypatch.setattr(detect_module, "_PAIR_BATCH", batch)
    rng = np.random.default_rng(0)
    n = 40
    t = pd.DataFrame(
        {
            "state": rng.choice(["al", "al", "al", "ak", None], n),
            "other": rng.choice(["al", "ak", "az"], n),
            "score": [str(v) for v in rng.integers(0, 30, n)],
            "sample": rng.choice(["3", "10", "25", "x", None], n),
            "limit": [str(v) for v in rng.integers(0, 30, n)],
            "kind": rng.choice(["a", "b", "c"], n),
        }
    )
    rule = (
        "t1&t2&EQ(t1.state,t2.other)&LT(t1.score,t2.score)&GT(t1.sample,t2.limit)"
        '&GT(t1.kind,t2.kind)&IQ(t2.kind,"c")'
    )

    def number(text: object) -> float | None:
        # "sample" holds text and blanks; "limit" numbers: both are compared as numbers, and
        # a cell that is not one satisfies no order predicate. "kind" is compared as text.
        return float(text) if isinstance(text, str) and text.isdigit() else None

    as_t1, as_t2 = set(), set()
    for i in range(n):
        for j in range(n):
            a, b = t.iloc[i], t.iloc[j]
            s1, s2 = number(a["sample"]), number(b["limit"])
            if (
                i != j
                and a["state"] is not None
                and a["state"] == b["other"]
                and int(a["score"]) < int(b["score"])
                and s1 is not None
                and s2 is not None
                and s1 > s2
                and a["kind"] > b["kind"]
                and b["kind"] != "c"
            ):
                as_t1.add(i)
                as_t2.add(j)
    assert as_t1 and as_t2
    found = detect_errors(t, [rule], outliers=False)
    flagged = cells(found, "dc")
    assert {r for r, c in flagged if c == "state"} == as_t1
    assert {r for r, c in flagged if c == "other"} == as_t2
    assert {r for r, c in flagged if c == "kind"} == as_t1 | as_t2


def test_dc_without_equality_join_is_refused() -> None:
    t = pd.DataFrame({"a": ["1", "2"]})
    with pytest.raises(ConstraintError, match="never compares all pairs"):
        detect_errors(t, ["t1&t2&LT(t1.a,t2.a)"])


def test_domain_rules_and_dictionary() -> None:
    t = pd.DataFrame({"zip": ["1", "2", "3"], "city": ["a", "b", "c"], "score": ["5", "x", "500"]})
    rules = Constraints(
        domains=[
            DomainRule("score", type="float", max=100),
            DomainRule("city", allowed=("a", "b")),
        ],
        dictionaries=[Dictionary(pd.DataFrame({"zip": ["1", "2"], "city": ["a", "z"]}), ("zip",))],
    )
    found = detect_errors(t, rules, outliers=False)
    assert cells(found, "domain") == {(1, "score"), (2, "score"), (2, "city")}
    assert cells(found, "dictionary") == {(1, "city")}


@pytest.mark.parametrize("placeholders", [["N/A"], [" n/a "], "N/A"])
def test_placeholders_are_compared_lower_cased_and_stripped(placeholders: object) -> None:
    t = pd.DataFrame({"x": ["a", "n/A", "N/A ", "n", "na", None]})
    found = detect_errors(t, placeholders=placeholders, outliers=False)
    assert cells(found, "missing") == {(1, "x"), (2, "x"), (5, "x")}


def test_int_domain_rule_on_a_column_of_integers_with_text() -> None:
    t = pd.DataFrame({"n": ["1", "2", "N/A", "4", None, "x", "-3"]})
    rules = Constraints(domains=[DomainRule("n", type="int", min=0)])
    found = detect_errors(t, rules, outliers=False)
    assert cells(found, "domain") == {(2, "n"), (5, "n"), (6, "n")}


def test_outliers_rare_value_and_shape() -> None:
    rng = np.random.default_rng(0)
    state = rng.choice(["al", "ak", "az"], size=200).astype(object)
    state[17] = "a1"
    t = pd.DataFrame({"state": state})
    assert cells(detect_errors(t), "outlier") == {(17, "state")}


def test_source_conflicts_and_source_inference() -> None:
    t = pd.DataFrame(
        {
            "src": ["s1", "s2", "s3"] * 4,
            "flight": np.repeat(["f1", "f2", "f3", "f4"], 3),
            "time": ["1", "1", "2"] + ["3"] * 3 + ["4", "5", "4"] + ["6"] * 3,
        }
    )
    rules = Constraints.from_dict({"functional_dependencies": ["flight -> time"]})
    assert infer_source_column(t, rules) == "src"
    found = detect_errors(t, rules, source="src", outliers=False)
    assert cells(found, "source") == {
        (0, "time"),
        (1, "time"),
        (2, "time"),
        (6, "time"),
        (7, "time"),
        (8, "time"),
    }
    assert found["detectors"].iloc[0] == "fd,source"


def test_errors() -> None:
    with pytest.raises(DataError, match="empty"):
        detect_errors(pd.DataFrame({"a": []}))
    with pytest.raises(ConstraintError, match="unknown column"):
        detect_errors(pd.DataFrame({"a": ["1"]}), ["a -> b"])
    with pytest.raises(ConstraintError, match="source column"):
        detect_errors(pd.DataFrame({"a": ["1"]}), source="src")


def test_integer_column_labels_are_kept_and_rules_name_them_as_text() -> None:
    t = pd.DataFrame(
        {
            0: ["s1", "s2", "s3"] * 4,
            1: np.repeat(["f1", "f2", "f3", "f4"], 3),
            2: ["1", "1", "2"] + ["3"] * 3 + ["4", "5", "4"] + ["6"] * 3,
        }
    )
    rules = Constraints.from_dict({"functional_dependencies": ["1 -> 2"]})
    assert infer_source_column(t, rules) == 0
    found = detect_errors(t, rules, source=0, outliers=False)
    assert cells(found, "source") == {(r, 2) for r in (0, 1, 2, 6, 7, 8)}


def test_labels_that_read_the_same_as_text_are_a_data_error() -> None:
    with pytest.raises(DataError, match=r"column labels \[1, '1'\] differ but read the same"):
        detect_errors(pd.DataFrame({1: ["a"], "1": ["b"]}))


def _support_by_group_by(frame: pd.DataFrame, col: str, contexts: list[str]) -> np.ndarray:
    """The weak co-occurrence support of each cell, as pandas group-bys count it (the oracle)."""
    present = frame[col].notna().to_numpy()
    support = np.zeros(len(frame))
    for other in contexts:
        ok = present & frame[other].notna().to_numpy()
        sub = frame.loc[ok, [col, other]]
        both = sub.groupby([col, other], sort=False)[col].transform("size").to_numpy()
        ctx = sub.groupby(other, sort=False)[other].transform("size").to_numpy()
        support[ok] += (both - 1) / np.maximum(ctx - 1, 1)
    return support / len(contexts)


@pytest.mark.parametrize("distinct", [4, 900])  # counted by value, and by sorting
def test_weak_cooccurrence_flags_what_group_by_counts_give(distinct: int) -> None:
    from gristmill.cleaning._detect import _value_codes, _weak_cooccurrence

    rng = np.random.default_rng(distinct)
    n = 1_000
    base = rng.integers(0, distinct, n)
    frame = pd.DataFrame(
        {
            name: pd.Series((base * (j + 1) + (rng.random(n) < 0.02)).astype(str), dtype=object)
            for j, name in enumerate("abc")
        }
    )
    for name in frame:
        frame.loc[rng.random(n) < 0.1, name] = None
    codes = {name: _value_codes(frame[name]) for name in frame}
    for col in frame:
        contexts = [c for c in frame if c != col]
        support = _support_by_group_by(frame, col, contexts)
        present = frame[col].notna().to_numpy()
        expected = (
            np.flatnonzero(present & (support < 0.02))
            if np.median(support[present]) >= 0.3
            else np.zeros(0, dtype=np.int64)
        )
        np.testing.assert_array_equal(_weak_cooccurrence(codes, col, contexts), expected)
