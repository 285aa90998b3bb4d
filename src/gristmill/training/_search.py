"""Model search with Optuna under a budget, then the winner refit.

Selection uses the gold dev set when there is one. Without gold dev labels, a held-out part of the
training rows is scored against the argmax of its *probabilistic* labels. That needs no gold but
rewards agreeing with the label model, mistakes included, so it can prefer a model that copies
the label model's errors; prefer a small gold dev set when you can label one.

Multilabel tasks search the same way with one-vs-rest learners, scored by
:func:`~gristmill.training.multilabel_metrics` (``accuracy`` is then subset accuracy, ``f1`` micro
F1); without gold, held-out rows are scored against their labels of probability >= 0.5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError, ParameterError
from gristmill.training._classifiers import DeadlinePassed
from gristmill.training._end_model import EndModel
from gristmill.training._features import Featurizer
from gristmill.training._metrics import task_metrics

__all__ = [
    "DEFAULT_SEARCH_SPACE",
    "SEARCH_PARAMS",
    "ParamDomain",
    "SearchResult",
    "available_learners",
    "check_search_param",
    "search_end_model",
    "search_space_problems",
]

# learner -> parameter -> (low, high) range, list of choices, or a fixed value.
DEFAULT_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "logreg": {"C": (0.05, 50.0), "class_weight": [None, "balanced"]},
    "lightgbm": {
        "n_estimators": (50, 300),
        "learning_rate": (0.03, 0.3),
        "num_leaves": (8, 48),
        "min_child_samples": (3, 30),
        "colsample": (0.3, 1.0),
    },
    "mlp": {
        "hidden": (32, 128),
        "lr": (3e-4, 3e-3),
        "epochs": (3, 15),
        "dropout": (0.0, 0.5),
        "weight_decay": (1e-6, 1e-2),
    },
}


@dataclass(frozen=True)
class ParamDomain:
    """The values a learner's hyperparameter takes: numbers between bounds, or fixed choices.

    Attributes
    ----------
    kind : {"int", "float", "choice"}
        Integers, real numbers (integers too; searched as reals), or one of ``choices``.
    low, high : float, optional
        Bounds of a number; inclusive unless ``low_open`` / ``high_open``.
    choices : tuple
        The values of a ``"choice"`` parameter.
    """

    kind: Literal["int", "float", "choice"]
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is a value of this parameter."""
        if self.kind == "choice":
            return any(value is c or (value == c and type(value) is type(c)) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        """What the parameter takes, e.g. ``a number > 0`` or ``one of [None, 'balanced']``."""
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"{noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        return noun


SEARCH_PARAMS: dict[str, dict[str, ParamDomain]] = {
    "logreg": {
        "C": ParamDomain("float", low=0.0, low_open=True),
        "max_iter": ParamDomain("int", low=1),
        "class_weight": ParamDomain("choice", choices=(None, "balanced")),
    },
    "lightgbm": {
        "n_estimators": ParamDomain("int", low=1),
        "learning_rate": ParamDomain("float", low=0.0, low_open=True),
        "num_leaves": ParamDomain("int", low=2),
        "min_child_samples": ParamDomain("int", low=0),
        "reg_lambda": ParamDomain("float", low=0.0),
        "colsample": ParamDomain("float", low=0.0, high=1.0, low_open=True),
    },
    "mlp": {
        "hidden": ParamDomain("int", low=1),
        "dropout": ParamDomain("float", low=0.0, high=1.0, high_open=True),
        "lr": ParamDomain("float", low=0.0, low_open=True),
        "weight_decay": ParamDomain("float", low=0.0),
        "epochs": ParamDomain("int", low=1),
        "batch_size": ParamDomain("int", low=1),
    },
}
"""The hyperparameters each learner may search (``seed`` is the search's) and their domains."""


def _is_range(spec: Any) -> bool:
    """Whether a search-space entry is a ``[low, high]`` range: a pair of numbers."""
    return (
        isinstance(spec, list | tuple)
        and len(spec) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec)
    )


