"""The end model: featurisation plus a noise-aware classifier, saved without pickle."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill._version import __version__
from gristmill.exceptions import DataError, NotFittedError, ParameterError
from gristmill.io import check_replaceable, replace_directory
from gristmill.training._classifiers import CLASSIFIERS, OneVsRest
from gristmill.training._features import Featurizer
from gristmill.training._multitask import (
    MultiTaskModel,
    load_multitask_model,
    save_multitask_model,
)

__all__ = ["EndModel", "load_end_model", "save_end_model"]

_FORMAT = "gristmill.end_model/1"


class EndModel:
    """A classifier over payload columns, trained on probabilistic labels.

    Parameters
    ----------
    payloads : mapping
        Payload column -> kind (or options), as for :class:`~gristmill.training.Featurizer`.
    classes : sequence of str
        Class names; column ``j`` of the probabilities is ``classes[j]``.
    learner : {"logreg", "lightgbm", "mlp"}, default "logreg"
    params : mapping, optional
        Hyperparameters of the learner.
    target : {"soft", "hard"}, default "soft"
        ``"soft"`` fits the probabilistic labels themselves (noise-aware loss or per-class row
        weights); ``"hard"`` fits their most probable class, as the Snorkel tutorials do.
        Soft labels are the principled choice, but a badly calibrated label model can make
        them too flat; the search tries both and keeps what scores better.
    seed : int, default 0
    multilabel : bool, default False
        Each row carries any subset of ``classes``: the probabilistic labels are (n, k)
        independent probabilities that each label is present, the learner is fit one-vs-rest
        (:class:`~gristmill.training.OneVsRest`), and ``"hard"`` targets threshold them at 0.5.

    Attributes
    ----------
    featurizer_ : Featurizer
    classifier_ : object
        The fitted learner.
    classes_ : numpy.ndarray of str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> texts = ["win cash now", "lovely song", "cash prize win", "great song"]
    >>> frame = pd.DataFrame({"text": texts})
    >>> probs = np.array([[0.1, 0.9], [0.9, 0.1], [0.2, 0.8], [0.8, 0.2]])
    >>> model = EndModel({"text": {"kind": "text", "min_df": 1}}, ["ham", "spam"]).fit(frame, probs)
    >>> model.predict(pd.DataFrame({"text": ["win cash"]})).tolist()
    ['spam']
    """

    def __init__(
        self,
        payloads: Mapping[str, Any],
        classes: Sequence[str],
        *,
        learner: str = "logreg",
        params: Mapping[str, Any] | None = None,
        target: str = "soft",
        seed: int = 0,
        multilabel: bool = False,
    ) -> None:
        if learner not in CLASSIFIERS:
            raise ParameterError(
                f"The 'learner' parameter of EndModel must be one of {sorted(CLASSIFIERS)}. "
                f"Got {learner!r} instead."
            )
        if target not in ("soft", "hard"):
            raise ParameterError(
                "The 'target' parameter of EndModel must be 'soft' or 'hard'. "
                f"Got {target!r} instead."
            )
        if len(classes) < 2:
            raise ParameterError(
                f"EndModel needs at least 2 classes. Got {list(classes)!r} instead."
            )
        self.payloads = dict(payloads)
        self.classes = list(classes)
        self.learner = learner
        self.params = dict(params or {})
        self.target = target
        self.seed = seed
        self.multilabel = multilabel

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn convention)."""
        return {
            "payloads": self.payloads,
            "classes": self.classes,
            "learner": self.learner,
            "params": self.params,
            "target": self.target,
            "seed": self.seed,
            "multilabel": self.multilabel,
        }

    @property
    def payload_columns(self) -> list[str]:
        """The input columns the model reads."""
        return list(self.payloads)

    def _make_classifier(self) -> Any:
        params = {**self.params}
        params.setdefault("seed", self.seed)
        if self.multilabel:
            return OneVsRest(CLASSIFIERS[self.learner], **params)
        return CLASSIFIERS[self.learner](**params)

    def fit(
        self,
        frame: pd.DataFrame,
        probs: np.ndarray,
        *,
        features: Any = None,
        featurizer: Featurizer | None = None,
        deadline: float | None = None,
    ) -> EndModel:
        """Fit featurizer and classifier on ``frame`` with (n, k) probabilistic labels.

        ``featurizer`` / ``features`` may pass an already fitted featurizer and its matrix for
        ``frame`` (the search reuses them across trials). ``deadline``, a
        :func:`time.monotonic` instant, stops the classifier's fit once it has passed.

        Raises
        ------
        DataError
            When ``probs`` is not (len(frame), len(classes)).
        DeadlinePassed
            When ``deadline`` passed during the fit (the model is then not fitted).
        """
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (len(frame), len(self.classes)):
            raise DataError(
                f"probabilistic labels must have shape ({len(frame)}, {len(self.classes)}). "
                f"Got {probs.shape} instead."
            )
        self.featurizer_ = (
            featurizer if featurizer is not None else Featurizer(self.payloads).fit(frame)
        )
        X = features if features is not None else self.featurizer_.transform(frame)
        if self.target == "hard":
            probs = (
                (probs >= 0.5).astype(np.float64)
                if self.multilabel
                else np.eye(len(self.classes))[probs.argmax(axis=1)]
            )
        self.classifier_ = self._make_classifier().fit(X, probs, deadline=deadline)
        self.classes_ = np.asarray(self.classes, dtype=object)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "classifier_"):
            raise NotFittedError("This EndModel is not fitted yet; call fit first.")

    def transform(self, frame: pd.DataFrame) -> Any:
        """Return the feature matrix of ``frame``."""
        self._check_fitted()
        return self.featurizer_.transform(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return (n, k) class probabilities for a DataFrame of the payload columns.

        For a multilabel model, column ``j`` is the probability that label ``j`` is present.
        """
        features = self.transform(frame)  # which checks that the model is fitted
        return np.asarray(self.classifier_.predict_proba(features))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the most probable class name of each row.

        A multilabel model returns, per row, the list of labels with probability >= 0.5.
        """
        proba = self.predict_proba(frame)
        if self.multilabel:
            out = np.empty(len(proba), dtype=object)
            out[:] = [list(self.classes_[row >= 0.5]) for row in proba]
            return out
        return self.classes_[proba.argmax(axis=1)]

    def __repr__(self) -> str:
        return (
            f"EndModel(learner={self.learner!r}, classes={self.classes!r}, params={self.params!r})"
        )


def save_end_model(model: EndModel | MultiTaskModel, path: str | os.PathLike[str]) -> Path:
    """Save a fitted end model to a directory (JSON + npz, LightGBM text; no pickle).

    The directory is written beside its target and renamed into place, so a crash never leaves
    a half-written model. A :class:`~gristmill.training.MultiTaskModel` is saved as one such
    directory per task. An existing ``path`` is replaced only when it is empty or a saved
    model: a folder of other files is never deleted.

    Returns
    -------
    pathlib.Path
        The model directory.

    Raises
    ------
    OutputError
        When ``path`` is a file or a directory holding files that are not a saved model.
    """
    path = Path(path)
    if isinstance(model, MultiTaskModel):
        return save_multitask_model(model, path)  # which checks ``path`` itself
    check_model_target(path)
    model._check_fitted()
    featurizer_params, arrays = model.featurizer_.state()
    classifier_params, classifier_arrays, text = model.classifier_.state()
    arrays.update({f"classifier.{k}": v for k, v in classifier_arrays.items()})
    meta = {
        "format": _FORMAT,
        "gristmill_version": __version__,
        "learner": model.learner,
        "params": model.params,
        "target": model.target,
        "seed": model.seed,
        "multilabel": model.multilabel,
        "classes": model.classes,
        "payloads": model.payloads,
        "featurizer": featurizer_params,
        "classifier": classifier_params,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / "end_model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        np.savez(tmp / "arrays.npz", allow_pickle=False, **arrays)
        if text is not None:
            (tmp / "lightgbm.txt").write_text(text, encoding="utf-8")
        replace_directory(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def check_model_target(path: Path) -> None:
    """Refuse to save a model over anything but nothing, an empty folder or a saved model.

    Raises
    ------
    OutputError
        Naming ``path``.
    """
    if (path / "multitask.json").is_file():  # a multi-task model's folder holds no end_model.json
        return
    check_replaceable(path, "end_model.json", "saved gristmill end model")


def load_end_model(path: str | os.PathLike[str]) -> EndModel | MultiTaskModel:
    """Load an end model (or a multi-task model) saved by :func:`save_end_model`.

    Raises
    ------
    DataError
        When the directory is missing or not a saved end model.
    """
    path = Path(path)
    if (path / "multitask.json").is_file():
        return load_multitask_model(path)
    meta_path = path / "end_model.json"
    if not meta_path.is_file():
        raise DataError(f"{path}: not a saved end model (no end_model.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != _FORMAT:
        raise DataError(f"{meta_path}: unknown format {meta.get('format')!r}; expected {_FORMAT!r}")
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    text_path = path / "lightgbm.txt"
    text = text_path.read_text(encoding="utf-8") if text_path.exists() else None
    model = EndModel(
        meta["payloads"],
        meta["classes"],
        learner=meta["learner"],
        params=meta["params"],
        target=meta.get("target", "soft"),
        seed=meta["seed"],
        multilabel=bool(meta.get("multilabel", False)),
    )
    model.featurizer_ = Featurizer.from_state(meta["featurizer"], arrays)
    classifier = model._make_classifier()
    prefix = "classifier."
    classifier.set_state(
        meta["classifier"],
        {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
        text,
    )
    model.classifier_ = classifier
    model.classes_ = np.asarray(model.classes, dtype=object)
    return model
