"""``monitor``: compare current data with the training reference and say whether it drifted."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError, ParameterError
from gristmill.io import atomic_write_text
from gristmill.monitoring._drift import DriftThresholds, FeatureDrift, feature_drift
from gristmill.monitoring._lf_drift import (
    AgreementDrift,
    LFDrift,
    _multilabel,
    lf_drift,
    model_agreement,
)

__all__ = ["MonitorResult", "monitor"]

_MIN_WINDOW_ROWS = 30
LF_MAJORITY = "LF majority vote"
"""``MonitorResult.agreement_target`` when agreement is counted against the LFs' majority vote."""
# UNIX seconds of the years 1 to 9999 (what a datetime holds): milliseconds lie beyond.
_UNIX_RANGE = (-62_135_596_800, 253_402_300_799)


@dataclasses.dataclass
class MonitorResult:
    """What :func:`monitor` found. ``drifted`` is True when any signal exceeds its threshold.

    Attributes
    ----------
    model : dict or None
        ``name`` and ``version`` of the monitored model (and ``task``, for one task of a
        several-task model).
    created : str
        ISO 8601 time of the check (UTC).
    n_reference, n_current : int
    thresholds : DriftThresholds
    features : list of FeatureDrift
        One per payload column.
    prediction : FeatureDrift or None
        Drift of the served model's predicted class distribution.
    lfs : list of LFDrift
        Coverage and label-model agreement of each LF (empty without LFs).
    agreement : AgreementDrift or None
        Label-model vs served-model agreement; ``agreement.estimated_accuracy`` estimates the
        served model's accuracy without labels.
    slices : dict
        Per-slice ``n`` and ``accuracy`` on current rows that have feedback labels.
    windows : list of dict
        The current data cut in consecutive windows (by time when known): per window the drift
        score of each feature and the coverage of each LF.
    notes : list of str
        Signals that could not be computed, and why.
    class_shares : dict
        ``{"reference": {class: share}, "current": {class: share}}`` of the served predictions.
    agreement_target : str or None
        What LF and served-model agreement are counted against: ``"label model"``, or
        ``"LF majority vote"`` when there is no usable label model (label by label for a
        multilabel task); None without LFs.
    """

    model: dict[str, Any] | None
    created: str
    n_reference: int
    n_current: int
    thresholds: DriftThresholds
    features: list[FeatureDrift]
    prediction: FeatureDrift | None = None
    lfs: list[LFDrift] = dataclasses.field(default_factory=list)
    agreement: AgreementDrift | None = None
    slices: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    windows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    class_shares: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    agreement_target: str | None = None

    @property
    def drift_share(self) -> float:
        """Share of features that drifted (a feature with too few rows to test did not)."""
        return sum(f.drifted for f in self.features) / len(self.features) if self.features else 0.0

    @property
    def reasons(self) -> list[str]:
        """Why the data counts as drifted (empty when it does not)."""
        reasons = []
        share = self.thresholds.dataset_share
        if self.features and self.drift_share >= share:
            drifted = ", ".join(f.column for f in self.features if f.drifted)
            reasons.append(
                f"{self.drift_share:.0%} of features drifted (>= {share:.0%}): {drifted}"
            )
        if self.prediction is not None and self.prediction.drifted:
            reasons.append(
                f"the predicted class distribution drifted ({self.prediction.method} "
                f"{self.prediction.statistic:.4g} vs {self.prediction.threshold:.4g})"
            )
        drifted_lfs = [d.name for d in self.lfs if d.drifted]
        if self.lfs and len(drifted_lfs) / len(self.lfs) >= share:
            reasons.append(
                f"{len(drifted_lfs)} of {len(self.lfs)} LFs drifted: {', '.join(drifted_lfs)}"
            )
        if self.agreement is not None and self.agreement.drifted:
            reasons.append(
                f"the served model's agreement with the "
                f"{self.agreement_target or 'label model'} fell from "
                f"{self.agreement.reference:.3f} to {self.agreement.current:.3f}"
            )
        return reasons

    @property
    def drifted(self) -> bool:
        """True when drift exceeds the thresholds (see :attr:`reasons`)."""
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the whole result."""
        return _finite(
            {
                "model": self.model,
                "created": self.created,
                "drifted": self.drifted,
                "reasons": self.reasons,
                "drift_share": self.drift_share,
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "thresholds": dataclasses.asdict(self.thresholds),
                "features": [f.to_dict() for f in self.features],
                "prediction": self.prediction.to_dict() if self.prediction else None,
                "lfs": [d.to_dict() for d in self.lfs],
                "agreement": self.agreement.to_dict() if self.agreement else None,
                "slices": self.slices,
                "windows": self.windows,
                "notes": self.notes,
                "class_shares": self.class_shares,
                "agreement_target": self.agreement_target,
            }
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        """The result as JSON (NaN and infinities written as null)."""
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``monitor.json`` and the HTML report ``monitor.html`` into ``out_dir`` atomically.

        Both are rendered before either is written, so that a report that fails to render leaves
        no result of this check beside an earlier check's report.

        Returns
        -------
        dict
            ``{"json": path, "html": path}``.
        """
        from gristmill.report._monitor_report import render_monitor_report

        out = Path(out_dir)
        html, text = render_monitor_report(self), self.to_json()
        json_path = atomic_write_text(out / "monitor.json", text)
        html_path = atomic_write_text(out / "monitor.html", html)
        return {"json": json_path, "html": html_path}

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics (for MLflow): drift share, per-feature scores, LF coverage ..."""
        values: dict[str, float] = {"drift_share": self.drift_share, "drifted": float(self.drifted)}
        for f in self.features:
            values[f"feature.{_metric_name(f.column)}.score"] = f.score
        if self.prediction is not None:
            values["prediction.score"] = self.prediction.score
        for d in self.lfs:
            values[f"lf.{_metric_name(d.name)}.coverage"] = d.coverage_current
            values[f"lf.{_metric_name(d.name)}.agreement"] = d.agreement_current
        if self.agreement is not None:
            values["estimated_accuracy"] = self.agreement.estimated_accuracy
            for label, stats in self.agreement.labels.items():
                values[f"estimated_accuracy.{_metric_name(label)}"] = stats["current"]
        for name, stats in self.slices.items():
            values[f"slice.{_metric_name(name)}.accuracy"] = stats["accuracy"]
        return {k: v for k, v in values.items() if math.isfinite(v)}

    def log_to_mlflow(
        self, *, tracking_uri: str | None = None, experiment: str | None = None
    ) -> str:
        """Log :meth:`metrics` and the JSON result as an MLflow run; return its run id.

        The store defaults to the project's (see :func:`gristmill.tracking.resolve_tracking_uri`);
        the experiment to ``<model name>-monitoring``.
        """
        from gristmill.tracking import _store, resolve_tracking_uri

        uri = resolve_tracking_uri(".", tracking_uri)
        mlflow = _store.import_mlflow("gristmill monitor")
        client = _store.open_client(uri)
        name = experiment or f"{(self.model or {}).get('name', 'gristmill')}-monitoring"
        # Created like tracking's experiments: artifacts beside an embedded store, not in ./mlruns.
        experiment_id = _store.experiment_id(client, uri, name)
        tags = {"gristmill.kind": "monitor", "gristmill.drifted": str(self.drifted).lower()}
        if self.model:
            tags |= {
                "gristmill.model": str(self.model.get("name")),
                "gristmill.model_version": str(self.model.get("version")),
            }
            if self.model.get("task"):
                tags["gristmill.task"] = str(self.model["task"])
        run = client.create_run(experiment_id, tags=tags)
        metrics = [
            mlflow.entities.Metric(k, v, int(_dt.datetime.now().timestamp() * 1000), 0)
            for k, v in self.metrics().items()
        ]
        client.log_batch(run.info.run_id, metrics=metrics)
        client.log_text(run.info.run_id, self.to_json(), "monitor.json")
        client.set_terminated(run.info.run_id)
        return str(run.info.run_id)


def _metric_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(name))


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclasses.dataclass
class _Monitored:
    name: str | None
    version: str | None
    predict: Callable[[pd.DataFrame], pd.DataFrame] | None
    classes: list[str] | None
    columns: list[str] | None
    reference: pd.DataFrame | None
    lfs: list[Any] | None
    label_model: Any
    task: str | None = None
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)
    delimiter: str | None = None


def _bundle_part(bundle: Any, part: str, notes: list[str]) -> Any:
    """A lazily loaded part of a model bundle (LFs, label model), or None with a note."""
    try:
        return getattr(bundle, part, None)
    except Exception as exc:  # a bundle part that fails to load must not stop the monitor
        notes.append(
            f"the model bundle's {part} could not be loaded and is not used: "
            f"{type(exc).__name__}: {exc}"
        )
        return None


def _served_view(bundle: Any) -> Any:
    """A :class:`~gristmill.serving.ServedModel` of a model bundle.

    Its ``predict_frame`` is the service's: it gives text columns read as numbers to the model
    as strings, as the signature asks, and turns MLflow's errors (which print the whole frame)
    into a one-line :class:`~gristmill.exceptions.ServingError`.
    """
    from gristmill.serving._model import served_model

    return served_model(
        bundle.name, str(bundle.version), bundle.alias, bundle.run_id, bundle.pyfunc, bundle
    )


def _resolve(model: Any, tracking_uri: str | None, notes: list[str]) -> _Monitored:
    if model is None:
        return _Monitored(None, None, None, None, None, None, None, None)
    from gristmill.serving._model import declared_kinds

    if isinstance(model, str):
        from gristmill.serving import load_served_model

        model = load_served_model(model, tracking_uri=tracking_uri)
    elif getattr(model, "pyfunc", None) is not None and not hasattr(model, "predict_frame"):
        model = _served_view(model)
    bundle = getattr(model, "bundle", None) or model
    predict = getattr(model, "predict_frame", None) or getattr(model, "predict", None)
    return _Monitored(
        name=getattr(model, "name", None),
        version=getattr(model, "version", None),
        predict=predict,
        classes=list(getattr(model, "classes", None) or []) or None,
        columns=list(getattr(model, "payload_columns", None) or []) or None,
        reference=getattr(bundle, "reference", None),
        lfs=_bundle_part(bundle, "lfs", notes),
        label_model=_bundle_part(bundle, "label_model", notes),
        task=getattr(model, "task", None),
        kinds=declared_kinds(bundle),
        delimiter=_label_delimiter(bundle),
    )


def _label_delimiter(bundle: Any) -> str | None:
    """The delimiter of the served label sets of a multilabel model (None for other models)."""
    tasks = list(getattr(bundle, "tasks", None) or [])
    task = getattr(bundle, "task", None)
    chosen = [t for t in tasks if task is None or t.get("name") == task]
    return chosen[0].get("delimiter") if len(chosen) == 1 else None


@dataclasses.dataclass(frozen=True)
class _Reordered:
    """A label model given the monitor's LF columns in the order it was fit on."""

    model: Any
    columns: np.ndarray

    def predict(self, L: Any) -> np.ndarray:
        return self.model.predict(np.asarray(L)[:, self.columns])