def check_search_param(learner: str, name: str, spec: Any) -> None:
    """Check one search-space entry: a ``[low, high]`` range, a list of choices, or a value.

    A pair of numbers is a range (both bounds in the parameter's domain, ``low <= high``);
    any other list holds choices, each in the domain; anything else is a fixed value.

    Raises
    ------
    ParameterError
        For an unknown learner or parameter, a value of the wrong type or outside the domain,
        a reversed range, or an empty list of choices.

    Examples
    --------
    >>> check_search_param("logreg", "C", [5, 1])
    Traceback (most recent call last):
    ...
    gristmill.exceptions.ParameterError: the range [5, 1] of logreg's 'C' is reversed; write [1, 5]
    """
    if learner not in SEARCH_PARAMS:
        raise ParameterError(_unknown_learner(learner))
    domains = SEARCH_PARAMS[learner]
    if name not in domains:
        raise ParameterError(f"{learner} has no parameter {name!r}; it takes {sorted(domains)}")
    domain = domains[name]
    what = f"{learner}'s {name!r}"
    if _is_range(spec) and domain.kind != "choice":
        low, high = spec
        for bound in (low, high):
            if not domain.admits(bound):
                raise ParameterError(
                    f"the range [{low!r}, {high!r}] of {what} must have bounds that are "
                    f"{domain.describe()}; {bound!r} is not"
                )
        if low > high:
            raise ParameterError(
                f"the range [{low!r}, {high!r}] of {what} is reversed; write [{high!r}, {low!r}]"
            )
        return
    values = list(spec) if isinstance(spec, list | tuple) else [spec]
    if not values:
        raise ParameterError(f"the list of choices of {what} is empty")
    if domain.kind == "choice":
        forms = f"{domain.describe()} or a list of them"
    else:
        forms = f"{domain.describe()}, a [low, high] range or a list of such values"
    for value in values:
        if not domain.admits(value):
            raise ParameterError(f"{what} takes {forms}; got {value!r}{_number_text_hint(value)}")


def _unknown_learner(learner: str) -> str:
    return f"unknown learner {learner!r}; choose one of {sorted(SEARCH_PARAMS)}"


def _number_text_hint(value: Any) -> str:
    """A hint when ``value`` is a number written as text (YAML 1.1 reads ``1e-3`` so)."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    return " (text, not a number: in YAML write exponents with a dot, 1.0e-3 rather than 1e-3)"


def search_space_problems(
    search_space: Mapping[str, Mapping[str, Any]], candidates: Sequence[str]
) -> list[tuple[tuple[str, ...], str]]:
    """Every problem of per-learner search-space overrides, as ``(key path, message)``.

    A learner must be known and among ``candidates`` (else its space would go unused); each
    entry must pass :func:`check_search_param`.

    Examples
    --------
    >>> search_space_problems({"mlp": {"hidden": 64}}, ["logreg"])[0][0]
    ('mlp',)
    """
    problems: list[tuple[tuple[str, ...], str]] = []
    for learner, space in search_space.items():
        if learner not in SEARCH_PARAMS:
            problems.append(((learner,), _unknown_learner(learner)))
            continue
        if learner not in candidates:
            problems.append(
                (
                    (learner,),
                    f"learner {learner!r} is not a candidate ({list(candidates)}), so its search "
                    "space would be ignored; add it to the candidates or remove its search space",
                )
            )
        for name, spec in space.items():
            try:
                check_search_param(learner, name, spec)
            except ParameterError as exc:
                problems.append(((learner, name), str(exc)))
    return problems


def available_learners() -> list[str]:
    """Installed learners: always ``logreg``; ``lightgbm``; ``mlp`` when torch is installed."""
    import importlib.util

    found = ["logreg"]
    if importlib.util.find_spec("lightgbm") is not None:
        found.append("lightgbm")
    if importlib.util.find_spec("torch") is not None:
        found.append("mlp")
    return found


@dataclass
class SearchResult:
    """Outcome of :func:`search_end_model`.

    Attributes
    ----------
    model : EndModel
        The winner, refit on every training row.
    trials : list of dict
        ``number``, ``params`` (with ``learner``), ``value`` and ``seconds`` of every trial.
    best_params : dict
    best_value : float
    selection : str
        ``"dev"`` (gold dev set) or ``"holdout"`` (held-out probabilistic labels).
    """

    model: EndModel
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_params: dict[str, Any] = field(default_factory=dict)
    best_value: float = float("nan")
    selection: str = "dev"


def _suggest(trial: Any, learner: str, space: Mapping[str, Any]) -> dict[str, Any]:
    """One trial's parameters: ranges (tuples) sampled as the parameter's kind, lists as choices."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        key = f"{learner}.{name}"
        if isinstance(spec, list):
            params[name] = trial.suggest_categorical(key, spec)
        elif isinstance(spec, tuple):
            low, high = spec
            log = low > 0 and high / low >= 10
            if SEARCH_PARAMS[learner][name].kind == "int":
                params[name] = trial.suggest_int(key, low, high, log=log)
            else:
                # a float parameter with integer bounds ([1, 100]) still takes any value between
                params[name] = trial.suggest_float(key, float(low), float(high), log=log)
        else:
            params[name] = spec
    return params


