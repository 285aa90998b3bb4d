"""Loading the served model: a registered MLflow pyfunc and what the service needs to know of it."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from gristmill._extras import require
from gristmill.exceptions import ServingError, TrackingError
from gristmill.serving._validate import parse_datetimes
from gristmill.tracking._schema import plain_missing
from gristmill.tracking._tasks import task_columns

__all__ = [
    "ServedModel",
    "load_served_model",
    "parse_model_uri",
    "resolve_store",
    "resolve_version",
]

_PROBA_PREFIX = "proba_"
# Signature types whose pyfunc input column can hold a missing value (None, NaN or NaT).
_NULLABLE_TYPES = {"string", "double", "float", "datetime"}
# Signature types of whole numbers: MLflow refuses a missing value (NaN) in such a column.
_WHOLE_NUMBER_TYPES = {"long", "integer"}

logger = logging.getLogger("gristmill.serving")


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A loaded model version and the facts the service reports about it.

    Attributes
    ----------
    name, version, alias : str, str, str or None
        Registered model name, version number and the alias it was loaded through.
    run_id : str or None
        MLflow run that produced the version.
    pyfunc : mlflow.pyfunc.PyFuncModel
        Takes a DataFrame of the payload columns, returns ``prediction`` and ``proba_<class>``.
        Left as loaded: :meth:`predict_frame` checks whole-number payloads served as
        ``double`` (see ``signature_types``) against a copy of its signature instead.
    classes : list of str
        Class names, in the order of the probability columns.
    payload_columns : list of str
        Input columns, in signature order.
    column_types : dict of str to str
        Type of each payload column in a request, in MLflow's names (``string``, ``double``,
        ``long``, ``datetime`` ...): the signature's type, except that a column the training
        spec declares ``datetime`` is a ``datetime`` (the signature holds its text as ``string``).
    optional_columns : frozenset of str
        Columns that accept null: those the signature marks optional, and those the training spec
        declares whose type can hold a missing value or that are numeric (the featurizer reads a
        missing value as missing).
    bundle : object or None
        The :func:`gristmill.tracking.load_bundle` result when tracking provides it (LFs, label
        model, reference sample); for one task of a several-task model, that task's view.
    task : str or None
        The task served, for a model that predicts several; None for a one-task model.
    signature_types : dict of str to str
        The type :meth:`predict_frame` gives each payload column where it differs from
        ``column_types``: the pyfunc signature's type, or ``double`` for a column the signature
        types as a whole number (``long``, ``integer``), which then may also be missing.
    """

    name: str
    version: str
    alias: str | None
    run_id: str | None
    pyfunc: Any
    classes: list[str]
    payload_columns: list[str]
    column_types: dict[str, str]
    optional_columns: frozenset[str] = frozenset()
    bundle: Any = None
    task: str | None = None
    signature_types: dict[str, str] = dataclasses.field(default_factory=dict)
    _predictor: Any = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        widened = frozenset(
            col for col, served_as in self.signature_types.items()
            if served_as == "double" and self.column_types.get(col) in _WHOLE_NUMBER_TYPES
        )
        predictor = _taking_optional_doubles(self.pyfunc, widened) if widened else self.pyfunc
        object.__setattr__(self, "_predictor", predictor)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Run the pyfunc on ``frame`` and return its ``prediction`` and ``proba_*`` columns.

        For one task of a several-task model, that task's columns, without the ``<task>:``
        prefix.
        """
        payload = frame[self.payload_columns].copy()
        for column in self.payload_columns:
            payload[column] = _as_signature_type(
                payload[column],
                self.signature_types.get(column) or self.column_types.get(column, "string"),
            )
        try:
            out = self._predictor.predict(payload)
        except Exception as exc:  # MLflow's schema errors print the whole frame
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServingError(
                f"model {self.name}/{self.version} cannot predict these rows: {first[:300]}"
            ) from exc
        if not isinstance(out, pd.DataFrame):
            raise ServingError(
                f"model {self.name}/{self.version} returned {type(out).__name__}, expected a "
                "DataFrame with 'prediction' and 'proba_<class>' columns"
            )
        return task_columns(out, self.task)


def _as_signature_type(values: pd.Series, signature_type: str) -> pd.Series:
    """``values`` as the pyfunc signature's ``signature_type`` takes them."""
    values = plain_missing(values)  # a file's nullable booleans and integers, with gaps
    if signature_type == "string" and not (
        pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)
    ):
        # A text column read from a file can come back numeric (ids, years): the model's
        # signature wants strings, as the REST payload checks give it.
        return values.astype("string").astype(object)
    if signature_type == "datetime":
        # MLflow takes timezone-naive datetime64[ns] only: instants in UTC; text that is no
        # ISO 8601 date-time in the years a nanosecond timestamp holds is missing (requests with
        # it were refused; frames read from files may hold it).
        return parse_datetimes(values)
    if signature_type == "double" and pd.api.types.is_integer_dtype(values):
        # MLflow takes no int64 for a double column (a whole-number payload served_model widened).
        return values.astype(np.float64)
    return values


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """Split ``NAME@ALIAS`` or ``NAME/VERSION`` (or ``models:/...``) into name, alias, version.

    A bare ``NAME`` means ``NAME@champion``. A version number loses its leading zeros
    (``NAME/01`` is version ``1``), as the registry numbers versions.

    Raises
    ------
    ServingError
        When the text is empty or has an empty part.
    """
    text = uri.removeprefix("models:/").strip()
    if "@" in text:
        name, alias = text.split("@", 1)
        version = None
    elif "/" in text:
        name, version = text.split("/", 1)
        alias = None
    else:
        name, alias, version = text, "champion", None
    if not name or (alias is not None and not alias) or (version is not None and not version):
        raise ServingError(f"cannot parse model {uri!r}: expected NAME, NAME@ALIAS or NAME/VERSION")
    if version is not None and version.isascii() and version.isdigit():
        version = str(int(version))
    return name, alias, version