def _aligned(label_model: Any, lf_names: list[str], notes: list[str]) -> Any:
    """``label_model``, fed its votes by LF name when it recorded the names it was fit on.

    A label model sees only columns, so LFs listed in another order than at training would
    silently feed each source another source's votes. When it needs a source that is not among
    ``lf_names`` (a label column of the training data, say), it is not used: agreement then
    falls back to the LFs' majority vote, with a note. A multilabel label model decides each
    label from the sources voting on it, so :func:`lf_drift` gives it its sources by name
    itself, and those the LFs do not provide abstain (with a note).
    """
    fitted = list(getattr(label_model, "lf_names_", None) or [])
    if label_model is None or not fitted or fitted == lf_names:
        return label_model
    position = {name: j for j, name in enumerate(lf_names)}
    missing = [name for name in fitted if name not in position]
    if _multilabel(label_model):
        if missing:
            notes.append(
                f"the label model's sources that are no monitored LF abstain in LF agreement: "
                f"{', '.join(missing)}"
            )
        return label_model
    if missing:
        notes.append(
            f"the label model was fit on sources these LFs do not provide ({', '.join(missing)});"
            " LF agreement uses the LFs' majority vote"
        )
        return None
    return _Reordered(label_model, np.array([position[name] for name in fitted]))