def _defaults_in_space(learner: str, space: Mapping[str, Any]) -> dict[str, Any]:
    """The learner's default hyperparameters that lie inside the search space, as trial values."""
    import inspect

    from gristmill.training._classifiers import CLASSIFIERS

    defaults = {
        name: p.default
        for name, p in inspect.signature(CLASSIFIERS[learner].__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    fixed = {}
    for name, spec in space.items():
        if name not in defaults:
            continue
        value = defaults[name]
        inside = (
            value in spec
            if isinstance(spec, list)
            else isinstance(spec, tuple) and spec[0] <= value <= spec[1]
        )
        if inside:
            fixed[f"{learner}.{name}"] = value
    return fixed


def _optimize(study: Any, objective: Callable[[Any], float], **budget: Any) -> None:
    """``study.optimize(objective, **budget)``; Ctrl-C stops it without Optuna's traceback.

    Optuna catches a KeyboardInterrupt raised in a trial, marks the trial failed, logs it with
    its traceback (a warning, so it is shown) and raises it again. Here the interrupted trial
    is pruned instead (logged below the level shown), the study stopped, and the interrupt
    raised again once Optuna has returned. An interrupt outside a trial reaches the caller as
    it is: Optuna logs only what the objective raises.

    Raises
    ------
    KeyboardInterrupt
        When the search was interrupted.
    """
    import optuna

    interrupted = False

    def stop_on_interrupt(trial: Any) -> float:
        nonlocal interrupted
        try:
            return objective(trial)
        except KeyboardInterrupt:
            interrupted = True
            trial.study.stop()
            raise optuna.TrialPruned("interrupted") from None

    study.optimize(stop_on_interrupt, **budget)
    if interrupted:
        raise KeyboardInterrupt


def _merge_space(
    candidates: Sequence[str],
    overrides: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """Each candidate's search space: the defaults with ``overrides``, ranges as tuples."""
    space = {}
    for learner in candidates:
        merged = dict(DEFAULT_SEARCH_SPACE[learner])
        for name, spec in (overrides or {}).get(learner, {}).items():
            if _is_range(spec):
                merged[name] = tuple(spec)
            elif isinstance(spec, list | tuple):
                merged[name] = list(spec)
            else:
                merged[name] = spec
        space[learner] = merged
    return space


def _metric_names(k: int, multilabel: bool) -> list[str]:
    """The scores of :func:`task_metrics` for ``k`` classes that a search may maximise."""
    gold: Any = np.zeros((1, k), dtype=np.int64) if multilabel else np.zeros(1, dtype=np.int64)
    scores = task_metrics(gold, gold, k)
    return sorted(set(scores) - {"n", "hamming_loss"})  # a loss is no score to maximise


def search_end_model(
    train: pd.DataFrame,
    train_probs: np.ndarray,
    *,
    payloads: Mapping[str, Any],
    classes: Sequence[str],
    dev: pd.DataFrame | None = None,
    dev_y: np.ndarray | None = None,
    candidates: Sequence[str] | None = None,
    search_space: Mapping[str, Mapping[str, Any]] | None = None,
    trials: int | None = 20,
    minutes: float | None = None,
    metric: str = "accuracy",
    holdout: float = 0.2,
    targets: Sequence[str] = ("soft", "hard"),
    seed: int = 0,
    on_trial: Callable[[int, dict[str, Any], float], None] | None = None,
    multilabel: bool = False,
) -> SearchResult:
    """Search learners and hyperparameters on probabilistic labels, then refit the winner.

    Parameters
    ----------
    train : DataFrame
        Training rows (payload columns at least).
    train_probs : ndarray of shape (n, k)
        Probabilistic labels of ``train``.
    payloads, classes
        As for :class:`EndModel`.
    dev, dev_y : DataFrame and ndarray of class indices (multilabel: (n, k) 0/1), optional
        Gold dev set used for selection. Without it, ``holdout`` of the training rows are held
        out and scored against the argmax of their probabilistic labels (see module docs).
    candidates : sequence of str, optional
        Learners to consider (default: :func:`available_learners`).
    search_space : mapping, optional
        Per-learner overrides of :data:`DEFAULT_SEARCH_SPACE`: ``[low, high]`` (a pair of
        numbers; an integer parameter is searched over integers, any other over reals), a list
        of choices, or a fixed value, for the parameters of :data:`SEARCH_PARAMS` and the
        learners among ``candidates`` (checked by :func:`search_space_problems`).
    trials : int, optional
        Maximum number of trials. The defaults of each candidate are tried first.
    minutes : float, optional
        Wall-clock budget of the trials (then their number, and so the result, depends on the
        machine's speed). A trial still running when it expires is stopped at the learner's
        next step and left out (not in ``trials``, not reported to ``on_trial``), except the
        first, which always finishes so that there is a model. Without gold dev labels the
        winner is then refit on every training row, which takes longer than its trial did.
    metric : str, default "accuracy"
        Score of :func:`~gristmill.training.task_metrics` to maximise (``precision`` and
        ``recall`` need two classes or a multilabel task).
    holdout : float, default 0.2
    targets : sequence of {"soft", "hard"}, default ("soft", "hard")
        Training targets to try (see :class:`EndModel`); the first learner is tried with each.
    seed : int, default 0
        Seeds the sampler, the holdout split and every learner; same inputs + seed + trial count
        give the same result.
    on_trial : callable, optional
        ``on_trial(number, params, value)`` after each trial (used for tracking).
    multilabel : bool, default False
        ``train_probs`` are (n, k) per-label probabilities; see :class:`EndModel`.

    Returns
    -------
    SearchResult

    Raises
    ------
    ParameterError
        For no or an unknown candidate, bad ``targets``, no budget (or ``trials`` < 1,
        ``minutes`` <= 0), ``holdout`` outside (0, 1), a ``metric`` the task does not score, or
        an invalid ``search_space``.
    KeyboardInterrupt
        On Ctrl-C, without Optuna's report of the interrupted trial as a failure.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    candidates = available_learners() if candidates is None else list(candidates)
    if not candidates:
        raise ParameterError("search_end_model needs at least one candidate learner")
    unknown = [learner for learner in candidates if learner not in DEFAULT_SEARCH_SPACE]
    if unknown:
        raise ParameterError(
            f"The 'candidates' parameter of search_end_model must name learners among "
            f"{list(DEFAULT_SEARCH_SPACE)}. Got {unknown!r} instead."
        )
    targets = list(targets)
    if not targets or set(targets) - {"soft", "hard"}:
        raise ParameterError(f"targets must be a non-empty subset of soft, hard. Got {targets!r}.")
    if trials is None and minutes is None:
        raise ParameterError("search_end_model needs a budget: trials and/or minutes")
    if trials is not None and trials < 1:
        raise ParameterError(
            f"The 'trials' parameter of search_end_model must be an int >= 1 or None. "
            f"Got {trials!r} instead."
        )
    if minutes is not None and not minutes > 0:
        raise ParameterError(
            f"The 'minutes' parameter of search_end_model must be > 0 or None. "
            f"Got {minutes!r} instead."
        )
    if not 0 < holdout < 1:
        raise ParameterError(
            f"The 'holdout' parameter of search_end_model must be in (0, 1). "
            f"Got {holdout!r} instead."
        )
    metrics = _metric_names(len(classes), multilabel)
    if metric not in metrics:
        raise ParameterError(
            f"The 'metric' parameter of search_end_model must be one of {metrics} for "
            f"classes {list(classes)}{' (multilabel)' if multilabel else ''}. "
            f"Got {metric!r} instead."
        )
    problems = search_space_problems(search_space or {}, candidates)
    if problems:
        raise ParameterError(
            "; ".join(f"search_space.{'.'.join(keys)}: {message}" for keys, message in problems)
        )
    k = len(classes)
    featurizer = Featurizer(payloads).fit(train)
    X_train = featurizer.transform(train)
    if dev is not None and dev_y is not None and len(dev) > 0:
        selection = "dev"
        fit_rows = np.arange(len(train))
        X_eval, y_eval = featurizer.transform(dev), np.asarray(dev_y, dtype=np.int64)
    else:
        selection = "holdout"
        if len(train) < 10:
            raise DataError(f"too few training rows ({len(train)}) to hold out a selection set")
        order = np.random.default_rng(seed).permutation(len(train))
        n_eval = max(1, int(round(holdout * len(train))))
        eval_rows, fit_rows = np.sort(order[:n_eval]), np.sort(order[n_eval:])
        held_out = np.asarray(train_probs)[eval_rows]
        y_eval = (held_out >= 0.5).astype(np.int64) if multilabel else held_out.argmax(axis=1)
        X_eval = X_train[eval_rows]
    space = _merge_space(candidates, search_space)
    records: list[dict[str, Any]] = []
    best: dict[str, Any] = {"value": -np.inf, "model": None}
    deadline: float | None = None  # set when the trials start

    def objective(trial: Any) -> float:
        learner = trial.suggest_categorical("learner", candidates)
        target = trial.suggest_categorical("target", targets) if len(targets) > 1 else targets[0]
        params = _suggest(trial, learner, space[learner])
        started = time.perf_counter()
        model = EndModel(
            payloads,
            classes,
            learner=learner,
            params=params,
            target=target,
            seed=seed,
            multilabel=multilabel,
        )
        try:
            model.fit(
                train.iloc[fit_rows],
                np.asarray(train_probs)[fit_rows],
                features=X_train[fit_rows],
                featurizer=featurizer,
                deadline=deadline if records else None,
            )
        except DeadlinePassed:
            trial.study.stop()
            raise optuna.TrialPruned("the time budget ran out during this trial") from None
        predicted = model.classifier_.predict(X_eval)
        value = float(task_metrics(y_eval, predicted, k).get(metric, np.nan))
        record = {
            "number": trial.number,
            "params": {"learner": learner, "target": target, **params},
            "value": value,
            "seconds": time.perf_counter() - started,
        }
        records.append(record)
        if value > best["value"]:
            best.update(value=value, model=model, params=record["params"])
        if on_trial is not None:
            on_trial(trial.number, record["params"], value)
        return value

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, len(candidates)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    first_trials = [(learner, targets[0]) for learner in candidates]
    first_trials[1:1] = [(candidates[0], target) for target in targets[1:]]
    for learner, target in first_trials:
        fixed = {"learner": learner, **_defaults_in_space(learner, space[learner])}
        if len(targets) > 1:
            fixed["target"] = target
        study.enqueue_trial(fixed)
    timeout = None if minutes is None else minutes * 60.0
    if timeout is not None:
        deadline = time.monotonic() + timeout
    _optimize(study, objective, n_trials=trials, timeout=timeout)
    if best["model"] is None:
        raise DataError("the model search finished no trial; raise the budget")
    model = best["model"]
    if selection == "holdout":
        model = EndModel(
            payloads,
            classes,
            learner=model.learner,
            params=model.params,
            target=model.target,
            seed=seed,
            multilabel=multilabel,
        )
        model.fit(train, train_probs, features=X_train, featurizer=featurizer)
    return SearchResult(
        model=model,
        trials=records,
        best_params=best["params"],
        best_value=best["value"],
        selection=selection,
    )