def resolve_store(tracking_uri: str | None) -> str:
    """The tracking URI to use: the given one, else the project's store as tracking resolves it.

    Checked as tracking checks it: a database file given as a path is refused with the
    ``sqlite:///`` URI to write.
    """
    from gristmill.tracking import resolve_tracking_uri

    return str(resolve_tracking_uri(".", tracking_uri))


def check_server(tracking_uri: str | None) -> None:
    """Fail within seconds when ``tracking_uri`` names a tracking server that does not answer.

    MLflow's client retries such a server for about four minutes before it gives up: the
    service would hang that long before it starts, and its alias watcher would report nothing
    (and keep the service from stopping) while it waits.

    Raises
    ------
    ServingError
        Naming the server and why it cannot be reached.
    """
    from gristmill.tracking._store import check_store, is_http

    if tracking_uri is not None and is_http(tracking_uri):
        try:
            check_store(tracking_uri)
        except TrackingError as exc:
            raise ServingError(str(exc)) from exc


def registry_client(tracking_uri: str | None) -> Any:
    """An MLflow client on a store that exists (reading never creates an empty store) and, when
    it is a tracking server, answers."""
    from gristmill.tracking._store import sqlite_path

    db = sqlite_path(tracking_uri or "")
    if db is not None and not db.exists():
        raise ServingError(
            f"no MLflow store at {db}: nothing has been tracked there yet (run 'gristmill run' "
            "in the project, or pass --tracking-uri)"
        )
    check_server(tracking_uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow = require("mlflow", extra="tracking", feature="gristmill serve")
    # The registry too: left out, MLflow takes the registry the process last pointed its fluent
    # API at (another project's store, after loading a bundle or running a pipeline).
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def resolve_version(uri: str, *, tracking_uri: str | None = None) -> str:
    """Return the version number that ``uri`` currently points to.

    Raises
    ------
    ServingError
        When the registry has no such model, alias or version, or its tracking server does not
        answer (within seconds).
    """
    name, alias, version = parse_model_uri(uri)
    if version is not None:
        return version
    tracking_uri = resolve_store(tracking_uri)
    try:
        return str(registry_client(tracking_uri).get_model_version_by_alias(name, alias).version)
    except ServingError:
        raise
    except Exception as exc:  # MLflow raises its own exception types for a missing alias
        raise ServingError(f"cannot resolve model {name}@{alias}: {exc}") from exc


def _schema_columns(
    pyfunc: Any, uri: str
) -> tuple[list[str], dict[str, str], frozenset[str], list[str]]:
    inputs = pyfunc.metadata.get_input_schema()
    outputs = pyfunc.metadata.get_output_schema()
    if inputs is None or not inputs.has_input_names():
        raise ServingError(f"model {uri} has no input signature with column names; log it with one")
    columns = list(inputs.input_names())
    types = {spec.name: str(getattr(spec.type, "name", spec.type)) for spec in inputs.inputs}
    optional = frozenset(spec.name for spec in inputs.inputs if not getattr(spec, "required", True))
    classes: list[str] = []
    if outputs is not None and outputs.has_input_names():
        classes = [
            col[len(_PROBA_PREFIX):] for col in outputs.input_names()
            if col.startswith(_PROBA_PREFIX)
        ]
    return columns, types, optional, classes


def _try_load_bundle(pinned: str, tracking_uri: str | None) -> Any:
    """The gristmill bundle of a version, or None for a pyfunc that gristmill did not log."""
    try:
        load_bundle = importlib.import_module("gristmill.tracking").load_bundle
    except (ImportError, AttributeError):
        return None
    try:
        return load_bundle(pinned, tracking_uri=tracking_uri)
    except Exception as exc:  # any pyfunc with the served-model output can still be served
        logger.info("model %s has no gristmill bundle (%s); serving its pyfunc alone", pinned, exc)
        return None


def load_served_model(
    uri: str, *, tracking_uri: str | None = None, task: str | None = None
) -> ServedModel:
    """Load the model version ``uri`` points to (``NAME@ALIAS`` or ``NAME/VERSION``).

    Uses :func:`gristmill.tracking.load_bundle` when tracking provides it, so the LFs, label model
    and reference sample come along. The column types are read from the pyfunc signature and
    refined by the payload kinds of the bundle's training spec: a ``datetime`` payload is a
    date-time (its text must parse), and a payload accepts null where its type can hold a
    missing value, as the featurizer reads missing values of every kind.

    Parameters
    ----------
    uri : str
        ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION``.
    tracking_uri : str, optional
        MLflow tracking and registry URI.
    task : str, optional
        The task to serve, required for a model that predicts several: the served model then
        answers with that task's classes, LFs and label model, as a one-task model would.

    Raises
    ------
    ServingError
        When the tracking server does not answer (within seconds), the model cannot be resolved
        or loaded, has no usable signature, predicts several tasks and ``task`` is not given, or
        has no task ``task``.
    """
    name, alias, pinned_version = parse_model_uri(uri)
    tracking_uri = resolve_store(tracking_uri)
    if pinned_version is not None:  # resolving an alias checks the server itself
        check_server(tracking_uri)
    version = resolve_version(uri, tracking_uri=tracking_uri)
    pinned = f"{name}/{version}"
    bundle = _try_load_bundle(pinned, tracking_uri)
    try:
        if bundle is not None:
            pyfunc, run_id = bundle.pyfunc, bundle.run_id
        else:
            from gristmill.tracking import _store

            require("mlflow", extra="tracking", feature="gristmill serve")
            client = _store.open_client(tracking_uri)
            run_id = client.get_model_version(name, version).run_id
            # models:/ URIs are resolved by MLflow's fluent API, on one process-wide store:
            # held on this one while loading (another thread may open another store).
            with _store.fluent_api_on(tracking_uri) as mlflow:
                pyfunc = mlflow.pyfunc.load_model(f"models:/{pinned}")
    except Exception as exc:
        raise ServingError(f"cannot load model {pinned}: {exc}") from exc
    return served_model(name, str(version), alias, run_id, pyfunc, _task_view(bundle, task, pinned))


def served_model(
    name: str, version: str, alias: str | None, run_id: str, pyfunc: Any, bundle: Any
) -> ServedModel:
    """The :class:`ServedModel` of a loaded pyfunc and its gristmill bundle (or None).

    Columns, classes and request types come from the pyfunc's signature, overridden by the
    bundle's payload columns, classes and the payload kinds its spec declares. A numeric payload
    whose training values were all whole numbers is requested as an integer or null, and given
    to the model as a ``double``, so that a missing value reaches it as NaN (MLflow refuses NaN
    in a ``long`` column): :meth:`ServedModel.predict_frame` checks it against a copy of the
    signature that takes it so. ``pyfunc`` and its metadata are left as they are.

    Raises
    ------
    ServingError
        When neither declares the classes.
    """
    pinned = f"{name}/{version}"
    columns, types, optional, classes = _schema_columns(pyfunc, pinned)
    if bundle is not None:
        columns = list(getattr(bundle, "payload_columns", None) or columns)
        classes = list(getattr(bundle, "classes", None) or classes)
    if not classes:
        raise ServingError(
            f"model {pinned} declares no classes: its output signature needs "
            "'proba_<class>' columns"
        )
    signature_types = {col: types.get(col, "string") for col in columns}
    kinds = declared_kinds(bundle)
    column_types, optional = _served_types(signature_types, optional, kinds)
    signature_types.update(dict.fromkeys(_whole_number_payloads(signature_types, kinds), "double"))
    return ServedModel(
        name=name,
        version=version,
        alias=alias,
        run_id=run_id,
        pyfunc=pyfunc,
        classes=classes,
        payload_columns=columns,
        column_types=column_types,
        optional_columns=optional,
        bundle=bundle,
        task=getattr(bundle, "task", None),
        signature_types={col: t for col, t in signature_types.items() if column_types[col] != t},
    )


def declared_kinds(bundle: Any) -> dict[str, str]:
    """The payload kinds (``text``, ``datetime`` ...) of the bundle's training spec, by column.

    Empty for a pyfunc without a gristmill bundle, or a spec without payloads.
    """
    spec = getattr(bundle, "spec", None)
    payloads = spec.get("payloads") if isinstance(spec, dict) else None
    kinds: dict[str, str] = {}
    for column, payload in (payloads if isinstance(payloads, dict) else {}).items():
        kind = payload.get("kind") if isinstance(payload, dict) else payload
        if isinstance(kind, str):
            kinds[str(column)] = kind
    return kinds


def _served_types(
    signature_types: dict[str, str], optional: frozenset[str], kinds: dict[str, str]
) -> tuple[dict[str, str], frozenset[str]]:
    """The request type of each column, and the columns accepting null, given the spec's kinds.

    A ``datetime`` payload the signature holds as text (or as datetime64) is served as a
    date-time. A declared payload accepts null when its signature type can hold a missing value,
    or when it is a numeric payload of whole numbers (:func:`served_model` lets its missing values
    through). Other whole-number payloads (categorical codes) do not: read as floats, their
    categories would change.
    """
    served = dict(signature_types)
    for col, kind in kinds.items():
        if kind == "datetime" and served.get(col) in ("string", "datetime"):
            served[col] = "datetime"
    nullable = {col for col in kinds if served.get(col) in _NULLABLE_TYPES}
    return served, optional | nullable | _whole_number_payloads(signature_types, kinds)


def _whole_number_payloads(signature_types: dict[str, str], kinds: dict[str, str]
                           ) -> frozenset[str]:
    """The numeric payloads the signature types as whole numbers (all training values were)."""
    return frozenset(col for col, kind in kinds.items()
                     if kind == "numeric" and signature_types.get(col) in _WHOLE_NUMBER_TYPES)


def _taking_optional_doubles(pyfunc: Any, columns: frozenset[str]) -> Any:
    """A copy of ``pyfunc`` whose input signature takes ``columns`` as optional ``double``s.

    MLflow's schema check refuses NaN in a whole-number column; as a ``double`` a missing value
    passes, and the featurizer reads numeric payloads as floats whatever their type. The copy
    shares the model implementation; ``pyfunc`` and its metadata are not changed, so whoever
    else holds them (a bundle, the monitor) still sees the signature the model was logged with.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    metadata = copy.copy(pyfunc.metadata)
    signature = metadata.signature
    inputs = Schema([
        ColSpec("double", spec.name, required=False) if spec.name in columns else spec
        for spec in signature.inputs.inputs
    ])
    metadata.signature = ModelSignature(inputs, signature.outputs, signature.params)
    predictor = copy.copy(pyfunc)
    # PyFuncModel.metadata has no setter; it reads this attribute, which the copy now owns.
    predictor._model_meta = metadata
    return predictor


def _task_view(bundle: Any, task: str | None, pinned: str) -> Any:
    """The bundle, or its view as ``task``; refuses a several-task model without a task."""
    names = [str(t["name"]) for t in getattr(bundle, "tasks", None) or []]
    if task is None:
        if len(names) > 1:
            raise ServingError(
                f"model {pinned} predicts several tasks ({', '.join(names)}); choose one of "
                f"them with --task NAME (task=NAME in Python)"
            )
        return bundle
    if bundle is None:
        raise ServingError(
            f"model {pinned} is not a gristmill model bundle and records no tasks; serve it "
            "without a task"
        )
    try:
        return bundle.for_task(task)
    except TrackingError as exc:
        raise ServingError(str(exc)) from exc