def _class_index(predictions: Sequence[Any], classes: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(str(p), -1) for p in predictions], dtype=int)


def _named_classes(values: pd.Series, classes: list[str], delimiter: str | None) -> np.ndarray:
    """Whether each value names classes: one class, or a multilabel model's set of classes
    joined by ``delimiter`` (the empty set included)."""
    if delimiter is None:
        return values.astype(str).isin(classes).to_numpy()
    from gristmill.pipeline._multilabel import label_sets

    return np.asarray((label_sets(values, classes, delimiter)[0] >= 0).all(axis=1))


def _canonical(values: pd.Series, classes: list[str], delimiter: str | None) -> np.ndarray:
    """Values as text to compare: a label set as its classes in class order, joined by the
    delimiter (``video|music`` and ``music|video`` are one set); a class as itself."""
    if delimiter is None:
        return values.astype(str).to_numpy()
    from gristmill.pipeline._multilabel import label_sets

    indicators = label_sets(values, classes, delimiter)[0]
    return np.array(
        [
            delimiter.join(c for c, on in zip(classes, row, strict=True) if on == 1)
            for row in indicators
        ],
        dtype=object,
    )


def _served_labels(predictions: pd.Series, classes: list[str], delimiter: str | None) -> np.ndarray:
    """Class indices of served predictions; (n, k) label indicators of a multilabel model's."""
    if delimiter is None:
        return _class_index(predictions, classes)
    from gristmill.pipeline._multilabel import label_sets

    return label_sets(predictions, classes, delimiter)[0]


