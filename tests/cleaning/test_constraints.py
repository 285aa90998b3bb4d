"""Parsing constraints: every operator, FDs, YAML, and errors that quote the line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gristmill.cleaning import (
    Constraints,
    FunctionalDependency,
    Predicate,
    parse_constraints,
    read_constraints,
)
from gristmill.exceptions import ConstraintError, DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cleaning"


@pytest.mark.parametrize("op", ["EQ", "IQ", "LT", "GT", "LTE", "GTE"])
def test_every_operator_parses(op: str) -> None:
    c = parse_constraints(f"t1&t2&EQ(t1.a,t2.a)&{op}(t1.b,t2.b)")
    (dc,) = c.denial_constraints
    assert dc.n_tuples == 2
    assert dc.predicates[1] == Predicate(op, (1, "b"), (2, "b"))


def test_fd_shaped_dc_becomes_fd_and_others_do_not() -> None:
    c = parse_constraints(
        "t1&t2&EQ(t1.a,t2.a)&EQ(t1.c,t2.c)&IQ(t1.b,t2.b)\n"
        "t1&t2&EQ(t1.a,t2.a)&LT(t1.b,t2.b)\n"
        "t1&t2&EQ(t1.a,t2.b)&IQ(t1.c,t2.c)\n"
    )
    assert c.all_fds() == [FunctionalDependency(("a", "c"), "b")]
    assert len(c.other_dcs()) == 2


def test_single_tuple_with_quoted_constants() -> None:
    c = parse_constraints('t1&EQ(t1.Sex,"female")&EQ(t1.Relationship,"husband, or wife")')
    (dc,) = c.denial_constraints
    assert dc.n_tuples == 1
    assert dc.predicates[0].right == "female"
    assert dc.predicates[1].right == "husband, or wife"


def test_fd_lines_with_both_arrows_comments_and_blanks() -> None:
    c = parse_constraints("# zip rules\n\nZip -> City, State\nA, B ⇒ C\n")
    assert [str(fd) for fd in c.all_fds()] == ["Zip -> City", "Zip -> State", "A, B -> C"]


def test_hospital_constraint_file() -> None:
    c = read_constraints(FIXTURES / "hospital_constraints.txt")
    assert len(c.denial_constraints) == 15
    assert FunctionalDependency(("ZipCode",), "EmergencyService") in c.all_fds()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("t1&t2&XX(t1.a,t2.a)", "unknown operator 'XX'"),
        ("t1&t2&EQ(t1.a)", "exactly two operands"),
        ("t1&t2&EQ(t1.a,t3.a)", "t3"),
        ("t1&EQ(a,t1.b)", "cannot parse operand"),
        ("zip city", "cannot parse 'zip city'"),
        ("t1&t2", "no predicates"),
        ("-> b", "both sides"),
    ],
)
def test_malformed_lines_quote_the_line_number(text: str, fragment: str) -> None:
    with pytest.raises(ConstraintError) as info:
        parse_constraints(f"# header\n{text}", source_name="rules.txt")
    assert "rules.txt:2" in str(info.value)
    assert fragment in str(info.value)


def test_unknown_column_is_a_constraint_error() -> None:
    c = parse_constraints("t1&t2&EQ(t1.zip,t2.zip)&IQ(t1.town,t2.town)")
    with pytest.raises(ConstraintError, match=r"unknown column\(s\) \['town'\]"):
        c.check_columns(["zip", "city"])
    assert issubclass(ConstraintError, DataError)


def test_yaml_declaration(tmp_path: Path) -> None:
    ref = tmp_path / "zips.csv"
    ref.write_text("zip,city\n1,a\n")
    path = tmp_path / "rules.yaml"
    path.write_text(
        "functional_dependencies: ['zip -> city']\n"
        "denial_constraints: ['t1&GT(t1.score,\"100\")']\n"
        "domains:\n  state: {regex: '[a-z]{2}', allowed: [al, ak]}\n"
        "  score: {type: float, min: 0}\n"
        "dictionaries:\n  - {path: zips.csv, keys: [zip]}\n"
        "source: src\n"
    )
    c = read_constraints(path)
    assert c.source == "src"
    assert [d.column for d in c.domains] == ["state", "score"]
    assert c.domains[0].allowed == ("al", "ak")
    assert c.dictionaries[0].keys == ("zip",)
    assert c.columns() == {"zip", "city", "score", "state", "src"}


def test_python_declaration_and_bad_sections() -> None:
    c = Constraints.from_dict(
        {"functional_dependencies": ["a -> b"], "domains": {"b": {"type": "int"}}}
    )
    assert c.all_fds() == [FunctionalDependency(("a",), "b")]
    with pytest.raises(ConstraintError, match="unknown constraint section"):
        Constraints.from_dict({"rules": []})
    with pytest.raises(ConstraintError, match="type must be one of"):
        Constraints.from_dict({"domains": {"b": {"type": "complex"}}})
    with pytest.raises(ConstraintError, match="bad regex"):
        Constraints.from_dict({"domains": {"b": {"regex": "("}}})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConstraintError, match="no such constraint file"):
        read_constraints(tmp_path / "nope.txt")
    bad = tmp_path / "r.yml"
    bad.write_text("functional_dependencies: [a -> b\n")
    with pytest.raises(ConstraintError, match="invalid YAML"):
        read_constraints(bad)


def test_dictionary_needs_its_keys() -> None:
    from gristmill.cleaning import Dictionary

    with pytest.raises(ConstraintError, match="key column"):
        Dictionary(pd.DataFrame({"zip": ["1"]}), ("postcode",))
