"""Labeling functions, their factories and appliers, the label matrix, and LF analysis."""

from gristmill.labeling._matrix import (
    ABSTAIN,
    LabelMatrix,
    as_label_array,
    as_sparse_labels,
    compact_label_dtype,
)

__all__ = [
    "ABSTAIN",
    "LabelMatrix",
    "as_label_array",
    "as_sparse_labels",
    "compact_label_dtype",
]