def _slice_metrics(
    current: pd.DataFrame,
    predicted: pd.Series,
    slices: Mapping[str, Callable[[Any], bool]] | None,
    classes: list[str] | None = None,
    delimiter: str | None = None,
) -> dict[str, dict[str, float]]:
    """Accuracy of the served predictions on the rows with feedback labels, per slice.

    A multilabel model's label sets are right when they equal the feedback's set (subset
    accuracy), whatever the order of their items.
    """
    labeled = current["_label"].notna().to_numpy()
    if not labeled.any():
        return {}
    if classes and delimiter is not None:
        gold = _canonical(current["_label"], classes, delimiter)
        pred = _canonical(predicted, classes, delimiter)
    else:
        gold = current["_label"].astype(str).to_numpy()
        pred = predicted.astype(str).to_numpy()
    masks: dict[str, np.ndarray] = {"all": labeled}
    for cls in sorted(set(pred[labeled])):
        masks[f"predicted={cls}"] = labeled & (pred == cls)
    for name, fn in (slices or {}).items():
        members = np.array([bool(fn(row)) for row in current.itertuples(index=False)])
        masks[name] = labeled & members
    return {
        name: {"n": int(mask.sum()), "accuracy": float((gold[mask] == pred[mask]).mean())}
        for name, mask in masks.items()
        if mask.any()
    }


