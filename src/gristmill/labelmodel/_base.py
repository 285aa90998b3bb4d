"""The base class every gristmill label model shares: input checks, prediction, scoring, saving.

A fitted label model here is log-linear in the votes: the score of class c on a row is
``bias_[c] + sum_j weights_[j, v_j, c]`` over the sources j that vote (class v_j) on that row, and
``predict_proba`` is the softmax of the scores. Majority vote, Dawid-Skene, the MeTaL matrix
completion estimator and the triplet method all fit that form and differ only in how they learn
``weights_`` and ``bias_``; subclasses implement ``_fit``.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import (
    DataError,
    IdentifiabilityWarning,
    LabelModelError,
    NotFittedError,
    OutputError,
    ParameterError,
)
from gristmill.io import atomic_path, atomic_write_text
from gristmill.labeling._analysis import gold_labels
from gristmill.labeling._matrix import LabelMatrix, as_label_input, in_lf_order
from gristmill.labelmodel._thresholds import f1_threshold
from gristmill.labelmodel._votes import MAX_CLASSES, Votes, infer_cardinality, to_votes

TIE_BREAKS = ("abstain", "random", "prior")
METRICS = ("accuracy", "f1", "f1_macro", "precision", "recall", "log_loss", "roc_auc", "coverage")
# Metrics of a binary task (class 1 positive).
_BINARY_METRICS = ("f1", "precision", "recall")
_FORMAT = "gristmill.label_model"
_FORMAT_VERSION = 1
_META_FILE = "label_model.json"
_ARRAYS_FILE = "arrays.npz"
# What label_model.json must hold, with the JSON types of the values.
_META_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "params": (dict,),
    "cardinality_": (int,),
    "n_sources_": (int,),
    "lf_names_": (list, type(None)),
}
# Relative tolerance under which two class probabilities count as a tie.
_TIE_TOLERANCE = 1e-9
# Up to this many classes, row reductions run column by column: numpy reduces a short last
# axis of a long (n, k) array several times slower.
_FEW_COLUMNS = 8
# Accuracy assumed for every source when the data cannot identify the model.
FALLBACK_ACCURACY = 0.7
# Fewest sources (that vote at least once) a latent-variable model needs to be identifiable.
MIN_IDENTIFIABLE_SOURCES = 3
# Rows a source must share with other sources (rows on which it and another vote) to count
# towards MIN_IDENTIFIABLE_SOURCES: without gold labels, only agreement and disagreement
# between sources tell their accuracies.
MIN_SHARED_ROWS = 10.0
# Most distinct vote patterns the fit-time criteria (plug-in F1 threshold, LabelModel's blend
# choice) are computed on; a random subset of the patterns beyond.
PATTERN_SAMPLE = 25_000
# What Snorkel's LabelModel and MajorityLabelVoter take that gristmill's label models spell
# another way (see gristmill._snorkel).
_TRAINING_OPTION = (
    "a Snorkel training option; gristmill label models are not trained by SGD and fit() takes "
    "none: their hyperparameters are given to the constructor (get_params() lists them)"
)
_TIE_BREAK_POLICY = (
    "use tie_break= ('abstain', 'random' or 'prior'; Snorkel's 'true-random' is 'random')"
)
SNORKEL_INIT = {
    "verbose": "gristmill label models print nothing; drop it",
    "device": "gristmill label models fit with numpy on the CPU; drop it",
}
SNORKEL_FIT = {
    "L_train": "pass the votes as the first argument: fit(L_train)",
    "Y_dev": (
        "pass a labeled dev set as L_dev= (its votes) and y_dev= (its gold labels), or give the "
        "class prior Snorkel estimated from Y_dev as class_balance="
    ),
    **dict.fromkeys(
        (
            "n_epochs",
            "lr",
            "l2",
            "optimizer",
            "optimizer_config",
            "lr_scheduler",
            "lr_scheduler_config",
            "prec_init",
            "log_freq",
            "mu_eps",
            "progress_bar",
        ),
        _TRAINING_OPTION,
    ),
}
SNORKEL_PREDICT = {
    "tie_break_policy": _TIE_BREAK_POLICY,
    "return_probs": "call predict_proba(L) for the probabilities",
}
SNORKEL_SCORE = {
    "Y": "pass the gold labels as y (the second argument): score(L, y)",
    "metrics": (
        "use metric= with one metric name (score returns a float, not a dict); call score once "
        "per metric"
    ),
    "tie_break_policy": _TIE_BREAK_POLICY,
}


class BaseLabelModel:
    """Shared behaviour of gristmill label models; subclasses implement :meth:`_fit`.

    Fitted attributes (after :meth:`fit`)
    -------------------------------------
    cardinality_ : int
        Number of classes k.
    n_sources_ : int
        Number of labeling functions (columns) m.
    lf_names_ : list of str or None
        Names of the labeling functions when fit on a :class:`~gristmill.LabelMatrix`.
    class_balance_ : ndarray of shape (k,)
        Class prior P(y = c), given or estimated.
    lf_accuracies_ : ndarray of shape (m,)
        Estimated P(vote is correct | source votes); NaN for sources that never vote.
    confusion_ : ndarray of shape (m, k, k)
        ``confusion_[j, c, v]`` = estimated P(source j votes v | y = c, source j votes).
    weights_ : ndarray of shape (m, k, k)
        ``weights_[j, v, c]``: score added to class c when source j votes v.
    bias_ : ndarray of shape (k,)
        Score of each class before any vote.
    f1_threshold_ : float
        Binary models: the cut-off on ``P(y = 1)`` that maximises F1 (see
        :func:`~gristmill.labelmodel._thresholds.f1_threshold`), tuned on the dev set when one is
        given, else a plug-in estimate from the model's own posteriors on the training rows;
        used by ``predict(L, threshold="f1")``. NaN with more than two classes.
    """

    name: ClassVar[str] = ""
    cardinality_: int
    n_sources_: int
    lf_names_: list[str] | None
    class_balance_: np.ndarray
    lf_accuracies_: np.ndarray
    confusion_: np.ndarray
    weights_: np.ndarray
    bias_: np.ndarray
    f1_threshold_: float
    _fitted_arrays: ClassVar[tuple[str, ...]] = (
        "class_balance_",
        "lf_accuracies_",
        "confusion_",
        "weights_",
        "bias_",
    )

    @snorkel_keywords(**SNORKEL_INIT)
    def __init__(self, *, cardinality: int | None = None) -> None:
        self.cardinality = cardinality

    # ----------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters of this model, as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseLabelModel:
        """Set hyperparameters; unknown names raise ``ValueError``."""
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ParameterError(
                    f"Invalid parameter {key!r} for {type(self).__name__}; valid: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        k = self.cardinality
        if k is not None and (
            isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= MAX_CLASSES
        ):
            raise ParameterError(
                f"The 'cardinality' parameter of {type(self).__name__} must be an int from 2 to "
                f"{MAX_CLASSES} or None. Got {k!r} instead."
            )

    # ----------------------------------------------------------------- fitting
    @snorkel_keywords(**SNORKEL_FIT)
    def fit(
        self,
        L: Any,
        *,
        class_balance: Any = None,
        L_dev: Any = None,
        y_dev: Any = None,
        seed: int = 0,
        sample_weight: Any = None,
    ) -> BaseLabelModel:
        """Learn the sources' accuracies from their votes, without gold labels.

        Parameters
        ----------
        L : LabelMatrix, DataFrame, ndarray of shape (n, m) or scipy.sparse matrix
            Votes; ``-1`` abstains (sparse: ``class + 1`` with implicit zeros = abstain). A
            DataFrame's columns name the LFs, like a LabelMatrix's ``lf_names``. Without the
            ``cardinality`` parameter, the classes are 0 to the largest class voted (in ``L`` or
            ``L_dev``) or the length of ``class_balance``, at least 2 and at most
            :data:`~gristmill.labelmodel._votes.MAX_CLASSES` (10,000).
        class_balance : array-like of shape (k,), optional
            Known class prior. Estimated from the data (and the dev labels) when omitted.
        L_dev, y_dev : label matrix and array-like of shape (n_dev,), optional
            Votes and gold labels of a small labeled dev set (at least one row). Models that
            can, use them. A Series ``y_dev`` is matched to the rows of a LabelMatrix or
            DataFrame ``L_dev`` by its index; anything else by position. Its classes must be
            the model's: a class above every one voted, with ``cardinality`` not given, is an
            error rather than a new class.
        seed : int, default 0
            Seed of the hash that samples the distinct vote patterns where a fit works on a
            sample of them (more than 25,000 patterns; see ``Votes.pattern_sample``). A fit is
            deterministic for a seed; the global NumPy state is never touched.
        sample_weight : array-like of shape (n,), optional
            Non-negative weight of each row of ``L``: a row of weight w counts as w copies of it,
            so fitting the distinct rows weighted by their counts equals fitting every row.

        Returns
        -------
        self

        Raises
        ------
        DataError
            When the inputs are malformed (the message names the column or row at fault), or
            ``L`` or ``L_dev`` has no rows, or ``L`` no columns, or ``sample_weight`` is 0
            everywhere.
        ValueError
            When a hyperparameter or ``seed`` is invalid.
        """
        self._check_params()
        check_seed(seed, f"{type(self).__name__}.fit")
        L, L_dev = as_label_input(L), as_label_input(L_dev)
        if (L_dev is None) != (y_dev is None):
            raise DataError(
                "Pass both L_dev and y_dev (dev votes and their gold labels), or neither"
            )
        balance = _class_balance_array(class_balance)
        k = self._resolve_cardinality(L, balance, L_dev)
        votes = to_votes(L, k)
        if votes.n_sources == 0:
            raise DataError("The label matrix has no labeling functions (0 columns)")
        if votes.n_rows == 0:
            raise DataError("The label matrix has no rows; a label model is fit on at least one")
        if sample_weight is not None:
            votes = votes.with_weights(sample_weight)
            if votes.total_weight == 0:
                raise DataError(
                    "sample_weight is 0 on every row: nothing to fit; give some rows a weight > 0"
                )
        prior = _check_class_balance(balance, k)
        dev = None if L_dev is None else self._dev_set(L_dev, y_dev, votes, k)
        self.cardinality_ = k
        self.n_sources_ = votes.n_sources
        self.lf_names_ = list(votes.lf_names) if votes.lf_names else None
        # Every product in a fit is small or sparse; BLAS threads only add contention (10x slower
        # fits were measured on a busy 2-core machine), so the fit runs on one BLAS thread.
        with _blas_controller().limit(limits=1, user_api="blas"):
            self._fit(votes, prior, dev, seed)
            self.f1_threshold_ = self._fit_f1_threshold(votes, dev, seed)
        return self

    def _fit_f1_threshold(
        self, votes: Votes, dev: tuple[Votes, np.ndarray] | None, seed: int
    ) -> float:
        if self.cardinality_ != 2:
            return float("nan")
        if dev is not None:
            return f1_threshold(self._proba(dev[0])[:, 1], gold=dev[1])
        sample = votes.pattern_sample(PATTERN_SAMPLE, seed)
        return f1_threshold(self._proba(sample)[:, 1], weights=sample.row_weights)

    def _fit(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
    ) -> None:
        raise NotImplementedError

    def _resolve_cardinality(self, L: Any, balance: np.ndarray | None, L_dev: Any) -> int:
        """The ``cardinality`` parameter, else classes 0 to the largest voted (at least 2).

        Gold dev labels do not add classes: a class no labeling function votes is far more
        often a mistake (a typo, another task's labels) than a class of the task, and it would
        silently widen every prediction.
        """
        if self.cardinality is not None:
            return int(self.cardinality)
        k = max(2, infer_cardinality(L))
        if balance is not None:
            k = max(k, balance.shape[0])
        if L_dev is not None:
            k = max(k, infer_cardinality(L_dev))
        return k

    def _dev_set(self, L_dev: Any, y_dev: Any, votes: Votes, k: int) -> tuple[Votes, np.ndarray]:
        """The dev votes, in the LF order of ``votes``, and their checked gold labels."""
        ordered = in_lf_order(L_dev, votes.lf_names, "L_dev's labeling functions are not L's")
        dev_votes = to_votes(ordered, k, n_sources=votes.n_sources)
        if dev_votes.n_rows == 0:
            raise DataError("L_dev has no rows; pass a labeled dev set, or neither L_dev nor y_dev")
        if self.cardinality is None:
            bound = (
                f"the label model infers {k} classes (0..{k - 1}): no labeling function votes a "
                "higher one, nor has class_balance more entries; pass cardinality to "
                f"{type(self).__name__} if the task has more classes"
            )
        else:
            bound = f"the label model has cardinality {k} (classes 0..{k - 1})"
        gold = gold_labels(y_dev, "y_dev", _row_index(ordered), below=k, bound=bound)
        if dev_votes.n_rows != gold.shape[0]:
            raise DataError(
                f"L_dev has {dev_votes.n_rows} rows but y_dev has {gold.shape[0]} labels"
            )
        return dev_votes, gold

    # ----------------------------------------------------------------- prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(L) before using it"
            )

    def _votes(self, L: Any) -> Votes:
        self._check_fitted()
        return to_votes(self._in_fitted_order(L), self.cardinality_, n_sources=self.n_sources_)

    def _in_fitted_order(self, L: Any) -> Any:
        """A :class:`LabelMatrix` of the fitted LFs, its columns put in the order of the fit.

        Columns are matched by LF name, so listing the LFs in another order than at fit time
        does not hand one source's votes to another.

        Raises
        ------
        DataError
            When the matrix names LFs the model was not fit on, or lacks some it was.
        """
        return in_lf_order(
            L,
            getattr(self, "lf_names_", None),
            "The label matrix's labeling functions are not those the label model was fit on",
        )

    def predict_proba(self, L: Any) -> np.ndarray:
        """Probability of each class for each row, shape (n, k); rows sum to 1.

        Rows on which no source votes get the model's prior (the class balance for models that
        treat abstains as uninformative).
        """
        return self._proba(self._votes(L))

    def _proba(self, votes: Votes) -> np.ndarray:
        return softmax(votes.scores(self.weights_, self.bias_))

    @snorkel_keywords(**SNORKEL_PREDICT)
    def predict(
        self,
        L: Any,
        *,
        tie_break: str = "abstain",
        seed: int = 0,
        threshold: float | str | None = None,
    ) -> np.ndarray:
        """Most probable class per row (int64, shape (n,)), or a thresholded binary decision.

        Parameters
        ----------
        L : label matrix
        tie_break : {"abstain", "random", "prior"}, default "abstain"
            What to predict when several classes share the top probability: ``-1``, one of them
            at random (seeded by ``seed``), or the one with the largest class balance.
        seed : int, default 0
            Seed for ``tie_break="random"``.
        threshold : float or "f1", optional
            Binary models only: predict class 1 when ``P(y = 1) >= threshold`` (no ties then).
            ``"f1"`` uses ``f1_threshold_``, the cut-off that maximises F1 of class 1 (the rule
            to use when F1 is the metric). Omitted: the most probable class.
        """
        _check_tie_break(tie_break)
        check_seed(seed, f"{type(self).__name__}.predict")
        return self._decide(self.predict_proba(L), tie_break, seed, threshold)

    def _decide(
        self, proba: np.ndarray, tie_break: str, seed: int, threshold: float | str | None
    ) -> np.ndarray:
        if threshold is not None:
            return (proba[:, 1] >= self._resolve_threshold(threshold)).astype(np.int64)
        return break_ties(proba, tie_break, self.class_balance_, seed)

    def _resolve_threshold(self, threshold: float | str) -> float:
        if self.cardinality_ != 2:
            raise ParameterError(
                f"threshold applies to binary label models; this one has {self.cardinality_} "
                "classes"
            )
        if threshold == "f1":
            return float(self.f1_threshold_)
        if (
            isinstance(threshold, str | bool)
            or not isinstance(threshold, Real)
            or not 0.0 <= float(threshold) <= 1.0
        ):
            raise ParameterError(
                f"threshold must be a probability in [0, 1] or 'f1'; got {threshold!r}"
            )
        return float(threshold)

    @snorkel_keywords(**SNORKEL_SCORE)
    def score(
        self,
        L: Any,
        y: Any,
        *,
        metric: str = "accuracy",
        tie_break: str = "prior",
        threshold: float | str | None = None,
    ) -> float:
        """Score predictions against gold labels ``y``.

        ``metric`` is one of ``accuracy``, ``f1`` / ``precision`` / ``recall`` (binary, class 1
        positive), ``f1_macro``, ``log_loss``, ``roc_auc`` (of ``predict_proba``: binary, or
        the mean of each class against the rest) and ``coverage`` (the share of rows given a
        class: those tied between classes are not when ``tie_break="abstain"``). Rows predicted
        ``-1`` count as wrong. ``threshold`` is passed to :meth:`predict` (``"f1"`` for the
        F1-optimal binary decision). A Series ``y`` is matched to the rows of a LabelMatrix or
        DataFrame ``L`` by its index; anything else by position. Accuracy, log-loss and
        coverage of no rows are NaN, as is the ROC AUC of a class no row (or every row) holds.

        Raises
        ------
        DataError
            When ``y`` does not hold one class of the model (0..k-1) per row of ``L``; the
            message names the first row at fault.
        ParameterError
            For an unknown metric or tie_break, an invalid threshold, or a binary metric of a
            model with more classes.
        """
        if metric not in METRICS:
            raise ParameterError(f"metric must be one of {METRICS}; got {metric!r}")
        _check_tie_break(tie_break)
        self._check_fitted()
        if metric in _BINARY_METRICS and self.cardinality_ != 2:
            raise ParameterError(
                f"metric {metric!r} scores class 1 of a binary task; this label model has "
                f"{self.cardinality_} classes: use 'f1_macro' or 'accuracy'"
            )
        L = as_label_input(L)
        k = self.cardinality_
        bound = f"the label model has cardinality {k} (classes 0..{k - 1})"
        gold = gold_labels(y, "y", _row_index(L), below=k, bound=bound)
        proba = self.predict_proba(L)
        if proba.shape[0] != gold.shape[0]:
            raise DataError(f"L has {proba.shape[0]} rows but y has {gold.shape[0]} labels")
        if metric == "log_loss":
            if not gold.size:
                return float("nan")
            picked = proba[np.arange(gold.shape[0]), gold]
            return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))
        if metric == "roc_auc":
            return roc_auc(gold, proba)
        predicted = self._decide(proba, tie_break, 0, threshold)
        if metric == "coverage":
            return float(np.mean(predicted >= 0)) if predicted.size else float("nan")
        return classification_metric(gold, predicted, metric, self.cardinality_)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to the directory ``path``: ``label_model.json`` plus ``arrays.npz``, no pickle.

        Raises
        ------
        OutputError
            When ``path`` is a file or lies under one.
        """
        self._check_fitted()
        directory = Path(path)
        _make_directory(directory)
        arrays = {name: np.asarray(getattr(self, name)) for name in self._fitted_arrays}
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "model": self.name,
            "params": {k: _jsonable(v) for k, v in self.get_params().items()},
            "cardinality_": int(self.cardinality_),
            "n_sources_": int(self.n_sources_),
            "lf_names_": self.lf_names_,
            "f1_threshold_": None if np.isnan(self.f1_threshold_) else float(self.f1_threshold_),
            "extra": self._extra_state(),
        }
        # The metadata is encoded before anything is written: a parameter JSON cannot hold
        # must not leave new arrays beside the metadata of the model saved there before.
        meta_text = json.dumps(meta, indent=2)
        with atomic_path(directory / _ARRAYS_FILE) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
        atomic_write_text(directory / _META_FILE, meta_text)
        return directory

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _restore_extra_state(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` saved."""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BaseLabelModel:
        """Load a model saved by :meth:`save`.

        ``BaseLabelModel.load`` loads any registered model, as
        :func:`~gristmill.labelmodel.load_label_model` does.

        Raises
        ------
        LabelModelError
            When the directory holds no saved label model, one of another class, or a corrupt
            or partial one (the message names the file and what is wrong).
        """
        if cls is BaseLabelModel:
            # The base class fits nothing: the saved model's own class must predict.
            from gristmill.labelmodel._registry import load_saved_model

            return load_saved_model(path)
        meta, arrays = read_saved(path)
        if meta["model"] != cls.name:
            raise LabelModelError(
                f"{path}: holds a {meta['model']!r} label model, not {cls.name!r}; "
                "use gristmill.labelmodel.load_label_model to load any model"
            )
        return cls._from_saved(meta, arrays, path)

    @classmethod
    def _from_saved(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike[str]
    ) -> BaseLabelModel:
        """The model saved in ``path``, from what :func:`read_saved` read there.

        Raises
        ------
        LabelModelError
            Naming the file and the parameter, key or array that is unknown, missing or wrong.
        """
        meta_path, arrays_path = Path(path) / _META_FILE, Path(path) / _ARRAYS_FILE
        valid = cls._param_names()
        unknown = sorted(set(meta["params"]) - set(valid))
        if unknown:
            raise LabelModelError(
                f"{meta_path}: unknown parameter(s) {unknown} of {cls.__name__}; valid: {valid}"
            )
        missing = [name for name in cls._fitted_arrays if name not in arrays]
        if missing:
            raise LabelModelError(f"{arrays_path}: missing array(s) {missing}")
        model = cls(**meta["params"])
        try:
            model._check_params()
            model.cardinality_ = int(meta["cardinality_"])
            model.n_sources_ = int(meta["n_sources_"])
            model.lf_names_ = meta["lf_names_"]
            saved_threshold = meta.get("f1_threshold_")
            model.f1_threshold_ = (
                float("nan") if saved_threshold is None else float(saved_threshold)
            )
            for name in cls._fitted_arrays:
                setattr(model, name, arrays[name])
            model._restore_extra_state(meta.get("extra", {}))
        except KeyError as exc:
            raise LabelModelError(f"{meta_path}: 'extra' lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise LabelModelError(f"{meta_path}: corrupt label model: {exc}") from None
        _check_saved_shapes(model, arrays_path)
        return model


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries of this process, found once (a scan costs about 2 ms per fit).

    Found on the first fit, after numpy and scipy, whose BLAS the fits use, are loaded.
    """
    return ThreadpoolController()


def _check_tie_break(tie_break: Any) -> None:
    if tie_break not in TIE_BREAKS:
        raise ParameterError(f"tie_break must be one of {TIE_BREAKS}; got {tie_break!r}")


def check_seed(seed: Any, where: str) -> None:
    """Raise ValueError unless ``seed`` is an int (not a bool) >= 0; ``where`` names the call."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(
            f"The 'seed' argument of {where} must be an int >= 0. Got {seed!r} instead."
        )


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (numpy's included), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool | np.bool_)


def check_int_param(model: Any, param: str, low: int) -> None:
    """Raise ValueError unless ``model.<param>`` is an int (not a bool) >= ``low``."""
    value = getattr(model, param)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ParameterError(
            f"The '{param}' parameter of {type(model).__name__} must be an int >= {low}. "
            f"Got {value!r} instead."
        )


def read_saved(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the metadata and arrays of a saved label model directory.

    Raises
    ------
    LabelModelError
        When a file is missing or unreadable, or the metadata lacks a key or has one of the
        wrong type (the message names the file and the key).
    """
    directory = Path(path)
    meta_path, arrays_path = directory / _META_FILE, directory / _ARRAYS_FILE
    if not meta_path.is_file() or not arrays_path.is_file():
        raise LabelModelError(
            f"{directory}: no saved label model ({_META_FILE} and {_ARRAYS_FILE})"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelModelError(f"{meta_path}: not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise LabelModelError(f"{meta_path}: not a gristmill label model")
    for key, types in _META_TYPES.items():
        if key not in meta:
            raise LabelModelError(f"{meta_path}: missing key {key!r}")
        if not isinstance(meta[key], types) or isinstance(meta[key], bool):
            raise LabelModelError(
                f"{meta_path}: {key!r} holds a {type(meta[key]).__name__}; expected "
                + " or ".join(t.__name__ for t in types)
            )
    return meta, _read_arrays(arrays_path)


def _read_arrays(arrays_path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive of numeric arrays (never unpickled)."""
    if not zipfile.is_zipfile(arrays_path):
        raise LabelModelError(f"{arrays_path}: not an .npz archive of arrays")
    try:
        with np.load(arrays_path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LabelModelError(f"{arrays_path}: unreadable: {exc}") from None


def _check_saved_shapes(model: BaseLabelModel, arrays_path: Path) -> None:
    """Raise LabelModelError unless the loaded arrays fit ``cardinality_`` and ``n_sources_``."""
    k, m = model.cardinality_, model.n_sources_
    if not 2 <= k <= MAX_CLASSES or m < 1:
        raise LabelModelError(f"{arrays_path}: saved with {k} classes and {m} sources")
    if model.lf_names_ is not None and len(model.lf_names_) != m:
        raise LabelModelError(
            f"{arrays_path}: saved with {len(model.lf_names_)} labeling function names for "
            f"{m} sources"
        )
    expected = {
        "class_balance_": (k,),
        "lf_accuracies_": (m,),
        "confusion_": (m, k, k),
        "weights_": (m, k, k),
        "bias_": (k,),
    }
    for name, shape in expected.items():
        array = getattr(model, name)
        if array.shape != shape or array.dtype.kind != "f":
            raise LabelModelError(
                f"{arrays_path}: {name!r} has shape {array.shape} and dtype {array.dtype}; "
                f"expected floats of shape {shape}"
            )


# --------------------------------------------------------------------- shared helpers
def row_max(values: np.ndarray) -> np.ndarray:
    """Maximum of each row of an (n, k) array, shape (n,)."""
    if values.shape[1] > _FEW_COLUMNS:
        return np.asarray(values.max(axis=1))
    return functools.reduce(np.maximum, (values[:, c] for c in range(values.shape[1])))


def row_sum(values: np.ndarray) -> np.ndarray:
    """Sum of each row of an (n, k) array, shape (n,)."""
    if values.shape[1] > _FEW_COLUMNS:
        return np.asarray(values.sum(axis=1))
    return functools.reduce(np.add, (values[:, c] for c in range(values.shape[1])))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in a new array."""
    shifted = scores - row_max(scores)[:, None]
    np.exp(shifted, out=shifted)
    shifted /= row_sum(shifted)[:, None]
    return shifted


def log_normalizer(scores: np.ndarray) -> np.ndarray:
    """Row-wise ``log(sum(exp(scores)))``, shape (n,)."""
    top = row_max(scores)
    return top + np.log(row_sum(np.exp(scores - top[:, None])))


def logistic(scores: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``1 / (1 + e^-x)`` and ``log(1 + e^x)`` of binary scores x, from one exponential.

    Both from ``e = exp(-|x|)``, so nothing overflows: the sigmoid is ``1 / (1 + e)`` where
    x >= 0 and ``e / (1 + e)`` elsewhere, and ``log(1 + e^x) = max(x, 0) + log(1 + e)``. numpy's
    exp and log are vectorised, which makes this several times faster than ``scipy.special.expit``
    on the million-row arrays of a large fit. ``scores`` is overwritten: it becomes the second
    result; the sigmoid goes to ``out`` when given. Working in place spares the fresh memory of
    temporaries, whose page faults cost as much as the arithmetic on large arrays.
    """
    tail = np.abs(scores)
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)
    sigmoid = np.empty_like(scores) if out is None else out
    np.copyto(sigmoid, tail)
    np.copyto(sigmoid, 1.0, where=scores >= 0)
    tail += 1.0
    sigmoid /= tail
    np.log(tail, out=tail)
    np.maximum(scores, 0.0, out=scores)
    scores += tail
    return sigmoid, scores


def usable_sources(votes: Votes) -> int:
    """Number of sources that vote on at least one row."""
    return int((votes.source_class_counts().sum(axis=1) > 0).sum())


def shared_rows(votes: Votes, seed: int) -> np.ndarray:
    """Per source, the (weighted) number of rows on which it and at least one other source vote.

    Counted on the pattern sample (``seed`` picks its hash) and scaled to all the rows.
    """
    sample = votes.pattern_sample(PATTERN_SAMPLE, seed)
    several = (np.diff(sample.indicator.indptr) >= 2).astype(np.float64)
    counts = sample.transpose_dot(sample.weighted(several))
    scale = votes.total_weight / max(sample.total_weight, 1e-12)
    return counts.reshape(votes.n_sources, -1).sum(axis=1) * scale


def warn_unidentifiable(model: str, votes: Votes, seed: int, *, depth: int = 0) -> bool:
    """Warn and return True when the votes cannot identify a latent-variable model.

    That is when fewer than :data:`MIN_IDENTIFIABLE_SOURCES` sources vote, or fewer vote on
    :data:`MIN_SHARED_ROWS` rows together with another source (sources that always vote alone,
    such as question-word rules of which at most one matches, carry no agreement to learn from).
    ``depth`` counts the calls between the model's ``_fit`` and this one, so that the warning
    points at the user's ``fit`` call.
    """
    used = usable_sources(votes)
    fallback = f"falling back to a vote with every accuracy set to {FALLBACK_ACCURACY}"
    if used < MIN_IDENTIFIABLE_SOURCES:
        message = (
            f"{model}: only {used} labeling function(s) vote, fewer than the "
            f"{MIN_IDENTIFIABLE_SOURCES} needed to estimate accuracies without gold labels; "
            + fallback
        )
    else:
        shared = shared_rows(votes, seed) >= MIN_SHARED_ROWS
        if shared.sum() >= MIN_IDENTIFIABLE_SOURCES:
            return False
        message = (
            f"{model}: only {int(shared.sum())} of the {used} voting labeling functions vote on "
            f"{MIN_SHARED_ROWS:g} or more rows together with another one, fewer than the "
            f"{MIN_IDENTIFIABLE_SOURCES} needed to estimate accuracies without gold labels (the "
            "labeling functions almost never vote on the same row); " + fallback
        )
    # fit, wrapped by snorkel_keywords, is two frames: 5 reaches the user's call.
    warnings.warn(message, IdentifiabilityWarning, stacklevel=5 + depth)
    return True


def symmetric_confusion(accuracies: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices (m, k, k) with ``accuracies`` on the diagonal, errors spread evenly."""
    acc = np.asarray(accuracies, dtype=np.float64)[:, None, None]
    eye = np.eye(k)[None]
    return eye * acc + (1 - eye) * (1 - acc) / (k - 1)


def naive_bayes_weights(confusion: np.ndarray) -> np.ndarray:
    """Weights ``log P(vote v | y = c)`` laid out as ``weights[j, v, c]``."""
    return np.log(np.clip(confusion, 1e-6, 1.0)).transpose(0, 2, 1).copy()


def accuracies_from_confusion(
    confusion: np.ndarray, class_balance: np.ndarray, votes: Votes
) -> np.ndarray:
    """P(correct | votes) per source: the diagonal averaged over the prior; NaN if never voting."""
    diagonal = np.einsum("jcc->jc", confusion)
    accuracies = diagonal @ class_balance
    silent = votes.source_class_counts().sum(axis=1) == 0
    accuracies[silent] = np.nan
    return accuracies


def accuracies_from_posteriors(votes: Votes, posteriors: np.ndarray) -> np.ndarray:
    """P(y = vote | the source votes) per source, expected under ``posteriors``; NaN if silent.

    ``posteriors`` (n, k) belong to the rows of ``votes`` (weighted by their row weights).
    """
    counts = votes.expected_counts(posteriors)  # [source, vote, class]
    agree = np.einsum("jvv->j", counts)
    total = counts.sum(axis=(1, 2))
    return np.divide(agree, total, out=np.full(total.shape, np.nan), where=total > 0)


def vote_share(votes: Votes) -> np.ndarray:
    """Fraction of all votes cast for each class (uniform when there are none), shape (k,)."""
    totals = votes.source_class_counts().sum(axis=0) + 1.0
    return totals / totals.sum()


def fallback_fit(model: BaseLabelModel, votes: Votes, prior: np.ndarray | None) -> None:
    """Fit ``model`` as a naive Bayes vote with every accuracy = :data:`FALLBACK_ACCURACY`."""
    k = votes.cardinality
    balance = prior if prior is not None else vote_share(votes)
    accuracies = np.full(votes.n_sources, FALLBACK_ACCURACY)
    model.confusion_ = symmetric_confusion(accuracies, k)
    model.weights_ = naive_bayes_weights(model.confusion_)
    model.bias_ = np.log(balance)
    model.class_balance_ = balance
    model.lf_accuracies_ = accuracies_from_confusion(model.confusion_, balance, votes)


def classification_metric(gold: np.ndarray, predicted: np.ndarray, metric: str, k: int) -> float:
    """Accuracy, binary precision/recall/F1 (class 1 positive) or macro F1 of predictions.

    Macro F1 averages over the classes present in ``gold`` or ``predicted`` (as scikit-learn's
    ``f1_score(average="macro")``): a class neither holds is not scored 0.
    """
    if metric == "accuracy":
        return float(np.mean(gold == predicted)) if gold.size else float("nan")
    if metric == "f1_macro":
        present = np.union1d(gold, predicted)
        present = present[(present >= 0) & (present < k)]
        if not present.size:
            return float("nan")
        return float(np.mean([_f1(gold == c, predicted == c) for c in present]))
    true_pos = np.sum((gold == 1) & (predicted == 1))
    if metric == "precision":
        positives = np.sum(predicted == 1)
        return float(true_pos / positives) if positives else 0.0
    if metric == "recall":
        actual = np.sum(gold == 1)
        return float(true_pos / actual) if actual else 0.0
    return _f1(gold == 1, predicted == 1)


def roc_auc(gold: np.ndarray, proba: np.ndarray) -> float:
    """Area under the ROC curve of ``proba`` (n, k): of class 1 when k = 2, else the mean over
    classes of each against the rest (scikit-learn's ``roc_auc_score``, ``multi_class="ovr"``,
    macro average). NaN when a scored class is held by no row or by every row.
    """
    from sklearn.metrics import roc_auc_score

    classes = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    scores = []
    for c in classes:
        positive = gold == c
        if positive.all() or not positive.any():
            return float("nan")
        scores.append(roc_auc_score(positive, proba[:, c]))
    return float(np.mean(scores))


def _f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    true_pos = float(np.sum(gold & predicted))
    denominator = float(np.sum(gold) + np.sum(predicted))
    return 2 * true_pos / denominator if denominator else 0.0


def break_ties(proba: np.ndarray, tie_break: str, balance: np.ndarray, seed: int) -> np.ndarray:
    top = row_max(proba)[:, None]
    tied = proba >= top * (1 - _TIE_TOLERANCE)
    n_tied = row_sum(tied.astype(np.int8))
    predicted = np.argmax(proba, axis=1).astype(np.int64)
    ties = np.flatnonzero(n_tied > 1)
    if ties.size == 0:
        return predicted
    if tie_break == "abstain":
        predicted[ties] = -1
    elif tie_break == "prior":
        predicted[ties] = np.argmax(np.where(tied[ties], balance[None, :], -np.inf), axis=1)
    else:
        rng = np.random.default_rng(seed)
        noise = rng.random((ties.size, proba.shape[1]))
        predicted[ties] = np.argmax(np.where(tied[ties], noise, -1.0), axis=1)
    return predicted


def _row_index(L: Any) -> pd.Index | None:
    """Row labels of a label matrix that has them (a LabelMatrix, as DataFrames become)."""
    return pd.Index(L.index) if isinstance(L, LabelMatrix) else None


def _class_balance_array(class_balance: Any) -> np.ndarray | None:
    """``class_balance`` as a float array of shape (k,); the sum and signs are checked later."""
    if class_balance is None:
        return None
    if isinstance(class_balance, Mapping | str | bytes):
        raise DataError(
            "class_balance must be a sequence of probabilities, one per class from class 0; "
            f"got a {type(class_balance).__name__}"
        )
    try:
        balance = np.asarray(class_balance, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"class_balance must hold one probability per class; got {class_balance!r}"
        ) from None
    if balance.ndim != 1:
        raise DataError(
            f"class_balance must be 1-D, one probability per class; got shape {balance.shape}"
        )
    if balance.shape[0] > MAX_CLASSES:
        raise DataError(
            f"class_balance has {balance.shape[0]} entries; a label model takes at most "
            f"{MAX_CLASSES} classes"
        )
    return balance


def _check_class_balance(balance: np.ndarray | None, k: int) -> np.ndarray | None:
    if balance is None:
        return None
    if balance.shape != (k,):
        raise DataError(
            f"class_balance must have one entry per class ({k}); got shape {balance.shape}"
        )
    bad = ~np.isfinite(balance) | (balance <= 0)
    if bad.any():
        c = int(np.argmax(bad))
        raise DataError(
            f"class_balance[{c}] is {float(balance[c])!r}; entries must be finite and > 0"
        )
    if not np.isclose(balance.sum(), 1.0, atol=1e-6):
        raise DataError(f"class_balance must sum to 1; it sums to {balance.sum():.6g}")
    return balance / balance.sum()


def _make_directory(directory: Path) -> None:
    """Create ``directory`` and its parents, unless it exists; OutputError if a file is in the way.

    ``mkdir`` alone raises a bare FileExistsError or NotADirectoryError there.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()),
            directory,
        )
        where = "is a file" if blocker == directory else f"lies under {blocker}, which is a file"
        raise OutputError(f"{directory}: {where}; a label model is saved to a directory") from None


def _jsonable(value: Any) -> Any:
    """A hyperparameter as JSON holds it: numpy scalars as numbers, arrays, Series and other
    sequences (tuples, ranges) as lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | pd.Series | pd.Index):
        return value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_jsonable(item) for item in value]
    return value
