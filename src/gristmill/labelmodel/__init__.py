"""Label models: learn how accurate labeling functions are without gold labels, combine their votes.

Every model shares one interface (:class:`BaseLabelModel`): ``fit(L, *, class_balance=None,
L_dev=None, y_dev=None, seed=0)``, ``predict_proba``, ``predict(L, tie_break=...,
threshold=...)`` (``threshold="f1"``: the F1-optimal binary cut-off), ``score``, the fitted
``lf_accuracies_``, ``class_balance_``, ``confusion_`` and ``f1_threshold_``, and ``save`` /
``load`` without pickle. ``L`` is a :class:`~gristmill.LabelMatrix`, a DataFrame with one
column per LF, a numpy array (-1 = abstain) or a scipy.sparse matrix holding class + 1.
:func:`probs_to_labels` turns kept probabilities into classes as ``predict`` does, and
:func:`drop_uncovered` keeps the rows some labeling function votes on.
"""

from gristmill.labelmodel._base import BaseLabelModel
from gristmill.labelmodel._binary_relevance import BinaryRelevanceLabelModel, binary_votes
from gristmill.labelmodel._dawid_skene import DawidSkene
from gristmill.labelmodel._label_model import LabelModel
from gristmill.labelmodel._majority import MajorityVote, WeightedMajorityVote
from gristmill.labelmodel._matrix_completion import MatrixCompletion
from gristmill.labelmodel._partitioned import (
    fit_partitioned,
    predict_proba_partitioned,
    vote_patterns,
)
from gristmill.labelmodel._postprocess import drop_uncovered, probs_to_labels
from gristmill.labelmodel._registry import LABEL_MODELS, get_label_model, load_label_model
from gristmill.labelmodel._triplet import Triplet

__all__ = [
    "LABEL_MODELS",
    "BaseLabelModel",
    "BinaryRelevanceLabelModel",
    "DawidSkene",
    "LabelModel",
    "MajorityVote",
    "MatrixCompletion",
    "Triplet",
    "WeightedMajorityVote",
    "binary_votes",
    "drop_uncovered",
    "fit_partitioned",
    "get_label_model",
    "load_label_model",
    "predict_proba_partitioned",
    "probs_to_labels",
    "vote_patterns",
]