def _windows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    kinds: dict[str, str],
    L_current: np.ndarray | None,
    lf_names: list[str],
    n_windows: int,
    thresholds: DriftThresholds,
) -> list[dict[str, Any]]:
    n = len(current)
    count = min(n_windows, n // _MIN_WINDOW_ROWS)
    if count < 2:
        return []
    order = (
        np.argsort(current["_ts"].to_numpy(), kind="stable") if "_ts" in current else np.arange(n)
    )
    windows = []
    for w, rows in enumerate(np.array_split(order, count)):
        part = current.iloc[rows]
        label = f"window {w + 1}"
        if "_ts" in part:
            label = _dt.datetime.fromtimestamp(float(part["_ts"].min()), _dt.UTC).strftime(
                "%m-%d %H:%M"
            )
        entry: dict[str, Any] = {"label": label, "n": len(rows), "features": {}, "lf_coverage": {}}
        for col in columns:
            if part[col].notna().any():
                entry["features"][col] = feature_drift(
                    reference[col], part[col], kind=kinds[col], thresholds=thresholds
                ).score
        if L_current is not None:
            votes = L_current[rows]
            entry["lf_coverage"] = {
                name: float((votes[:, j] != -1).mean()) for j, name in enumerate(lf_names)
            }
        windows.append(entry)
    return windows


def _own_rows(current: pd.DataFrame, target: _Monitored, notes: list[str]) -> pd.DataFrame:
    """The monitored model's rows of a request log, without the predictions it did not make.

    Rows of other models (``_model_name``) are left out. Rows other versions of the model served
    (``_model_version``) keep their payload, which is current data, but lose their logged
    prediction: the monitored version predicts them again. So do rows whose logged prediction is
    none of the monitored classes (the log records no task: another task's log, say).
    """
    if target.name is None:
        return current
    if "_model_name" in current:
        own = (current["_model_name"].astype(str) == str(target.name)).to_numpy()
        if not own.all():
            others = ", ".join(sorted(set(current["_model_name"][~own].astype(str))))
            if not own.any():
                raise DataError(
                    f"none of the {len(current)} logged rows was served by model "
                    f"{target.name} (they were served by {others})"
                )
            notes.append(
                f"{int((~own).sum())} of {len(current)} logged rows were served by other "
                f"models ({others}) and are left out"
            )
            current = current[own]
    if "_prediction" not in current:
        return current
    logged = current["_prediction"].notna().to_numpy()
    stale = np.zeros(len(current), dtype=bool)
    if "_model_version" in current and target.version is not None:
        other = (current["_model_version"].astype(str) != str(target.version)).to_numpy()
        stale |= logged & other
        if (logged & other).any():
            versions = ", ".join(sorted(set(current["_model_version"][other].astype(str))))
            notes.append(
                f"{int((logged & other).sum())} of {len(current)} current rows were served by "
                f"other versions of {target.name} ({versions}): version {target.version} "
                "predicts them again"
            )
    if target.classes:
        foreign = (
            logged
            & ~stale
            & ~_named_classes(current["_prediction"], target.classes, target.delimiter)
        )
        stale |= foreign
        if foreign.any():
            notes.append(
                f"{int(foreign.sum())} logged predictions are not classes of "
                f"{target.name} ({', '.join(target.classes)}): predicted again"
            )
    if not stale.any():
        return current
    return current.assign(_prediction=current["_prediction"].where(~stale))


def _check_samples(**samples: Any) -> None:
    """Refuse a sample that is no DataFrame, or that names a column twice.

    Raises
    ------
    ParameterError
        When a sample is no :class:`pandas.DataFrame`.
    DataError
        When a sample has two columns of one name, naming it.
    """
    for which, frame in samples.items():
        if not isinstance(frame, pd.DataFrame):
            raise ParameterError(
                f"monitor's {which} must be a pandas DataFrame; got {type(frame).__name__}"
            )
        twice = frame.columns[frame.columns.duplicated()]
        if len(twice):
            raise DataError(f"column {twice[0]!r} appears more than once in the {which} data")


def _unix_times(current: pd.DataFrame) -> pd.DataFrame:
    """``current`` with its ``_ts`` column in UNIX seconds, as the request log writes it.

    A file's ``_ts`` may also hold date-times (timestamps, or ISO 8601 text; naive ones are UTC).

    Raises
    ------
    DataError
        When a ``_ts`` value is missing or no time, naming its row.
    """
    if "_ts" not in current:
        return current
    times = current["_ts"]
    if pd.api.types.is_numeric_dtype(times) and not pd.api.types.is_bool_dtype(times):
        seconds = times.to_numpy(dtype=float)
    else:
        stamps = pd.to_datetime(times, errors="coerce", utc=True, format="ISO8601")
        seconds = ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
            dtype=float
        )
    # NaN (missing, or text that is no date-time) lies in no range: it is refused too.
    bad = np.flatnonzero(~((seconds >= _UNIX_RANGE[0]) & (seconds <= _UNIX_RANGE[1])))
    if bad.size:
        value = times.iloc[bad[:1]].tolist()[0]  # a Python value: shown without numpy's type
        raise DataError(
            f"column '_ts' of the current data must hold times (UNIX seconds or ISO "
            f"8601 date-times); row {bad[0]} holds {value!r}"
        )
    return current.assign(_ts=seconds)


