"""Checking prediction and feedback payloads against the served model, naming the bad field."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FieldError",
    "check_feedback",
    "check_records",
    "parse_datetimes",
    "record_schema",
    "records_frame",
]

_NUMERIC = {"double", "float"}
# The whole numbers each integer type holds (int64, int32): the model input frame holds no other.
_INTEGER_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_INTEGER = set(_INTEGER_RANGES)
# Words pandas reads as the current time: a payload's date must not depend on when it is read.
_RELATIVE_DATES = {"now", "today"}
# The date-times a request may hold: a date, or a date and a time to the minute ('T' or a space
# between; seconds, their fraction to the nanosecond, and an offset from UTC optional), its year
# written 1678 to 2261. pandas reads more (years alone, 20150528, ' 2015-05-28'); the OpenAPI
# schema states this form, so the check holds requests to it. JSON Schema's "date-time" format
# (RFC 3339) would wrongly demand the seconds and an offset, and refuse a date.
_TIME = ("([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,9})?)?"
         "(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?")
# The check leaves the year's range and the calendar (30 June, no 29 February 2015) to parsing.
_DATETIME_TEXT = re.compile("[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])" + _TIME)
_DATETIME_MESSAGE = ("must be an ISO 8601 date (2015-05-28) or date-time (2015-05-28T14:30:00, "
                     "seconds and an offset such as Z or +02:00 optional)")
_FIRST_YEAR, _LAST_YEAR = 1678, 2261
_DATETIME_YEARS = f"the years {_FIRST_YEAR} to {_LAST_YEAR}"
_DATETIME_RANGE_MESSAGE = f"must lie in {_DATETIME_YEARS}"
# What a nanosecond timestamp holds (a model's signature may ask for datetime64[ns]): every
# instant those years written with an offset (less than a day) can name, and a little more.
_EARLIEST = np.datetime64("1677-09-22")
_END = np.datetime64("2262-04-11")
# The same form for the OpenAPI schema (an ECMA-262 regular expression), with the calendar: the
# years 1678 to 2261, the days of each month, 29 February of leap years only.
_YEAR = "(16(7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])"
_LEAP_YEAR = ("(16(8[048]|9[26])|(1[7-9]|2[01])(0[48]|[2468][048]|[13579][26])|2000"
              "|22(0[48]|[24][048]|[135][26]|60))")
_MONTH_DAY = ("((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
              "|02-(0[1-9]|1[0-9]|2[0-8]))")
_DATETIME_PATTERN = f"^({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}$"
_DATETIME_DESCRIPTION = (
    "A date (2015-05-28) or date-time (2015-05-28T14:30:00 or 2015-05-28 14:30; seconds, their "
    "fraction to the nanosecond and an offset from UTC such as Z or +02:00 optional) in "
    f"{_DATETIME_YEARS}. A date-time with an offset is converted to UTC; one without, and a "
    "date (its midnight), are read as UTC."
)


class FieldError(Exception):
    """A payload field is missing, unknown or of the wrong type; ``errors`` lists each one."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def _error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def _type_problem(value: Any, column_type: str) -> str | None:
    if column_type == "string":
        return None if isinstance(value, str) else "must be a string"
    if column_type in _NUMERIC:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        return None if math.isfinite(value) else "must be a finite number"
    if column_type in _INTEGER:
        if isinstance(value, float) and value.is_integer():  # JSON Schema: 2.0 is an integer
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        low, high = _INTEGER_RANGES[column_type]
        return None if low <= value <= high else f"must be an integer from {low} to {high}"
    if column_type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if column_type == "datetime":
        return None if isinstance(value, str) else _DATETIME_MESSAGE
    return None


def _parse_iso(values: Sequence[Any]) -> np.ndarray:
    """Parse ISO 8601 ``values`` as naive UTC datetime64.

    Unreadable values and words for the current time are NaT.
    """
    stamps = pd.to_datetime(list(values), errors="coerce", utc=True, format="ISO8601")
    relative = [isinstance(v, str) and v.strip().lower() in _RELATIVE_DATES for v in values]
    return np.where(relative, np.datetime64("NaT"), stamps.tz_convert(None).to_numpy())


def parse_datetimes(values: pd.Series) -> pd.Series:
    """Parse ISO 8601 date-times (or dates) as naive UTC datetime64, as the service reads them.

    Also the forms requests may not hold (``2015-05``, ``20150528``) that frames read from files
    do. Anything else, words for the current time ("now", "today") and instants a nanosecond
    timestamp cannot hold (before 1677-09-22, from 2262-04-11) become NaT.
    """
    naive = _parse_iso(values.tolist())
    in_range = (naive >= _EARLIEST) & (naive < _END)
    return pd.Series(np.where(in_range, naive, np.datetime64("NaT")), index=values.index,
                     name=values.name)


def _datetime_errors(pending: dict[str, list[tuple[int, str]]]) -> list[dict[str, Any]]:
    """Errors for the date-time texts of ``pending`` (column -> (record, text)) that fail."""
    errors = []
    for col, cells in pending.items():
        naive = _parse_iso([text for _, text in cells])
        for (i, text), stamp in zip(cells, naive, strict=True):
            if np.isnat(stamp) or not _DATETIME_TEXT.fullmatch(text):
                errors.append(_error(["records", i, col], _DATETIME_MESSAGE, "datetime_parsing"))
            elif not _FIRST_YEAR <= int(text[:4]) <= _LAST_YEAR:
                errors.append(_error(["records", i, col], _DATETIME_RANGE_MESSAGE,
                                     "datetime_range"))
    return errors


