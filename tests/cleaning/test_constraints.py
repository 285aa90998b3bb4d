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
        ("zip, city -> zip", "states nothing"),
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


def test_dictionary_takes_a_single_key_name() -> None:
    from gristmill.cleaning import Dictionary

    dictionary = Dictionary(pd.DataFrame({"zip": ["1"], "city": ["a"]}), "zip")
    assert dictionary.keys == ("zip",) and dictionary.value_columns() == ["city"]


def _yaml_error(tmp_path: Path, text: str) -> str:
    """The ConstraintError message for a YAML constraint file beside a zips.csv reference."""
    (tmp_path / "zips.csv").write_text("zip,city\n1,a\n")
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConstraintError) as info:
        read_constraints(path)
    message = str(info.value)
    assert str(path) in message
    return message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("domains: [Score]\n", "domains must be a mapping of column -> rule; got ['Score']"),
        ("denial_constraints: 5\n", "denial_constraints must be a list of strings; got 5"),
        ("functional_dependencies: 5\n", "functional_dependencies must be a list of strings"),
        ("functional_dependencies: [a -> b, 5]\n", "functional_dependencies[2] must be a string"),
        ("denial_constraints: [{t1: x}]\n", "denial_constraints[1] must be a string"),
        ("domains: {Score: {allowed: 5}}\n", "'Score': allowed must be a list of values; got 5"),
        ("domains: {Score: {allowed: 'a, b'}}\n", "'Score': allowed must be a list of values"),
        ("domains: {Score: {allowed: [a, [b]]}}\n", "'Score': allowed[2] must be a value"),
        ("domains: {Flag: {allowed: [yes, no]}}\n", "'Flag': allowed[1] is the boolean True"),
        ("domains: {Score: {min: abc}}\n", "'Score': min must be a number; got 'abc'"),
        ("domains: {Score: {max: [1]}}\n", "'Score': max must be a number"),
        ("domains: {Score: {min: .nan}}\n", "'Score': min must be a number"),
        ("domains: {Score: {min: 10, max: 0}}\n", "'Score': min 10 is greater than max 0"),
        ("domains: {Score: {regex: 5}}\n", "'Score': regex must be a string"),
        ("domains: {Score: {1: a, x: b}}\n", "'Score': unknown key(s) ['1', 'x']"),
        ("domains: {~: {min: 0}}\n", "domains key must be a column name; got None"),
        ("1: a\nrules: b\n", "unknown constraint section(s) ['1', 'rules']"),
        ("source: [a, b]\n", "source must be a column name; got ['a', 'b']"),
        ("dictionaries: 5\n", "dictionaries must be a list of mappings; got 5"),
        ("dictionaries: [zips.csv]\n", "dictionaries[1] must be a mapping; got 'zips.csv'"),
        ("dictionaries: [{path: 5, keys: [zip]}]\n", "dictionaries[1]: path must be a file path"),
        ("dictionaries: [{path: zips.csv, keys: []}]\n", "dictionaries[1]: keys must name"),
        ("dictionaries: [{path: zips.csv, keys: [[zip]]}]\n", "dictionaries[1]: keys[1] must be"),
        ("dictionaries: [{path: zips.csv, key: zip}]\n", "dictionaries[1]: unknown key(s) ['key']"),
        ("dictionaries: [{path: zips.csv}]\n", "dictionaries[1]: a dictionary needs 'path' and"),
        ("- a\n- b\n", "got ['a', 'b'] (list)"),
        ("just words\n", "got 'just words' (str)"),
        ("false\n", "got False (bool)"),
    ],
)
def test_yaml_entries_of_the_wrong_shape_name_the_file_and_entry(
    tmp_path: Path, text: str, fragment: str
) -> None:
    assert fragment in _yaml_error(tmp_path, text)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("{path: nope.csv, keys: zip}", "nope.csv: no such file"),
        ("{path: zips.csv, keys: 5}", "zips.csv: key column(s) ['5'] not in the reference table"),
    ],
)
def test_dictionary_table_errors_name_the_constraint_file_entry_and_table(
    tmp_path: Path, entry: str, fragment: str
) -> None:
    message = _yaml_error(tmp_path, f"dictionaries: [{entry}]\n")
    assert "rules.yaml: dictionaries[1]: " in message
    assert fragment in message


def test_single_entries_stand_for_one_item_lists(tmp_path: Path) -> None:
    (tmp_path / "zips.csv").write_text("zip,city\n1,a\n")
    path = tmp_path / "rules.yml"
    path.write_text(
        "functional_dependencies: 'zip -> city'\n"
        "denial_constraints: 't1&GT(t1.score,\"100\")'\n"
        "dictionaries: {path: zips.csv, keys: zip}\n"
        "domains: {score: {min: 1e3}}\n"
    )
    c = read_constraints(path)
    assert c.functional_dependencies == [FunctionalDependency(("zip",), "city")]
    assert [dc.text for dc in c.denial_constraints] == ['t1&GT(t1.score,"100")']
    assert c.dictionaries[0].keys == ("zip",)
    assert c.domains[0].min == 1000.0


@pytest.mark.parametrize("name", ["rules.yaml", "rules.txt"])
def test_empty_file_declares_no_constraints(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("# nothing yet\n")
    assert read_constraints(path) == Constraints()


def test_text_file_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.txt"
    path.write_bytes('zip -> city\nt1&EQ(t1.city,"Montr\xe9al")\n'.encode("latin-1"))
    with pytest.raises(ConstraintError, match="not UTF-8") as info:
        read_constraints(path)
    assert f"{path}:2:" in str(info.value)
    assert "0xe9" in str(info.value)


def test_utf8_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rules.txt"
    path.write_bytes("t1&t2&EQ(t1.zip,t2.zip)&IQ(t1.city,t2.city)\n".encode("utf-8-sig"))
    assert read_constraints(path).all_fds() == [FunctionalDependency(("zip",), "city")]


def test_directory_is_not_reported_missing(tmp_path: Path) -> None:
    with pytest.raises(ConstraintError) as info:
        read_constraints(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a constraint file"


def test_domain_rule_rejects_non_number_bounds_in_python() -> None:
    from gristmill.cleaning import DomainRule

    with pytest.raises(ConstraintError, match="domain rule for 'Score': min must be a number"):
        DomainRule("Score", min="abc")  # type: ignore[arg-type]
    with pytest.raises(ConstraintError, match="'Score': allowed must be a list of strings"):
        DomainRule("Score", allowed=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("constraints", "fragment"),
    [
        (5, "constraints must be a Constraints, a file path, a mapping or a list of lines"),
        (["zip -> city", 5], "constraints[2] must be a string"),
        ({"domains": ["zip"]}, "domains must be a mapping"),
    ],
)
def test_detect_errors_rejects_malformed_constraints(constraints: object, fragment: str) -> None:
    from gristmill.cleaning import detect_errors

    frame = pd.DataFrame({"zip": ["1", "1"], "city": ["a", "b"]})
    with pytest.raises(ConstraintError) as info:
        detect_errors(frame, constraints)  # type: ignore[arg-type]
    assert fragment in str(info.value)
