"""Checking prediction and feedback payloads against the served model, naming the bad field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FieldError", "check_feedback", "check_records", "record_schema", "records_frame"]

_NUMERIC = {"double", "float"}
_INTEGER = {"long", "integer"}


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
        whole = isinstance(value, int) and not isinstance(value, bool)
        return None if whole else "must be an integer"
    if column_type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if column_type == "datetime":
        if not isinstance(value, str):
            return "must be an ISO 8601 date-time string"
        try:
            pd.Timestamp(value)
        except ValueError:
            return "must be an ISO 8601 date-time string"
    return None


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
                    problem = _type_problem(record[col], column_types.get(col, "string"))
                    if problem:
                        errors.append(_error(["records", i, col], problem, "type_error"))
        if len(errors) >= max_errors:
            break
    if errors:
        raise FieldError(errors[:max_errors])
    return records


def records_frame(
    records: list[dict[str, Any]], columns: list[str], column_types: dict[str, str]
) -> pd.DataFrame:
    """Build the model input frame with the dtypes the signature declares."""
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in columns:
        kind = column_types.get(col, "string")
        if kind in _NUMERIC:
            frame[col] = frame[col].astype(np.float32 if kind == "float" else np.float64)
        elif kind in _INTEGER:
            frame[col] = frame[col].astype(np.int32 if kind == "integer" else np.int64)
        elif kind == "datetime":
            frame[col] = pd.to_datetime(frame[col])
        elif kind == "string":
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
    """JSON schema of one record, for the OpenAPI document."""
    json_types: dict[str, dict[str, Any]] = {
        "string": {"type": "string"},
        "double": {"type": ["number", "null"]},
        "float": {"type": ["number", "null"]},
        "long": {"type": "integer"},
        "integer": {"type": "integer"},
        "boolean": {"type": "boolean"},
        "datetime": {"type": "string", "format": "date-time"},
    }
    properties: dict[str, dict[str, Any]] = {}
    for col in columns:
        schema: dict[str, Any] = dict(json_types.get(column_types.get(col, "string"), {}))
        if col in optional and schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[col] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": list(columns),
        "additionalProperties": False,
    }
