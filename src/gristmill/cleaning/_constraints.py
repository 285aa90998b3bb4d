"""Integrity constraints for data repair: denial constraints, FDs, domain rules, dictionaries.

The text format is HoloClean's, one constraint per line (``#`` comments and blank lines skipped):

- denial constraints ``t1&t2&EQ(t1.ZipCode,t2.ZipCode)&IQ(t1.City,t2.City)`` with the operators
  EQ, IQ, LT, GT, LTE, GTE, one or two tuples, and constants in double quotes;
- functional dependencies ``ZipCode -> City, State`` (``⇒`` works too).

Domain rules and dictionaries are declared in YAML (or the equivalent Python dict)::

    denial_constraints: ["t1&t2&EQ(t1.Zip,t2.Zip)&IQ(t1.City,t2.City)"]
    functional_dependencies: ["Zip -> State"]
    domains:
      State: {regex: "[a-z]{2}"}
      Score: {type: float, min: 0, max: 100}
      Emergency: {allowed: ["yes", "no"]}
    dictionaries:
      - {path: zips.csv, keys: [Zip]}
    source: src

Each list section (``denial_constraints``, ``functional_dependencies``, ``dictionaries``) also
takes a single entry in place of a one-item list: ``functional_dependencies: "Zip -> State"`` is
one dependency. ``allowed`` must be a list, because YAML reads ``allowed: yes, no`` as the single
string ``"yes, no"``. Column names are strings (or integers, taken as strings).
"""

from __future__ import annotations

import codecs
import math
import os
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd

from gristmill.exceptions import ConstraintError, DataError

__all__ = [
    "OPERATORS",
    "Constraints",
    "DenialConstraint",
    "Dictionary",
    "DomainRule",
    "FunctionalDependency",
    "Predicate",
    "parse_constraints",
    "read_constraints",
]

#: Operator name -> the comparison it denotes.
OPERATORS: dict[str, str] = {
    "EQ": "==",
    "IQ": "!=",
    "LT": "<",
    "GT": ">",
    "LTE": "<=",
    "GTE": ">=",
}

_TUPLE_RE = re.compile(r"^t(\d+)$")
_PREDICATE_RE = re.compile(r"^([A-Z]+)\((.*)\)$", re.DOTALL)
_OPERAND_RE = re.compile(r"^t(\d+)\.(.+)$")
_FD_ARROW_RE = re.compile(r"->|⇒|=>")
_TYPES = ("int", "float", "str", "date")
_SECTIONS = ("denial_constraints", "functional_dependencies", "domains", "dictionaries", "source")
_DOMAIN_KEYS = ("regex", "allowed", "min", "max", "type")
_DICTIONARY_KEYS = ("path", "keys")


@dataclass(frozen=True)
class Predicate:
    """One comparison of a denial constraint.

    Parameters
    ----------
    op : str
        One of :data:`OPERATORS` (``EQ``, ``IQ``, ``LT``, ``GT``, ``LTE``, ``GTE``).
    left : tuple of (int, str)
        ``(tuple number, column)``; tuple numbers start at 1.
    right : tuple of (int, str) or str
        Another ``(tuple number, column)`` or a constant string.
    """

    op: str
    left: tuple[int, str]
    right: tuple[int, str] | str

    @property
    def has_constant(self) -> bool:
        """Whether the right side is a constant."""
        return isinstance(self.right, str)

    def columns(self) -> set[str]:
        """Columns the predicate reads."""
        cols = {self.left[1]}
        if not isinstance(self.right, str):
            cols.add(self.right[1])
        return cols


@dataclass(frozen=True)
class FunctionalDependency:
    """``lhs -> rhs``: rows that agree on every ``lhs`` column agree on ``rhs``."""

    lhs: tuple[str, ...]
    rhs: str

    def __str__(self) -> str:
        return f"{', '.join(self.lhs)} -> {self.rhs}"


@dataclass(frozen=True)
class DenialConstraint:
    """A conjunction of predicates that no tuple (or pair of tuples) may satisfy together.

    Parameters
    ----------
    predicates : tuple of Predicate
    n_tuples : int
        1 for single-tuple constraints, 2 for pairwise ones.
    text : str
        The constraint as written, for messages.
    """

    predicates: tuple[Predicate, ...]
    n_tuples: int
    text: str = ""

    def columns(self) -> set[str]:
        """Columns the constraint reads."""
        return set().union(*(p.columns() for p in self.predicates))

    def as_fd(self) -> FunctionalDependency | None:
        """The functional dependency this constraint states, or None.

        A two-tuple constraint whose predicates are ``EQ(t1.A,t2.A)`` for each LHS column and
        exactly one ``IQ(t1.B,t2.B)`` is the FD ``A -> B``.
        """
        if self.n_tuples != 2:
            return None
        lhs: list[str] = []
        rhs: list[str] = []
        for p in self.predicates:
            if p.has_constant or p.left[1] != p.right[1] or p.left[0] == p.right[0]:  # type: ignore[index]
                return None
            if p.op == "EQ":
                lhs.append(p.left[1])
            elif p.op == "IQ":
                rhs.append(p.left[1])
            else:
                return None
        if len(rhs) != 1 or not lhs or rhs[0] in lhs:
            return None
        return FunctionalDependency(tuple(lhs), rhs[0])


