"""gristmill: data-centric machine learning.

Label data programmatically, repair it, train a model declaratively, and track, serve and
monitor it. Public names are loaded on first use (PEP 562), so ``import gristmill`` stays cheap
and never imports torch, mlflow or dask.
"""

import importlib as _importlib
from typing import Any as _Any

from gristmill._version import __version__ as __version__

# Public name -> module that defines it. Keep sorted by name.
_LAZY: dict[str, str] = {
    "ABSTAIN": "gristmill.labeling",
    "AttentionImputer": "gristmill.cleaning",
    "BinaryRelevanceLabelModel": "gristmill.labelmodel",
    "Cleaner": "gristmill.cleaning",
    "ConstraintError": "gristmill.exceptions",
    "DataError": "gristmill.exceptions",
    "DawidSkene": "gristmill.labelmodel",
    "DriftThresholds": "gristmill.monitoring",
    "GristmillError": "gristmill.exceptions",
    "IdentifiabilityWarning": "gristmill.exceptions",
    "LFError": "gristmill.exceptions",
    "LFFailureWarning": "gristmill.labeling",
    "LabelMatrix": "gristmill.labeling",
    "LabelModel": "gristmill.labelmodel",
    "LabelModelError": "gristmill.exceptions",
    "LabelingFunction": "gristmill.labeling",
    "MajorityVote": "gristmill.labelmodel",
    "MatrixCompletion": "gristmill.labelmodel",
    "MissingExtraError": "gristmill.exceptions",
    "ModelBundle": "gristmill.tracking",
    "MonitorResult": "gristmill.monitoring",
    "NotFittedError": "gristmill.exceptions",
    "OutputError": "gristmill.exceptions",
    "ParameterError": "gristmill.exceptions",
    "PartitionedLabelMatrix": "gristmill.labeling",
    "Pipeline": "gristmill.pipeline",
    "PipelineResult": "gristmill.pipeline",
    "Preprocessor": "gristmill.labeling",
    "PromotionRefused": "gristmill.exceptions",
    "RequestLog": "gristmill.serving",
    "RunTracker": "gristmill.tracking",
    "ServingError": "gristmill.exceptions",
    "SpecError": "gristmill.exceptions",
    "SupervisionWarning": "gristmill.exceptions",
    "TaskResult": "gristmill.pipeline",
    "TrackingError": "gristmill.exceptions",
    "TreesImputer": "gristmill.cleaning",
    "Triplet": "gristmill.labelmodel",
    "WeightedMajorityVote": "gristmill.labelmodel",
    "apply_lfs": "gristmill.labeling",
    "apply_lfs_partitioned": "gristmill.labeling",
    "column_lf": "gristmill.labeling",
    "create_app": "gristmill.serving",
    "detect_errors": "gristmill.cleaning",
    "drop_uncovered": "gristmill.labelmodel",
    "fit_partitioned": "gristmill.labelmodel",
    "get_label_model": "gristmill.labelmodel",
    "keyword_lf": "gristmill.labeling",
    "labeling_function": "gristmill.labeling",
    "lf_summary": "gristmill.labeling",
    "load_bundle": "gristmill.tracking",
    "load_label_model": "gristmill.labelmodel",
    "load_lfs": "gristmill.labeling",
    "lookup_lf": "gristmill.labeling",
    "model_lf": "gristmill.labeling",
    "monitor": "gristmill.monitoring",
    "predict_proba_partitioned": "gristmill.labelmodel",
    "preprocessor": "gristmill.labeling",
    "probs_to_labels": "gristmill.labelmodel",
    "read_table": "gristmill.io",
    "regex_lf": "gristmill.labeling",
    "serve": "gristmill.serving",
    "slicing_function": "gristmill.training",
    "threshold_lf": "gristmill.labeling",
    "write_table": "gristmill.io",
}

__all__ = sorted([*_LAZY, "__version__"])

# Public subpackages and modules, imported on first attribute access like scikit-learn's
# (``gristmill.labelmodel.LabelModel`` after a bare ``import gristmill``).
_SUBMODULES = frozenset(
    {
        "cleaning",
        "exceptions",
        "io",
        "labeling",
        "labelmodel",
        "monitoring",
        "pipeline",
        "serving",
        "testing",
        "tracking",
        "training",
    }
)


def __getattr__(name: str) -> _Any:
    if name in _SUBMODULES:
        return _importlib.import_module(f"gristmill.{name}")
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gristmill' has no attribute {name!r}") from None
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
