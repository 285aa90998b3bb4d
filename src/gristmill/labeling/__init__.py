"""Labeling functions, their factories and appliers, the label matrix, and LF analysis."""

from gristmill.labeling._analysis import lf_summary
from gristmill.labeling._apply import ENGINES, LFFailureWarning, apply_lfs
from gristmill.labeling._factories import (
    column_lf,
    keyword_lf,
    lookup_lf,
    model_lf,
    regex_lf,
    threshold_lf,
)
from gristmill.labeling._lf import LabelingFunction, labeling_function
from gristmill.labeling._load import load_lfs
from gristmill.labeling._matrix import (
    ABSTAIN,
    LabelMatrix,
    as_label_array,
    as_sparse_labels,
    compact_label_dtype,
)
from gristmill.labeling._partitioned import PartitionedLabelMatrix, apply_lfs_partitioned
from gristmill.labeling._preprocess import Preprocessor, Row, preprocessor

__all__ = [
    "ABSTAIN",
    "ENGINES",
    "LFFailureWarning",
    "LabelMatrix",
    "LabelingFunction",
    "PartitionedLabelMatrix",
    "Preprocessor",
    "Row",
    "apply_lfs",
    "apply_lfs_partitioned",
    "as_label_array",
    "as_sparse_labels",
    "column_lf",
    "compact_label_dtype",
    "keyword_lf",
    "labeling_function",
    "lf_summary",
    "load_lfs",
    "lookup_lf",
    "model_lf",
    "preprocessor",
    "regex_lf",
    "threshold_lf",
]
