"""Label models by name, and loading any saved label model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gristmill.exceptions import DataError, LabelModelError, ParameterError
from gristmill.labelmodel._base import BaseLabelModel, read_saved
from gristmill.labelmodel._binary_relevance import META_FILE as BINARY_RELEVANCE_FILE
from gristmill.labelmodel._binary_relevance import BinaryRelevanceLabelModel
from gristmill.labelmodel._dawid_skene import DawidSkene
from gristmill.labelmodel._label_model import LabelModel
from gristmill.labelmodel._majority import MajorityVote, WeightedMajorityVote
from gristmill.labelmodel._matrix_completion import MatrixCompletion
from gristmill.labelmodel._triplet import Triplet

LABEL_MODELS: dict[str, type[BaseLabelModel]] = {
    "auto": LabelModel,
    "dawid_skene": DawidSkene,
    "majority_vote": MajorityVote,
    "matrix_completion": MatrixCompletion,
    "triplet": Triplet,
    "weighted_majority_vote": WeightedMajorityVote,
}
"""Name -> label model class; ``auto`` is the default :class:`LabelModel`."""


def get_label_model(name: str = "auto", **params: Any) -> BaseLabelModel:
    """Build a label model by name.

    Parameters
    ----------
    name : str, default "auto"
        One of :data:`LABEL_MODELS`.
    **params
        Hyperparameters passed to the class.

    Raises
    ------
    LabelModelError
        When the name is unknown.
    TypeError
        When a parameter is not one of the model's (as for an unknown keyword argument); the
        message lists the valid ones.

    Examples
    --------
    >>> get_label_model("dawid_skene", max_iter=20)
    DawidSkene(cardinality=None, max_iter=20, tol=1e-06, smoothing=1.0)
    """
    try:
        cls = LABEL_MODELS[name]
    except KeyError:
        raise LabelModelError(
            f"Unknown label model {name!r}; choose one of {sorted(LABEL_MODELS)}"
        ) from None
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ParameterError(
            f"Unknown parameter(s) {unknown} of label model {name!r} ({cls.__name__}); "
            f"valid: {valid}"
        )
    return cls(**params)


def load_label_model(
    path: str | os.PathLike[str],
) -> BaseLabelModel | BinaryRelevanceLabelModel:
    """Load any label model saved with ``save(path)``.

    A folder holding ``binary_relevance.json`` (the label model of a multilabel task) loads as
    a :class:`~gristmill.labelmodel.BinaryRelevanceLabelModel`; any other as the model its
    ``label_model.json`` names.

    Raises
    ------
    LabelModelError
        When ``path`` holds no saved label model, names an unknown model, or holds a corrupt
        or partial one (the message names the file and what is wrong).
    """
    if (Path(path) / BINARY_RELEVANCE_FILE).is_file():
        try:
            return BinaryRelevanceLabelModel.load(path)
        except DataError as exc:
            raise LabelModelError(str(exc)) from exc
    return load_saved_model(path)


def load_saved_model(path: str | os.PathLike[str]) -> BaseLabelModel:
    """Load a label model saved as ``label_model.json`` and ``arrays.npz`` (any but a
    multilabel one); what :meth:`BaseLabelModel.load` loads.

    Raises
    ------
    LabelModelError
        As :func:`load_label_model`.
    """
    meta, arrays = read_saved(path)
    name = meta.get("model")
    if name not in LABEL_MODELS:
        raise LabelModelError(f"{path}: unknown label model {name!r}")
    return LABEL_MODELS[name]._from_saved(meta, arrays, path)
