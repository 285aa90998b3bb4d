"""Exceptions raised by gristmill.

Catch :class:`GristmillError` to handle every error gristmill raises on purpose::

    GristmillError
    ├── SpecError            a pipeline spec is invalid (names the key path and line)
    ├── DataError            an input table is unreadable, empty, ragged or lacks a column
    │   └── ConstraintError  a cleaning constraint cannot be parsed or names an unknown column
    ├── OutputError          an output would replace an input or files gristmill did not write
    ├── LFError              a labeling function is ill-defined or failed on a row
    ├── LabelModelError      a label model cannot be fit on the given label matrix
    ├── TrackingError        the MLflow store is unreachable or a registry action is refused
    │   └── PromotionRefused a candidate regresses versus the current champion
    ├── ServingError         the REST service cannot load or serve a model
    ├── ParameterError       (also ValueError, TypeError) a parameter of an estimator is invalid
    ├── NotFittedError       (also ValueError, AttributeError) an estimator was used before fit
    └── MissingExtraError    (also ImportError) an optional extra is not installed

Warnings: :class:`IdentifiabilityWarning` when a label model cannot be identified from the data
and a fallback is used; :class:`SupervisionWarning` when the supervision sources leave part of a
task unlabeled (a class no source votes for, label-column values that name no label).
"""

from __future__ import annotations

__all__ = [
    "ConstraintError",
    "DataError",
    "GristmillError",
    "IdentifiabilityWarning",
    "LFError",
    "LabelModelError",
    "MissingExtraError",
    "NotFittedError",
    "OutputError",
    "ParameterError",
    "PromotionRefused",
    "ServingError",
    "SpecError",
    "SupervisionWarning",
    "TrackingError",
]


class GristmillError(Exception):
    """Base class of every error gristmill raises on purpose."""


class SpecError(GristmillError):
    """A pipeline spec is invalid; the message names the key path (and line when known)."""


class DataError(GristmillError):
    """An input table is unreadable, empty, ragged, or lacks a required column."""


class ConstraintError(DataError):
    """A cleaning constraint cannot be parsed or names a column the table does not have."""


class OutputError(GristmillError):
    """An output path would replace an input, or files and folders gristmill did not write."""


class LFError(GristmillError):
    """A labeling function is ill-defined, or raised while labeling a row.

    Attributes
    ----------
    lf_name : str or None
        Name of the labeling function at fault.
    row : object or None
        Index label of the row being labeled when the function raised.
    """

    def __init__(self, message: str, *, lf_name: str | None = None, row: object = None) -> None:
        super().__init__(message)
        self.lf_name = lf_name
        self.row = row


class LabelModelError(GristmillError):
    """A label model cannot be fit on the given label matrix."""


class TrackingError(GristmillError):
    """The tracking store is unreachable, or a registry action cannot be carried out."""


class PromotionRefused(TrackingError):
    """A model version regresses versus the current champion beyond the tolerance."""


class ServingError(GristmillError):
    """The REST service cannot load or serve a model."""


class ParameterError(GristmillError, ValueError, TypeError):
    """An estimator's or function's parameter is invalid (also a ValueError, as in sklearn)."""


class NotFittedError(GristmillError, ValueError, AttributeError):
    """An estimator was used before ``fit`` was called."""


class MissingExtraError(GristmillError, ImportError):
    """An optional dependency group (extra) is not installed.

    The message says which extra to install, e.g. ``pip install 'gristmill[serve]'``.
    """


class IdentifiabilityWarning(UserWarning):
    """The data cannot identify a label model's parameters; a fallback estimate is used."""


class SupervisionWarning(UserWarning):
    """The supervision sources leave part of a task unlabeled (e.g. a class no source votes for)."""