@dataclass(frozen=True)
class DomainRule:
    """What values one column may hold; ``None`` fields are not checked.

    Parameters
    ----------
    column : str
    regex : str, optional
        The whole value must match.
    allowed : tuple of str, optional
        The only values allowed.
    min, max : float, optional
        Numeric range (inclusive); values that are not numbers violate it.
    type : {"int", "float", "str", "date"}, optional
        Values must parse as this type.

    Raises
    ------
    ConstraintError
        When a field has the wrong type, the regex does not compile or ``min > max``.
    """

    column: str
    regex: str | None = None
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        what = f"domain rule for {self.column!r}"
        if self.type is not None and self.type not in _TYPES:
            raise ConstraintError(f"{what}: type must be one of {_TYPES}; got {self.type!r}")
        if self.allowed is not None and not (
            isinstance(self.allowed, (tuple, list))
            and all(isinstance(v, str) for v in self.allowed)
        ):
            raise ConstraintError(
                f"{what}: allowed must be a list of strings; got {_describe(self.allowed)}"
            )
        for key in ("min", "max"):
            bound = getattr(self, key)
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, Real) or math.isnan(bound)
            ):
                raise ConstraintError(f"{what}: {key} must be a number; got {_describe(bound)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ConstraintError(
                f"{what}: min {self.min} is greater than max {self.max}, so no value can satisfy it"
            )
        if self.regex is not None:
            if not isinstance(self.regex, str):
                raise ConstraintError(
                    f"{what}: regex must be a string (quote it in YAML); "
                    f"got {_describe(self.regex)}"
                )
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ConstraintError(f"{what}: bad regex {self.regex!r}: {exc}") from None


@dataclass(frozen=True)
class Dictionary:
    """An external reference table matched on key columns (e.g. zip -> city, state).

    Parameters
    ----------
    table : pandas.DataFrame
        Reference rows; values are compared as strings.
    keys : tuple of str, or str
        Columns matched against the data (a single name is one key column); every other
        column the data shares is checked.
    name : str
        For messages and detector names.
    """

    table: pd.DataFrame
    keys: tuple[str, ...]
    name: str = "dictionary"

    def __post_init__(self) -> None:
        if isinstance(self.keys, str):  # a tuple of its characters is never what is meant
            object.__setattr__(self, "keys", (self.keys,))
        missing = [k for k in self.keys if k not in self.table.columns]
        if missing:
            raise ConstraintError(
                f"{self.name}: key column(s) {missing} not in the reference table "
                f"(it has {list(self.table.columns)})"
            )

    def value_columns(self) -> list[str]:
        """Reference columns other than the keys."""
        return [c for c in self.table.columns if c not in self.keys]

    def lookup(self) -> pd.DataFrame:
        """The reference table as strings, one row per key (first wins)."""
        table = self.table.astype("string")
        return table.drop_duplicates(list(self.keys), keep="first")


