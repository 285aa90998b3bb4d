"""End models: featurisation from payload kinds, noise-aware learners, search, and slices."""

from gristmill.training._classifiers import (
    OneVsRest,
    SoftLightGBM,
    SoftLogisticRegression,
    SoftMLP,
)
from gristmill.training._end_model import EndModel, load_end_model, save_end_model
from gristmill.training._features import PAYLOAD_KINDS, Featurizer
from gristmill.training._metrics import (
    METRICS,
    classification_metrics,
    multilabel_metrics,
    task_metrics,
)
from gristmill.training._multitask import MultiTaskModel
from gristmill.training._search import (
    DEFAULT_SEARCH_SPACE,
    SearchResult,
    available_learners,
    search_end_model,
)
from gristmill.training.slices import (
    SlicingFunction,
    apply_slices,
    discover_slices,
    expression_slice,
    load_slicing_functions,
    slicing_function,
)

__all__ = [
    "DEFAULT_SEARCH_SPACE",
    "METRICS",
    "PAYLOAD_KINDS",
    "EndModel",
    "Featurizer",
    "MultiTaskModel",
    "OneVsRest",
    "SearchResult",
    "SlicingFunction",
    "SoftLightGBM",
    "SoftLogisticRegression",
    "SoftMLP",
    "apply_slices",
    "available_learners",
    "classification_metrics",
    "discover_slices",
    "expression_slice",
    "load_end_model",
    "load_slicing_functions",
    "multilabel_metrics",
    "save_end_model",
    "search_end_model",
    "slicing_function",
    "task_metrics",
]