def _class_labels(
    current: pd.DataFrame, classes: list[str] | None, notes: list[str], delimiter: str | None = None
) -> pd.DataFrame:
    """``current`` with the feedback labels (``_label``) that name no class made missing.

    Such labels (class indices such as 0 and 1, say) would count every prediction wrong. A
    multilabel model's feedback is a set of classes joined by ``delimiter``.
    """
    if "_label" not in current or not classes:
        return current
    labels = current["_label"]
    foreign = labels.notna().to_numpy() & ~_named_classes(labels, classes, delimiter)
    if not foreign.any():
        return current
    shown = ", ".join(map(repr, sorted(set(labels[foreign].astype(str)))[:5]))
    notes.append(
        f"{int(foreign.sum())} feedback labels (_label) are none of the classes "
        f"({', '.join(classes)}) and are left out: {shown}"
    )
    return current.assign(_label=labels.astype(object).where(~foreign, None))


def _predict(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    frame: pd.DataFrame,
    which: str,
    notes: list[str],
) -> pd.Series | None:
    """The model's predicted classes of ``frame``, or None (with a note) when it cannot predict."""
    try:
        predicted = predict(frame)["prediction"]
    except Exception as exc:  # a model that cannot predict must not stop the monitor
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        notes.append(
            f"the model cannot predict the {which} rows, so there is no prediction "
            f"drift or agreement: {first[:300]}"
        )
        return None
    return pd.Series(np.asarray(predicted).astype(str), index=frame.index, name="prediction")


def _current_predictions(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    current: pd.DataFrame,
    columns: list[str],
    notes: list[str],
) -> pd.Series | None:
    """The served class of each current row: the logged one when valid, else predicted now."""
    if "_prediction" not in current:
        return _predict(predict, current[columns], "current", notes)
    missing = current["_prediction"].isna().to_numpy()
    if not missing.any():
        return current["_prediction"].astype(str)
    predicted = _predict(predict, current.loc[missing, columns], "current", notes)
    if predicted is None:
        return None
    served = current["_prediction"].to_numpy(dtype=object).copy()
    served[missing] = predicted.to_numpy()
    return pd.Series(served, index=current.index, name="_prediction").astype(str)


def _apply_each(
    lfs: list[Any], reference: pd.DataFrame, current: pd.DataFrame, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, set[str]]:
    """Votes of each LF on both samples; LFs that cannot run there (e.g. they read a column the
    payload lacks) vote abstain throughout, so the label model still gets its full matrix.

    The LFs run together, so each sample's rows are walked once and shared preprocessors run
    once per row; an LF that fails is left out and the others run again.
    """
    from gristmill.exceptions import LFError
    from gristmill.labeling import apply_lfs

    samples = (reference.reset_index(drop=True), current.reset_index(drop=True))
    failures: dict[str, LFError] = {}
    runnable = list(lfs)
    while True:
        try:
            matrices = (
                [apply_lfs(runnable, sample, engine="pandas").to_numpy() for sample in samples]
                if runnable
                else []
            )
            break
        except LFError as exc:
            failing = [lf for lf in runnable if lf.name == exc.lf_name]
            if len(failing) != 1:  # not one LF's failure: find the failing LFs one by one
                return _apply_one_by_one(lfs, samples, notes)
            failures[failing[0].name] = exc
            runnable.remove(failing[0])
    position = {lf.name: j for j, lf in enumerate(runnable)}
    columns: list[list[np.ndarray]] = [[], []]
    for lf in lfs:
        if lf.name in failures:
            notes.append(_cannot_run_note(lf.name, failures[lf.name]))
        for k, sample in enumerate(samples):
            columns[k].append(
                matrices[k][:, position[lf.name]]
                if lf.name in position
                else np.full(len(sample), -1)
            )
    return np.column_stack(columns[0]), np.column_stack(columns[1]), set(failures)