@dataclass
class Constraints:
    """Every rule the repair may use. All fields are optional.

    Parameters
    ----------
    denial_constraints : list of DenialConstraint
    functional_dependencies : list of FunctionalDependency
        Including those stated by FD-shaped denial constraints (see :meth:`all_fds`).
    domains : list of DomainRule
    dictionaries : list of Dictionary
    source : str, optional
        Column naming the data source of each row, for source reliability.
    """

    denial_constraints: list[DenialConstraint] = field(default_factory=list)
    functional_dependencies: list[FunctionalDependency] = field(default_factory=list)
    domains: list[DomainRule] = field(default_factory=list)
    dictionaries: list[Dictionary] = field(default_factory=list)
    source: str | None = None

    def all_fds(self) -> list[FunctionalDependency]:
        """FDs declared directly plus those stated by denial constraints, without repeats."""
        fds = list(self.functional_dependencies)
        fds += [fd for dc in self.denial_constraints if (fd := dc.as_fd()) is not None]
        return list(dict.fromkeys(fds))

    def other_dcs(self) -> list[DenialConstraint]:
        """Denial constraints that are not plain FDs."""
        return [dc for dc in self.denial_constraints if dc.as_fd() is None]

    def columns(self) -> set[str]:
        """Every data column a rule names."""
        cols: set[str] = set()
        for dc in self.denial_constraints:
            cols |= dc.columns()
        for fd in self.functional_dependencies:
            cols |= {*fd.lhs, fd.rhs}
        cols |= {d.column for d in self.domains}
        for dictionary in self.dictionaries:
            cols |= set(dictionary.keys)
        if self.source is not None:
            cols.add(self.source)
        return cols

    def check_columns(self, columns: Iterable[str], *, where: str = "the data") -> None:
        """Raise ConstraintError naming every rule column missing from ``columns``."""
        have = set(columns)
        for dc in self.denial_constraints:
            _check(dc.columns(), have, f"constraint {dc.text!r}", where)
        for fd in self.functional_dependencies:
            _check({*fd.lhs, fd.rhs}, have, f"dependency '{fd}'", where)
        for rule in self.domains:
            _check({rule.column}, have, f"domain rule for {rule.column!r}", where)
        for dictionary in self.dictionaries:
            _check(set(dictionary.keys), have, f"{dictionary.name} keys", where)
        if self.source is not None:
            _check({self.source}, have, "source", where)

    @classmethod
    def from_dict(
        cls, spec: Mapping[str, Any], *, base_dir: str | os.PathLike[str] = "."
    ) -> Constraints:
        """Build constraints from the YAML structure shown in the module docstring.

        Parameters
        ----------
        spec : mapping
            Sections ``denial_constraints``, ``functional_dependencies``, ``domains``,
            ``dictionaries`` and ``source``; all optional.
        base_dir : path-like, default "."
            Directory that relative dictionary paths are resolved against.

        Returns
        -------
        Constraints

        Raises
        ------
        ConstraintError
            Naming the section and entry at fault: an unknown section or key, a value of the
            wrong type, a rule that does not parse or a dictionary that cannot be read.
        """
        if not isinstance(spec, Mapping):
            raise ConstraintError(
                f"expected a mapping of constraint sections {list(_SECTIONS)}; "
                f"got {_describe(spec)}"
            )
        _reject_unknown(spec, _SECTIONS, "unknown constraint section(s)")
        source = spec.get("source")
        out = cls(source=None if source is None else _column_name(source, "source"))
        for where, text in _entries(spec, "denial_constraints", str, "string"):
            out.denial_constraints.append(_parse_dc(text, where))
        for where, text in _entries(spec, "functional_dependencies", str, "string"):
            out.functional_dependencies += _parse_fd(text, where)
        domains = spec.get("domains")
        if domains is not None and not isinstance(domains, Mapping):
            raise ConstraintError(
                f"domains must be a mapping of column -> rule; got {_describe(domains)}"
            )
        for column, rule in (domains or {}).items():
            out.domains.append(_parse_domain(column, rule))
        for where, entry in _entries(spec, "dictionaries", Mapping, "mapping"):
            out.dictionaries.append(_load_dictionary(entry, Path(base_dir), where))
        return out

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Constraints:
        """Read a constraint file: ``.yaml``/``.yml`` as YAML, anything else as text lines."""
        return read_constraints(path)


def _check(cols: set[str], have: set[str], what: str, where: str) -> None:
    missing = sorted(cols - have)
    if missing:
        raise ConstraintError(
            f"{what} names unknown column(s) {missing}; {where} has {sorted(have)}"
        )


def _describe(value: object) -> str:
    """A short repr of a user's value and its type, for messages."""
    return f"{reprlib.repr(value)} ({type(value).__name__})"


def _reject_unknown(mapping: Mapping[Any, Any], known: Sequence[str], what: str) -> None:
    # YAML keys need not be strings, so compare and sort them as strings.
    unknown = sorted(str(key) for key in mapping if key not in known)
    if unknown:
        raise ConstraintError(f"{what} {unknown}; expected {sorted(known)}")


def _entries(
    spec: Mapping[str, Any], section: str, entry_type: type, noun: str
) -> list[tuple[str, Any]]:
    """``(where, entry)`` for each entry of a list section; a single entry is a one-item list."""
    value = spec.get(section)
    if value is None:
        return []
    if isinstance(value, entry_type):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConstraintError(f"{section} must be a list of {noun}s; got {_describe(value)}")
    entries = [(f"{section}[{i}]", entry) for i, entry in enumerate(value, start=1)]
    for where, entry in entries:
        if not isinstance(entry, entry_type):
            raise ConstraintError(f"{where} must be a {noun}; got {_describe(entry)}")
    return entries