def check_records(
    payload: Any, columns: list[str], column_types: dict[str, str], *, max_records: int,
    optional: frozenset[str] = frozenset(), max_errors: int = 20,
) -> list[dict[str, Any]]:
    """Return the records of a ``{"records": [...]}`` payload, or raise :class:`FieldError`."""
    if not isinstance(payload, dict) or "records" not in payload:
        raise FieldError([_error(["records"], "field required: a list of records", "missing")])
    extra = sorted(set(payload) - {"records"})
    if extra:
        raise FieldError([_error([extra[0]], "unknown field", "extra_forbidden")])
    records = payload["records"]
    if not isinstance(records, list) or not records:
        raise FieldError([_error(["records"], "must be a non-empty list of objects", "list_type")])
    if len(records) > max_records:
        raise FieldError([_error(["records"], f"at most {max_records} records per request",
                                 "too_long")])
    known = set(columns)
    errors: list[dict[str, Any]] = []
    # Date-time strings are parsed together after the loop: one parse per column, not per cell.
    pending: dict[str, list[tuple[int, str]]] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            errors.append(_error(["records", i], "must be an object", "dict_type"))
        else:
            errors.extend(
                _error(["records", i, col], "field required", "missing")
                for col in columns if col not in record
            )
            errors.extend(
                _error(["records", i, key], "unknown field", "extra_forbidden")
                for key in record if key not in known
            )
            for col in columns:
                if col in record and not (record[col] is None and col in optional):
                    column_type = column_types.get(col, "string")
                    problem = _type_problem(record[col], column_type)
                    if problem:
                        errors.append(_error(["records", i, col], problem, "type_error"))
                    elif column_type == "datetime":
                        pending.setdefault(col, []).append((i, record[col]))
        if len(errors) >= max_errors:
            break
    errors.extend(_datetime_errors(pending))
    if errors:
        errors.sort(key=lambda error: error["loc"][2])  # record order (a stable sort)
        raise FieldError(errors[:max_errors])
    return records


def records_frame(
    records: list[dict[str, Any]], columns: list[str], column_types: dict[str, str]
) -> pd.DataFrame:
    """Build the model input frame of checked records with the dtypes ``column_types`` declare.

    A whole-number column with a missing value (null) is a float column, the value NaN.
    Date-time columns keep their text (or None): :meth:`ServedModel.predict_frame` converts them
    to what the model's signature takes.
    """
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in columns:
        kind = column_types.get(col, "string")
        if kind in _NUMERIC:
            frame[col] = frame[col].astype(np.float32 if kind == "float" else np.float64)
        elif kind in _INTEGER and frame[col].isna().any():
            frame[col] = frame[col].astype(np.float64)  # null, where the column takes it: NaN
        elif kind in _INTEGER:
            frame[col] = frame[col].astype(np.int32 if kind == "integer" else np.int64)
        elif kind in ("string", "datetime"):
            frame[col] = frame[col].astype(object)
    return frame


def check_feedback(payload: Any, classes: list[str], n_records: int | None) -> list[str | None]:
    """Return the labels of a ``{"request_id", "labels"}`` payload, or raise :class:`FieldError`."""
    labels = payload.get("labels") if isinstance(payload, dict) else None
    if not isinstance(labels, list) or not labels:
        raise FieldError([_error(["labels"], "must be a non-empty list of class names or null",
                                 "list_type")])
    if n_records is not None and len(labels) != n_records:
        raise FieldError([_error(["labels"], f"the request had {n_records} records; got "
                                 f"{len(labels)} labels", "length")])
    errors = [
        _error(["labels", i], f"unknown class {label!r}; expected one of {classes} or null",
               "enum")
        for i, label in enumerate(labels)
        if label is not None and (not isinstance(label, str) or label not in classes)
    ]
    if errors:
        raise FieldError(errors[:20])
    return labels


def record_schema(columns: list[str], column_types: dict[str, str],
                  optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """JSON schema of one record, for the OpenAPI document.

    Columns of ``optional`` (and floating-point numbers, which are always optional) also accept
    null.
    """
    json_types: dict[str, dict[str, Any]] = {
        "string": {"type": "string"},
        "double": {"type": "number"},
        "float": {"type": "number"},
        # The format says the range (FastAPI would write bounds this large as rounded floats).
        "long": {"type": "integer", "format": "int64"},
        "integer": {"type": "integer", "format": "int32"},
        "boolean": {"type": "boolean"},
        "datetime": {"type": "string", "pattern": _DATETIME_PATTERN,
                     "description": _DATETIME_DESCRIPTION,
                     "examples": ["2015-05-28", "2015-05-28T14:30:00",
                                  "2015-05-28T16:30:00+02:00"]},
    }
    properties: dict[str, dict[str, Any]] = {}
    for col in columns:
        column_type = column_types.get(col, "string")
        schema: dict[str, Any] = dict(json_types.get(column_type, {}))
        if schema and (col in optional or column_type in _NUMERIC):
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[col] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": list(columns),
        "additionalProperties": False,
    }
