"""Learning value transformations from a handful of corrected tuples.

From pairs ``(dirty value, corrected value)`` of the example rows this learns, per column,

- value maps (``"N/A" -> ""``) for exact dirty values seen corrected;
- affix deletions: a corrected value that is the dirty one minus a literal prefix or suffix
  (``"12.0 oz" -> "12"`` teaches "delete the suffix ``.0 oz``");
- format extraction: the character-class shapes of the corrected values (``9:40 a.m.`` has the
  shape ``d:d a.a.``); a value not of that shape holding a substring that is gets that substring;
- swapped fields: a corrected value that is the dirty one with its number fields permuted
  (``13/03/2020 -> 03/13/2020``) teaches that permutation for values of that layout. It is
  applied only where a field exceeds the largest number the corrected values hold at its
  position and the permuted value does not (13 in a month position), since a swap that fits
  both readings (03/11 and 11/03) cannot be told from the value alone;
- mojibake: a corrected value that is the dirty one re-encoded (UTF-8 text decoded as latin-1 or
  cp1252, ``CafÃ©`` for ``Café``) teaches that repair for every column, since a wrong decoding
  hits the whole file. It applies only to values that re-encode to valid, different UTF-8.

Each transformation is scored on every example cell it applies to (also the ones that needed no
correction, so a transformation that would damage clean cells loses confidence). Applied
table-wide they propose candidates with that confidence; the repair model weighs them against
the other signals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError

__all__ = ["ExampleTransforms", "read_examples"]


def _shape(value: str) -> str:
    """A regex for the character-class shape of ``value``: digit and letter runs generalised."""
    parts = []
    for run in re.findall(r"\d+|[^\W\d_]+|\s+|.", value):
        if run[0].isdigit():
            parts.append(r"\d+")
        elif run[0].isalpha():
            parts.append(r"[^\W\d_]+")
        elif run[0].isspace():
            parts.append(r"\s+")
        else:
            parts.append(re.escape(run))
    return "".join(parts)


#: Wrong decodings of UTF-8 bytes a mojibake repair undoes, most common first.
_ENCODINGS = ("cp1252", "latin-1")
_FIELDS = re.compile(r"(\d+)")


def _reencode(value: str, encoding: str) -> str | None:
    """``value`` re-read as the UTF-8 it was wrongly decoded from (None if it was not)."""
    try:
        fixed = value.encode(encoding).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return fixed if fixed != value else None


def _permutation(old: str, new: str) -> tuple[str, tuple[int, ...]] | None:
    """The layout regex and field order when ``new`` is ``old`` with number fields permuted."""
    old_parts, new_parts = _FIELDS.split(old), _FIELDS.split(new)
    if len(old_parts) != len(new_parts) or old_parts[::2] != new_parts[::2]:
        return None
    old_fields, new_fields = old_parts[1::2], new_parts[1::2]
    if len(old_fields) < 2 or old_fields == new_fields or sorted(old_fields) != sorted(new_fields):
        return None
    free = list(range(len(old_fields)))
    order = []
    for field in new_fields:
        i = next(k for k in free if old_fields[k] == field)
        free.remove(i)
        order.append(i)
    layout = r"(\d+)".join(re.escape(sep) for sep in old_parts[::2])
    return layout, tuple(order)


@dataclass(frozen=True)
class _Transform:
    kind: str
    argument: str
    target: str = ""
    order: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()

    def apply(self, values: pd.Series) -> pd.Series:
        """Proposed value per cell, missing where the transformation does not apply."""
        text = values.astype("string")
        if self.kind == "mojibake":
            fixed = [
                None if pd.isna(v) else _reencode(str(v), self.argument)
                for v in text.to_numpy(dtype=object)
            ]
            return pd.Series(fixed, index=values.index, dtype="string")
        if self.kind == "swap":
            return self._swap(text)
        if self.kind == "map":
            hit = text.fillna("\x00") == self.argument
            return pd.Series(np.where(hit, self.target, pd.NA), index=values.index, dtype="string")
        if self.kind == "suffix":
            hit = text.str.endswith(self.argument).fillna(False) & (
                text.str.len() > len(self.argument)
            )
            out = text.str.slice(0, -len(self.argument))
            return out.where(hit)
        if self.kind == "prefix":
            hit = text.str.startswith(self.argument).fillna(False) & (
                text.str.len() > len(self.argument)
            )
            out = text.str.slice(len(self.argument))
            return out.where(hit)
        full = text.str.fullmatch(self.argument).fillna(True).astype(bool)
        found = text.str.extract(f"({self.argument})", expand=False)
        return found.where(~full & found.notna())

    def _swap(self, text: pd.Series) -> pd.Series:
        """Permute the number fields where they overflow the bounds and the permutation fits."""
        fields = text.str.extract(f"^{self.argument}$")
        out = pd.Series(pd.NA, index=text.index, dtype="string")
        matched = fields.notna().all(axis=1).to_numpy()
        if not matched.any():
            return out
        bounds = np.asarray(self.bounds)
        digits = fields[matched].to_numpy(dtype=object)
        numbers = digits.astype(np.float64)  # float: long digit runs must not overflow
        swapped = numbers[:, list(self.order)]
        hit = (numbers > bounds).any(axis=1) & (swapped <= bounds).all(axis=1)
        separators = re.split(r"\(\\d\+\)", self.argument)
        literal = [re.sub(r"\\(.)", r"\1", sep) for sep in separators]
        rows = np.flatnonzero(matched)[hit]
        for row, parts in zip(rows, digits[hit], strict=True):
            pieces = [literal[0]]
            for k, i in enumerate(self.order):
                pieces += [parts[i], literal[k + 1]]
            out.iat[row] = "".join(pieces)
        return out


class ExampleTransforms:
    """Per-column value transformations learned from corrected example rows.

    Parameters
    ----------
    min_confidence : float, default 0.5
        Transformations scoring below this on the examples are dropped.

    Attributes
    ----------
    transforms_ : dict of str to list of (transform, float)
        Per column, the kept transformations with their confidence, best first.
    table_wide_ : list of (transform, float)
        Mojibake repairs, used for the columns the examples do not cover.
    """

    def __init__(self, *, min_confidence: float = 0.5) -> None:
        self.min_confidence = min_confidence

    def fit(self, dirty: pd.DataFrame, corrected: pd.DataFrame) -> ExampleTransforms:
        """Learn from aligned dirty and corrected example rows (same index and columns)."""
        self.transforms_: dict[str, list[tuple[_Transform, float]]] = {}
        proposed = {
            col: self._propose(dirty[col].astype("string"), corrected[col].astype("string"))
            for col in corrected.columns
        }
        # A wrong decoding hits the whole file: what one column shows, every column tries.
        table_wide = list(
            dict.fromkeys(t for ts in proposed.values() for t in ts if t.kind == "mojibake")
        )
        for col in corrected.columns:
            before = dirty[col].astype("string")
            after = corrected[col].astype("string")
            proposals = list(dict.fromkeys(proposed[col] + table_wide))
            scored = []
            for transform in proposals:
                out = transform.apply(before)
                applies = out.notna().to_numpy()
                if not applies.any():
                    continue
                right = (out[applies] == after.fillna("")[applies]).fillna(False).to_numpy()
                confidence = (right.sum() + 1) / (applies.sum() + 2)
                if confidence >= self.min_confidence:
                    scored.append((transform, float(confidence)))
            scored.sort(key=lambda item: -item[1])
            if scored:
                self.transforms_[str(col)] = scored
        best: dict[_Transform, float] = {}
        for scored in self.transforms_.values():
            for transform, confidence in scored:
                if transform in table_wide:
                    best[transform] = max(best.get(transform, 0.0), confidence)
        self.table_wide_ = sorted(best.items(), key=lambda item: -item[1])
        return self

    @staticmethod
    def _propose(before: pd.Series, after: pd.Series) -> list[_Transform]:
        out: dict[_Transform, None] = {}
        shapes: dict[str, None] = {}
        swaps: dict[tuple[str, tuple[int, ...]], None] = {}
        for old, new in zip(before.fillna(""), after.fillna(""), strict=True):
            if new:
                shapes[_shape(new)] = None
            if old == new:
                continue
            out[_Transform("map", old, new)] = None
            for encoding in _ENCODINGS:
                if _reencode(old, encoding) == new:
                    out[_Transform("mojibake", encoding)] = None
                    break
            permuted = _permutation(old, new)
            if permuted is not None:
                swaps[permuted] = None
            if new and old.startswith(new):
                out[_Transform("suffix", old[len(new) :])] = None
            if new and old.endswith(new):
                out[_Transform("prefix", old[: len(old) - len(new)])] = None
        if shapes and len(shapes) <= 3:
            out[_Transform("extract", "|".join(f"(?:{s})" for s in shapes))] = None
        for layout, order in swaps:
            # Bounds: the largest number each position holds among the corrected values.
            fields = after.str.extract(f"^{layout}$").dropna()
            if len(fields):
                bounds = tuple(float(b) for b in fields.astype(np.float64).max(axis=0))
                out[_Transform("swap", layout, order=order, bounds=bounds)] = None
        return list(out)

    def propose(self, values: pd.Series, column: str) -> tuple[pd.Series, np.ndarray]:
        """Best proposal per cell of ``column`` and its confidence (0 where none)."""
        best = pd.Series(pd.NA, index=values.index, dtype="string")
        confidence = np.zeros(len(values))
        for transform, conf in self.transforms_.get(column, self.table_wide_):
            out = transform.apply(values)
            take = (out.notna() & best.isna()).to_numpy(dtype=bool, copy=True)
            take &= (out != values.astype("string")).fillna(True).to_numpy(dtype=bool)
            best[take] = out[take]
            confidence[take] = conf
        return best, confidence


def read_examples(path: str, columns: list[str], n_rows: int) -> pd.DataFrame:
    """Read an examples CSV: the data's header plus a leading ``_row`` column (0-based row).

    Returns
    -------
    pandas.DataFrame
        The corrected values indexed by row position.

    Raises
    ------
    DataError
        When ``_row`` is missing, not an integer, out of range or repeated, or columns differ.
    """
    from gristmill.io import read_table

    table = read_table(path, as_strings=True)
    return check_examples(table, columns, n_rows, where=str(path))


def check_examples(
    table: pd.DataFrame, columns: list[str], n_rows: int, *, where: str = "examples"
) -> pd.DataFrame:
    """Validate an examples table and index it by row position (see :func:`read_examples`)."""
    if "_row" not in table.columns:
        raise DataError(f"{where}: needs a leading '_row' column with 0-based row numbers")
    extra = [c for c in table.columns if c != "_row" and c not in columns]
    if extra:
        raise DataError(f"{where}: column(s) {extra} are not in the data (it has {columns})")
    rows = pd.to_numeric(table["_row"], errors="coerce")
    bad = rows.isna() | (rows % 1 != 0) | (rows < 0) | (rows >= n_rows)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{where}: row {first + 1} has _row {table['_row'].iloc[first]!r}; expected an "
            f"integer from 0 to {n_rows - 1}"
        )
    if rows.duplicated().any():
        raise DataError(f"{where}: _row {int(rows[rows.duplicated()].iloc[0])} appears twice")
    out = table.drop(columns="_row").astype("string")
    out.index = rows.astype(np.int64).to_numpy()
    return out