def _column_name(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConstraintError(f"{where} must be a column name; got {_describe(value)}")
    return str(value)


def _yaml_number(value: Any) -> Any:
    """``value`` as a float when it is a numeric string (YAML 1.1 reads ``1e3`` as a string)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _allowed_values(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConstraintError(f"{what}: allowed must be a list of values; got {_describe(value)}")
    for i, item in enumerate(value, start=1):
        if isinstance(item, bool):
            raise ConstraintError(
                f"{what}: allowed[{i}] is the boolean {item}; YAML reads unquoted yes/no, "
                "true/false and on/off as booleans, so quote the value"
            )
        if not isinstance(item, (str, int, float, date)):
            raise ConstraintError(f"{what}: allowed[{i}] must be a value; got {_describe(item)}")
    return tuple(str(item) for item in value)


def _parse_domain(column: Any, rule: Any) -> DomainRule:
    name = _column_name(column, "domains key")
    what = f"domain rule for {name!r}"
    if not isinstance(rule, Mapping):
        raise ConstraintError(f"{what} must be a mapping; got {_describe(rule)}")
    _reject_unknown(rule, _DOMAIN_KEYS, f"{what}: unknown key(s)")
    allowed = rule.get("allowed")
    return DomainRule(
        column=name,
        regex=rule.get("regex"),
        allowed=None if allowed is None else _allowed_values(allowed, what),
        min=_yaml_number(rule.get("min")),
        max=_yaml_number(rule.get("max")),
        type=rule.get("type"),
    )


def _load_dictionary(entry: Mapping[str, Any], base_dir: Path, where: str) -> Dictionary:
    from gristmill.io import read_table

    _reject_unknown(entry, _DICTIONARY_KEYS, f"{where}: unknown key(s)")
    missing = [key for key in _DICTIONARY_KEYS if key not in entry]
    if missing:
        raise ConstraintError(f"{where}: a dictionary needs 'path' and 'keys'; missing {missing}")
    if not isinstance(entry["path"], (str, os.PathLike)):
        raise ConstraintError(f"{where}: path must be a file path; got {_describe(entry['path'])}")
    path = base_dir / entry["path"]
    keys = entry["keys"]
    if not isinstance(keys, (list, tuple)):
        keys = [keys]
    if not keys:
        raise ConstraintError(f"{where}: keys must name at least one column")
    names = tuple(_column_name(key, f"{where}: keys[{i}]") for i, key in enumerate(keys, start=1))
    try:
        return Dictionary(read_table(path, as_strings=True), names, name=str(path))
    except DataError as exc:
        raise ConstraintError(f"{where}: {exc}") from None


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and parentheses."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_operand(text: str, where: str) -> tuple[int, str] | str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    match = _OPERAND_RE.match(text)
    if not match:
        raise ConstraintError(
            f'{where}: cannot parse operand {text!r}; expected t1.Column or a "quoted" constant'
        )
    return int(match.group(1)), match.group(2).strip()


def _parse_dc(line: str, where: str) -> DenialConstraint:
    parts = [p.strip() for p in _split_top_level(line.strip(), "&")]
    tuples = [p for p in parts if _TUPLE_RE.match(p)]
    if not tuples:
        raise ConstraintError(f"{where}: cannot parse {line!r}: it must start with t1 (and t2)")
    n_tuples = len(tuples)
    if n_tuples > 2 or sorted(int(t[1:]) for t in tuples) != list(range(1, n_tuples + 1)):
        raise ConstraintError(f"{where}: cannot parse {line!r}: only t1 or t1&t2 are supported")
    predicates = []
    for part in parts:
        if _TUPLE_RE.match(part):
            continue
        match = _PREDICATE_RE.match(part)
        if not match:
            raise ConstraintError(f"{where}: cannot parse predicate {part!r} in {line!r}")
        op = match.group(1)
        if op not in OPERATORS:
            raise ConstraintError(
                f"{where}: unknown operator {op!r} in {line!r}; expected one of {sorted(OPERATORS)}"
            )
        operands = _split_top_level(match.group(2), ",")
        if len(operands) != 2:
            raise ConstraintError(f"{where}: predicate {part!r} needs exactly two operands")
        left, right = (_parse_operand(o, where) for o in operands)
        if isinstance(left, str):
            left, right = right, left
        if isinstance(left, str):
            raise ConstraintError(f"{where}: predicate {part!r} compares two constants")
        for operand in (left, right):
            if not isinstance(operand, str) and operand[0] > n_tuples:
                raise ConstraintError(
                    f"{where}: predicate {part!r} names t{operand[0]}, not declared"
                )
        predicates.append(Predicate(op, left, right))
    if not predicates:
        raise ConstraintError(f"{where}: constraint {line!r} has no predicates")
    return DenialConstraint(tuple(predicates), n_tuples, line.strip())


def _parse_fd(line: str, where: str) -> list[FunctionalDependency]:
    sides = _FD_ARROW_RE.split(line)
    if len(sides) != 2:
        raise ConstraintError(f"{where}: cannot parse dependency {line!r}; expected 'A, B -> C'")
    lhs = tuple(c.strip() for c in sides[0].split(",") if c.strip())
    rhs = [c.strip() for c in sides[1].split(",") if c.strip()]
    if not lhs or not rhs:
        raise ConstraintError(f"{where}: dependency {line!r} needs columns on both sides")
    fds = [FunctionalDependency(lhs, r) for r in rhs if r not in lhs]
    if not fds:
        raise ConstraintError(
            f"{where}: dependency {line!r} states nothing: every column on its right-hand side "
            "is on its left-hand side"
        )
    return fds


def parse_constraints(text: str, *, source_name: str = "<constraints>") -> Constraints:
    """Parse constraint lines (denial constraints and FDs).

    Parameters
    ----------
    text : str
        One constraint per line; ``#`` comments and blank lines are skipped.
    source_name : str
        Named in error messages with the line number.

    Returns
    -------
    Constraints

    Raises
    ------
    ConstraintError
        Quoting the line number and text of the first line that cannot be parsed.

    Examples
    --------
    >>> c = parse_constraints("t1&t2&EQ(t1.zip,t2.zip)&IQ(t1.city,t2.city)\\nzip -> state")
    >>> [str(fd) for fd in c.all_fds()]
    ['zip -> state', 'zip -> city']
    """
    out = Constraints()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source_name}:{number}"
        if _TUPLE_RE.match(line.split("&", 1)[0].strip()):
            out.denial_constraints.append(_parse_dc(line, where))
        elif _FD_ARROW_RE.search(line):
            out.functional_dependencies += _parse_fd(line, where)
        else:
            raise ConstraintError(
                f"{where}: cannot parse {line!r}; expected a denial constraint (t1&t2&EQ(...)) "
                "or a dependency (A -> B)"
            )
    return out


def read_constraints(path: str | os.PathLike[str]) -> Constraints:
    """Read constraints from a text file (HoloClean format / FD lines) or YAML.

    ``.yaml``/``.yml`` files are read as YAML, anything else as constraint lines. Files must be
    UTF-8 (a byte-order mark is allowed). An empty file declares no constraints.

    Parameters
    ----------
    path : path-like
        The constraint file.

    Returns
    -------
    Constraints

    Raises
    ------
    ConstraintError
        Naming the file (and the line, section or entry at fault) when it is missing, a
        directory, unreadable, not UTF-8, not valid YAML, or a line or entry cannot be parsed.
    """
    path = Path(path)
    text = _read_text(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        return parse_constraints(text, source_name=str(path))
    import yaml

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConstraintError(f"{path}: invalid YAML: {exc}") from None
    try:
        return Constraints.from_dict({} if spec is None else spec, base_dir=path.parent)
    except ConstraintError as exc:
        raise ConstraintError(f"{path}: {exc}") from None


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ConstraintError(f"{path}: is a directory, not a constraint file")
    if not path.exists():
        raise ConstraintError(f"{path}: no such constraint file")
    if not path.is_file():
        raise ConstraintError(f"{path}: not a regular file")
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    except OSError as exc:
        raise ConstraintError(f"{path}: cannot read the constraint file: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConstraintError(
            f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8"
        ) from None


def as_constraints(
    constraints: Constraints | str | os.PathLike[str] | Mapping[str, Any] | Sequence[str] | None,
) -> Constraints:
    """Coerce what users pass (a Constraints, a path, a dict, a list of lines, None)."""
    if constraints is None:
        return Constraints()
    if isinstance(constraints, Constraints):
        return constraints
    if isinstance(constraints, Mapping):
        return Constraints.from_dict(constraints)
    if isinstance(constraints, (str, os.PathLike)):
        return read_constraints(constraints)
    if not isinstance(constraints, Sequence):
        raise ConstraintError(
            "constraints must be a Constraints, a file path, a mapping or a list of lines; "
            f"got {_describe(constraints)}"
        )
    for i, line in enumerate(constraints, start=1):
        if not isinstance(line, str):
            raise ConstraintError(f"constraints[{i}] must be a string; got {_describe(line)}")
    return parse_constraints("\n".join(constraints))