def _apply_one_by_one(
    lfs: list[Any], samples: tuple[pd.DataFrame, pd.DataFrame], notes: list[str]
) -> tuple[np.ndarray, np.ndarray, set[str]]:
    """:func:`_apply_each` one LF at a time, for failures that name no single LF."""
    from gristmill.exceptions import LFError
    from gristmill.labeling import apply_lfs

    columns: list[list[np.ndarray]] = [[], []]
    skipped: set[str] = set()
    for lf in lfs:
        try:
            votes = [
                apply_lfs([lf], sample, engine="pandas").to_numpy()[:, 0] for sample in samples
            ]
        except LFError as exc:
            skipped.add(lf.name)
            notes.append(_cannot_run_note(lf.name, exc))
            votes = [np.full(len(sample), -1) for sample in samples]
        for k in range(2):
            columns[k].append(votes[k])
    return np.column_stack(columns[0]), np.column_stack(columns[1]), skipped


def _cannot_run_note(name: str, exc: Exception) -> str:
    return (
        f"LF {name!r} cannot run on the monitored data and is left out "
        f"(it abstains for the label model): {exc}"
    )


def monitor(
    model: Any = None,
    *,
    current: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    lfs: Sequence[Any] | None = None,
    label_model: Any = None,
    columns: Sequence[str] | None = None,
    slices: Mapping[str, Callable[[Any], bool]] | None = None,
    thresholds: DriftThresholds | None = None,
    n_windows: int = 5,
    tracking_uri: str | None = None,
) -> MonitorResult:
    """Compare ``current`` data with the training reference: feature, prediction and LF drift.

    Parameters
    ----------
    model : str or model, optional
        ``NAME@ALIAS`` / ``NAME/VERSION`` (loaded with its bundle), a
        :class:`~gristmill.serving.ServedModel`, or a :class:`~gristmill.tracking.ModelBundle`.
        Supplies the predictions, classes, payload columns, and (from the bundle) the reference
        sample, LFs and label model unless they are given explicitly.
    current : pandas.DataFrame
        Current rows. Columns ``_prediction`` (served class), ``_label`` (feedback: a class
        name; other labels are left out, with a note), ``_ts`` (UNIX seconds, or date-times),
        ``_model_name`` and ``_model_version``, as in
        :meth:`gristmill.serving.RequestLog.records`, are used when present: rows another model
        served are left out, and rows another version of the model served are predicted again
        by ``model`` (their payload is current data; their logged prediction is not this
        version's). The notes say how many rows each case concerns.
    reference : pandas.DataFrame, optional
        Reference rows (default: the model bundle's reference sample).
    lfs : sequence of LabelingFunction, optional
        Run on both samples for LF drift (default: the bundle's LFs).
    label_model : fitted label model, optional
        Target of LF agreement (default: the bundle's; majority vote of the LFs when none,
        label by label for a multilabel model).
    columns : sequence of str, optional
        Features to test (default: the model's payload columns, else the shared columns).
    slices : mapping of name to callable, optional
        Row predicates for per-slice metrics on rows with feedback labels.
    thresholds : DriftThresholds, optional
        See :class:`DriftThresholds` for the tests and defaults.
    n_windows : int, default 5
        Consecutive windows of the current data (by ``_ts`` when present) for drift over time.
    tracking_uri : str, optional
        MLflow URI used when ``model`` is a string.

    Returns
    -------
    MonitorResult

    Raises
    ------
    DataError
        When there is no reference, a column is missing from a sample or appears twice, a
        sample is empty, a ``_ts`` value is no time, or no logged row was served by ``model``.
    ParameterError
        When ``current`` or ``reference`` is no DataFrame, or ``columns`` is a string.
    """
    if isinstance(columns, str):  # a string is a sequence too: of one-letter "columns"
        raise ParameterError(
            f"monitor's columns must be a sequence of column names; got the "
            f"string {columns!r} (pass [{columns!r}])"
        )
    thresholds = thresholds or DriftThresholds()
    notes: list[str] = []
    target = _resolve(model, tracking_uri, notes)
    reference = reference if reference is not None else target.reference
    if reference is None:
        raise DataError(
            "monitor needs reference data: pass reference=... or a model bundle that "
            "holds reference.parquet"
        )
    _check_samples(reference=reference, current=current)
    if len(reference) == 0 or len(current) == 0:
        raise DataError(
            f"monitor needs non-empty data; got {len(reference)} reference and "
            f"{len(current)} current rows"
        )
    current = _own_rows(_unix_times(current), target, notes)
    columns = list(
        columns
        or target.columns
        or [c for c in reference.columns if c in current.columns and not str(c).startswith("_")]
    )
    for col in columns:
        for frame, which in ((reference, "reference"), (current, "current")):
            if col not in frame.columns:
                raise DataError(
                    f"column {col!r} is missing from the {which} data "
                    f"(it has {list(map(str, frame.columns))})"
                )
    features = [
        feature_drift(reference[c], current[c], kind=target.kinds.get(c), thresholds=thresholds)
        for c in columns
    ]
    notes.extend(f"feature {f.column!r}: {f.note}" for f in features if f.note)
    kinds = {f.column: f.kind for f in features}

    prediction = served_ref = served_cur = None
    classes = target.classes
    if target.predict is not None:
        served_ref = _predict(target.predict, reference[columns], "reference", notes)
        served_cur = _current_predictions(target.predict, current, columns, notes)
        if served_ref is not None and served_cur is not None:
            prediction = feature_drift(
                served_ref.rename("prediction"),
                served_cur,
                kind="categorical",
                thresholds=thresholds,
            )
            if prediction.note:
                notes.append(f"prediction drift: {prediction.note}")
    elif "_prediction" in current:
        served_cur = current["_prediction"].astype(str)
        notes.append("no model given: prediction drift needs predictions on the reference")
    else:
        notes.append("no model given: no prediction drift")

    lf_list = list(lfs) if lfs is not None else list(target.lfs or [])
    lf_names = [lf.name for lf in lf_list]
    label_model = _aligned(
        label_model if label_model is not None else target.label_model, lf_names, notes
    )
    drift_lfs: list[LFDrift] = []
    agreement = None
    L_window = None
    if lf_list:
        data_cols = [c for c in current.columns if not str(c).startswith("_")]
        L_ref, L_cur, skipped = _apply_each(lf_list, reference, current[data_cols], notes)
        multilabel = classes if target.delimiter is not None else None
        drift_lfs = [
            d
            for d in lf_drift(
                L_ref,
                L_cur,
                lf_names=lf_names,
                label_model=label_model,
                thresholds=thresholds,
                multilabel_classes=multilabel,
            )
            if d.name not in skipped
        ]
        if served_ref is not None and served_cur is not None and classes:
            agreement = model_agreement(
                L_ref,
                _served_labels(served_ref, classes, target.delimiter),
                L_cur,
                _served_labels(served_cur, classes, target.delimiter),
                label_model=label_model,
                thresholds=thresholds,
                lf_names=lf_names,
                multilabel_classes=multilabel,
            )
        keep = [j for j, name in enumerate(lf_names) if name not in skipped]
        L_window, lf_names = L_cur[:, keep], [lf_names[j] for j in keep]
    else:
        notes.append("no labeling functions: no LF drift and no label-free accuracy estimate")

    slice_stats: dict[str, dict[str, float]] = {}
    if "_label" in current and served_cur is not None:
        labeled = _class_labels(current, classes, notes, target.delimiter)
        slice_stats = _slice_metrics(labeled, served_cur, slices, classes, target.delimiter)
    if not slice_stats:
        notes.append("no feedback labels: no per-slice metrics")

    return MonitorResult(
        model=(
            {"name": target.name, "version": target.version}
            | ({"task": target.task} if target.task else {})
            if target.name
            else None
        ),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        n_reference=len(reference),
        n_current=len(current),
        thresholds=thresholds,
        features=features,
        prediction=prediction,
        lfs=drift_lfs,
        agreement=agreement,
        slices=slice_stats,
        windows=_windows(
            reference, current, columns, kinds, L_window, lf_names, n_windows, thresholds
        ),
        notes=notes,
        class_shares={
            which: {str(k): float(v) for k, v in preds.value_counts(normalize=True).items()}
            for which, preds in (("reference", served_ref), ("current", served_cur))
            if preds is not None
        },
        agreement_target=(
            None if not lf_list else "label model" if label_model is not None else LF_MAJORITY
        ),
    )
