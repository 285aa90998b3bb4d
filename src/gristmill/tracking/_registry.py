"""The model registry workflow: challenger, champion, promotion checks, rollback, diffs."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from gristmill.exceptions import PromotionRefused, TrackingError
from gristmill.tracking import _store
from gristmill.tracking._tracker import CHAMPION, TAG, lower_is_better, split_task

_STACK_TAG = TAG + "champion_stack"
_HISTORY_TAG = TAG + "champion_history"
_HISTORY_KEEP = 50
_TEST_PREFIX = "end_model.test."


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference: ``NAME@ALIAS``, ``NAME/VERSION`` or ``models:/`` forms."""

    name: str
    version: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        """Parse ``"spam@champion"``, ``"spam/3"`` or ``"models:/spam@champion"``.

        Examples
        --------
        >>> ModelRef.parse("spam@champion")
        ModelRef(name='spam', version=None, alias='champion')
        >>> ModelRef.parse("models:/spam/03")
        ModelRef(name='spam', version='3', alias=None)
        """
        text = ref.removeprefix("models:/").strip()
        if "@" in text:
            name, alias = text.rsplit("@", 1)
            if name and alias:
                return cls(name=name, alias=alias)
        elif "/" in text:
            name, version = text.rsplit("/", 1)
            if name and version.isdigit():
                return cls(name=name, version=version_number(version))
        raise TrackingError(
            f"model reference {ref!r} is not of the form NAME@ALIAS or NAME/VERSION "
            "(e.g. 'spam@champion' or 'spam/3')"
        )

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def version_number(version: str | int) -> str:
    """A model version as the registry writes it: ``"03"`` and ``3`` are ``"3"``.

    Raises
    ------
    TrackingError
        When ``version`` is not a whole number >= 1.

    Examples
    --------
    >>> version_number("03"), version_number(7)
    ('3', '7')
    """
    text = str(version).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise TrackingError(f"a model version is a whole number >= 1; got {str(version)!r}")
    return str(int(text))


@dataclass(frozen=True)
class Promotion:
    """Outcome of :func:`promote`.

    Attributes
    ----------
    name, version : str
        The model and the version that is now champion.
    previous : str or None
        The champion it replaced.
    comparisons : pandas.DataFrame
        One row per compared test metric: ``metric``, ``candidate``, ``champion``, ``delta``,
        ``regressed``.
    forced : bool
        True when regressions (or versions sharing no metric to compare) were overridden
        with ``force=True``.
    """

    name: str
    version: str
    previous: str | None
    comparisons: pd.DataFrame
    forced: bool = False


@dataclass(frozen=True)
class VersionDiff:
    """Differences between two versions of a registered model (see :func:`diff_versions`).

    Each table has columns ``key``, ``<v1>``, ``<v2>`` and lists only differing keys, except
    ``metrics`` which lists every metric with its ``delta``. ``lfs`` and ``data`` are None
    when a version's run has no gristmill lineage (it was logged by plain MLflow); ``notes``
    then says which.
    """

    name: str
    v1: str
    v2: str
    spec: pd.DataFrame
    lfs: pd.DataFrame | None
    data: pd.DataFrame | None
    metrics: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def resolve_version(client: Any, ref: str | ModelRef) -> Any:
    """The ``ModelVersion`` a reference points to; TrackingError naming it when there is none."""
    parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
    mlflow = _store.import_mlflow()
    try:
        if parsed.alias:
            return client.get_model_version_by_alias(parsed.name, parsed.alias)
        return client.get_model_version(parsed.name, parsed.version)
    except mlflow.exceptions.MlflowException as exc:
        why = _missing_alias(client, parsed) if parsed.alias else exc.message
        raise TrackingError(f"no registered model version {parsed}: {why}") from exc


def _missing_alias(client: Any, ref: ModelRef) -> str:
    """Why ``NAME@ALIAS`` resolves to nothing, naming the aliases the model does have."""
    mlflow = _store.import_mlflow()
    try:
        aliases = sorted(client.get_registered_model(ref.name).aliases)
    except mlflow.exceptions.MlflowException:
        return f"there is no registered model named {ref.name!r}"
    known = f"its aliases are {', '.join(aliases)}" if aliases else "it has no aliases"
    return f"model {ref.name!r} has no alias {ref.alias!r} ({known})"


def version_run(client: Any, version: Any) -> Any:
    """The MLflow run a model version was registered from.

    Raises
    ------
    TrackingError
        When the version was registered without a run, or its run was deleted for good.
    """
    run = _run_or_none(client, version)
    if run is None:
        raise TrackingError(f"{version.name} {_runless(version)}")
    return run


def _run_or_none(client: Any, version: Any) -> Any | None:
    """The run of a version; None when it has none or the run no longer exists."""
    if not version.run_id:
        return None
    mlflow = _store.import_mlflow()
    try:
        return client.get_run(version.run_id)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _no_shared_metric(
    candidate: Any, cand_run: Any, champion: Any, champ_run: Any, metric: str | None
) -> str:
    """Why two versions' runs share no end-model test metric: a run logged none, or tasks differ."""
    bare = [
        f"{who}version {version.version}'s run {run.info.run_id}"
        for who, version, run in (("", candidate, cand_run), ("champion ", champion, champ_run))
        if not any(_test_metric(key) for key in run.data.metrics)
    ]
    if bare:
        return (
            f"{' and '.join(bare)} logged no end-model test metric (registered without "
            "'gristmill run'?)"
        )
    named = f" named {metric!r}" if metric else ""
    return f"they share no end-model test metric{named} (were they trained for different tasks?)"


def _runless(version: Any) -> str:
    """Why a version has no run to read metrics or lineage from (see :func:`_run_or_none`)."""
    if not version.run_id:
        return (
            f"version {version.version} has no tracked run: it was registered without one "
            f"(source {version.source})"
        )
    return (
        f"version {version.version} has no tracked run: its run {version.run_id} was deleted "
        "from the store"
    )


def list_versions(
    name: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> pd.DataFrame:
    """The versions of a registered model, newest first.

    Returns
    -------
    pandas.DataFrame
        Columns ``version``, ``aliases``, ``run_id``, ``created`` (UTC), ``status``, ``metric``
        (the primary test metric's name), ``value``, ``by_task`` and ``project``. For a model
        of several tasks, ``by_task`` maps each task to its value of the metric and ``value``
        is their mean; for a model of one task ``by_task`` is empty. ``project`` is the folder
        of the spec the version was trained from (projects sharing a store and a spec name
        add versions to one model); metric, value and project are empty for a version without
        a tracked run.

    Raises
    ------
    TrackingError
        When no model called ``name`` is registered.
    """
    client = _store.connect(project_dir, tracking_uri)
    versions = _versions(client, name)
    aliases = aliases_by_version(client, name)
    rows = []
    for mv in versions:
        run = _run_or_none(client, mv)
        metric = _primary_metric(run) if run else None
        values = _overall_values(run.data.metrics, metric) if run and metric else {}
        rows.append(
            {
                "version": str(mv.version),
                "aliases": ",".join(aliases.get(str(mv.version), [])),
                "run_id": mv.run_id,
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
                "status": mv.status,
                "metric": metric or "",
                "value": sum(values.values()) / len(values) if values else math.nan,
                "by_task": {task: v for task, v in values.items() if task is not None},
                "project": run.data.tags.get(TAG + "spec_dir", "") if run else "",
            }
        )
    columns = ["version", "aliases", "run_id", "created", "status", "metric", "value", "by_task"]
    return pd.DataFrame(rows, columns=[*columns, "project"])


def promote(
    name: str,
    version: str | int,
    *,
    tolerance: float = 0.0,
    force: bool = False,
    metric: str | None = None,
    project_dir: str | os.PathLike[str] = ".",
    tracking_uri: str | None = None,
) -> Promotion:
    """Move the alias ``champion`` to ``version`` unless it regresses versus the champion.

    The candidate's test metric — overall and on every slice it was evaluated on — is compared
    with the current champion's. A drop larger than ``tolerance`` (a rise, for losses) refuses
    the promotion. For a model of several tasks, each task's metric is compared with the
    champion's metric of that task: a regression on any task refuses.

    Parameters
    ----------
    name : str
        Registered model name (the spec name).
    version : str or int
        The candidate version.
    tolerance : float, default 0.0
        Largest allowed regression, in the metric's units.
    force : bool, default False
        Promote even when the candidate regresses.
    metric : str, optional
        The test metric to compare (of every task); default: the run's primary metric. It
        must be one the candidate logged, even when there is no champion to compare with.
    project_dir, tracking_uri
        Where the store is (see :func:`resolve_tracking_uri`).

    Returns
    -------
    Promotion
        ``previous`` is ``version`` when ``version`` already was champion; nothing is then
        changed.

    Raises
    ------
    PromotionRefused
        When the candidate regresses beyond ``tolerance``, shares no test metric with the
        champion, or either has no tracked run to read metrics from (registered without one,
        or its run deleted), and ``force`` is False; the message lists each regressed metric.
    TrackingError
        When the model or version does not exist, the tolerance is negative or not finite, or
        the candidate logged no test metric ``metric``.
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise TrackingError(
            f"the promotion tolerance must be a finite number >= 0; got {tolerance}"
        )
    uri = _store.resolve_tracking_uri(project_dir, tracking_uri)
    client = _store.connect(project_dir, tracking_uri)
    candidate = resolve_version(client, ModelRef(name=name, version=version_number(version)))
    if metric is not None:
        what = f"{name} version {candidate.version}"
        _check_metric(version_run(client, candidate), metric, what)
    with _store.store_lock(uri):
        champion = _alias_version(client, name, CHAMPION)
        if champion is not None and str(champion.version) == str(candidate.version):
            return Promotion(name, str(candidate.version), str(champion.version), _comparisons([]))
        comparisons = _comparisons([])
        if champion is not None:
            comparisons = _check_promotion(client, candidate, champion, tolerance, metric, force)
        forced = champion is not None and (
            bool(comparisons["regressed"].any()) or not len(comparisons)
        )
        client.set_registered_model_alias(name, CHAMPION, candidate.version)
        stack = _stack(client, name)
        # A champion set outside gristmill (the MLflow UI) is pushed too, so rollback finds it.
        for champ in (champion, candidate):
            if champ is not None and (not stack or stack[-1] != str(champ.version)):
                stack.append(str(champ.version))
        _record(
            client,
            name,
            stack,
            {"action": "promote", "version": str(candidate.version), "forced": forced},
        )
        client.set_model_version_tag(name, candidate.version, TAG + "promoted_at", _now())
    return Promotion(
        name=name,
        version=str(candidate.version),
        previous=str(champion.version) if champion is not None else None,
        comparisons=comparisons,
        forced=forced,
    )


def _check_promotion(
    client: Any, candidate: Any, champion: Any, tolerance: float, metric: str | None, force: bool
) -> pd.DataFrame:
    """Compare a candidate with the champion; PromotionRefused unless it may replace it."""
    name = candidate.name
    head = (
        f"cannot compare {name} version {candidate.version} with champion version "
        f"{champion.version}"
    )
    again = "Use --force (force=True) to promote anyway."
    cand_run, champ_run = _run_or_none(client, candidate), _run_or_none(client, champion)
    if cand_run is None or champ_run is None:
        if force:
            return _comparisons([])
        reasons = [_runless(candidate)] if cand_run is None else []
        reasons += [f"champion {_runless(champion)}"] if champ_run is None else []
        raise PromotionRefused(f"{head}: {'; '.join(reasons)}. {again}")
    comparisons = compare_runs(cand_run, champ_run, tolerance, metric)
    regressed = comparisons[comparisons["regressed"]]
    if force:
        return comparisons
    if not len(comparisons):
        why = _no_shared_metric(candidate, cand_run, champion, champ_run, metric)
        raise PromotionRefused(f"{head}: {why}. {again}")
    if len(regressed):
        lines = "; ".join(
            f"{r.metric}: {r.candidate:.4f} vs champion {r.champion:.4f}"
            for r in regressed.itertuples()
        )
        raise PromotionRefused(
            f"refusing to promote {name} version {candidate.version} over champion "
            f"version {champion.version}: it regresses beyond the tolerance "
            f"{tolerance} on {lines}. {again}"
        )
    return comparisons


def rollback(
    name: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion, keeping the history in tags.

    Earlier champions deleted from the registry since are skipped (the history event lists
    them under ``skipped``).

    Returns
    -------
    (str, str)
        The version that was champion and the version that is champion now.

    Raises
    ------
    TrackingError
        When there is no champion or no earlier champion (still registered) to go back to.
    """
    uri = _store.resolve_tracking_uri(project_dir, tracking_uri)
    client = _store.connect(project_dir, tracking_uri)
    with _store.store_lock(uri):
        registered = {str(mv.version) for mv in _versions(client, name)}
        current = _alias_version(client, name, CHAMPION)
        if current is None:
            raise TrackingError(f"model {name!r} has no champion to roll back")
        stack = _stack(client, name)
        if stack and stack[-1] == str(current.version):
            stack.pop()
        skipped = []
        while stack and stack[-1] not in registered:
            skipped.append(stack.pop())
        if not stack:
            raise TrackingError(
                f"model {name!r} has no earlier champion than version {current.version} "
                f"to roll back to{_deleted(skipped)}"
            )
        previous = stack[-1]
        client.set_registered_model_alias(name, CHAMPION, previous)
        event = {"action": "rollback", "version": previous, "from": str(current.version)}
        _record(client, name, stack, event | ({"skipped": skipped} if skipped else {}))
        client.set_model_version_tag(name, current.version, TAG + "rolled_back_at", _now())
    return str(current.version), previous


def _deleted(versions: list[str]) -> str:
    """``": version 1 was deleted"`` for the earlier champions a rollback had to skip."""
    if not versions:
        return ""
    if len(versions) == 1:
        return f": version {versions[0]} was deleted"
    return f": versions {', '.join(versions)} were deleted"


def champion_history(
    name: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> list[dict[str, Any]]:
    """The promote and rollback events of a model, oldest first (the last 50 are kept)."""
    client = _store.connect(project_dir, tracking_uri)
    model = _registered_model(client, name)
    return list(json.loads(model.tags.get(_HISTORY_TAG, "[]")))


def compare_runs(
    cand_run: Any, champ_run: Any, tolerance: float, metric: str | None = None
) -> pd.DataFrame:
    """Compare the test metrics of two versions' runs (overall and per slice, per task).

    Only metrics both runs logged are compared; an empty table means they share none.
    The ``metric`` column names a task's metrics ``<task>.<metric>``
    (``<task>.slice.<slice>.<metric>``) for a model of several tasks.
    """
    metric = metric or _primary_metric(cand_run)
    rows = []
    for key, value in sorted(cand_run.data.metrics.items()):
        found = _test_metric(key)
        if found is None or key not in champ_run.data.metrics:
            continue
        task, name = found
        if metric is not None and name.rsplit(".", 1)[-1] != metric:
            continue
        reference = champ_run.data.metrics[key]
        delta = value - reference
        worse = -delta if not lower_is_better(name.rsplit(".", 1)[-1]) else delta
        rows.append(
            {
                "metric": f"{task}.{name}" if task is not None else name,
                "candidate": value,
                "champion": reference,
                "delta": delta,
                "regressed": bool(worse > tolerance + 1e-12),
            }
        )
    return _comparisons(rows)


def _comparisons(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The table of :attr:`Promotion.comparisons` (empty when ``rows`` is)."""
    return pd.DataFrame(rows, columns=["metric", "candidate", "champion", "delta", "regressed"])


def diff_versions(
    name: str,
    v1: str | int,
    v2: str | int,
    *,
    project_dir: str | os.PathLike[str] = ".",
    tracking_uri: str | None = None,
) -> VersionDiff:
    """What differs between two versions: spec params, LF source digests, data digests, metrics.

    A version whose run was logged by plain MLflow has params and metrics but no gristmill
    lineage: its spec and metrics are compared, LF and data digests are not (see
    :class:`VersionDiff`).

    Raises
    ------
    TrackingError
        When the model or a version does not exist or a version has no tracked run.
    """
    client = _store.connect(project_dir, tracking_uri)
    mv1 = resolve_version(client, ModelRef(name=name, version=version_number(v1)))
    mv2 = resolve_version(client, ModelRef(name=name, version=version_number(v2)))
    run1, run2 = version_run(client, mv1), version_run(client, mv2)
    c1, c2 = f"v{mv1.version}", f"v{mv2.version}"
    notes = [
        f"version {mv.version} (run {run.info.run_id}) has no gristmill lineage: LF and data "
        "digests are not compared"
        for mv, run in ((mv1, run1), (mv2, run2))
        if run.data.tags.get(TAG + "kind") != "pipeline"
    ]
    lfs = data = None
    if not notes:
        from gristmill.tracking._lineage import run_lineage

        lin1, lin2 = run_lineage(client, mv1.run_id), run_lineage(client, mv2.run_id)
        lfs = _changed(_lf_digest_map(lin1), _lf_digest_map(lin2), c1, c2)
        data = _changed(_data_map(lin1), _data_map(lin2), c1, c2)
    return VersionDiff(
        name=name,
        v1=str(mv1.version),
        v2=str(mv2.version),
        spec=_changed(run1.data.params, run2.data.params, c1, c2),
        lfs=lfs,
        data=data,
        metrics=_metric_table(run1.data.metrics, run2.data.metrics, c1, c2),
        notes=notes,
    )


def _primary_metric(run: Any) -> str | None:
    """The metric a version is judged by: the run's tag, else the spec's ``model.metric``.

    Runs of several tasks were once logged with an empty tag; their spec still names it.
    """
    tags, params = run.data.tags, run.data.params
    return tags.get(TAG + "primary_metric") or params.get("model.metric") or None


def _test_metric(key: str) -> tuple[str | None, str] | None:
    """``(task, name)`` of an end-model test metric key (task None for one task), else None."""
    task, rest = split_task(key)
    if not rest.startswith(_TEST_PREFIX):
        return None
    return task, rest.removeprefix(_TEST_PREFIX)


def _overall_values(metrics: dict[str, float], metric: str) -> dict[str | None, float]:
    """Each task's overall test value of ``metric`` (one entry, task None, for one task)."""
    values: dict[str | None, float] = {}
    for key, value in sorted(metrics.items()):
        found = _test_metric(key)
        if found is not None and found[1] == metric:
            values[found[0]] = value
    return values


def _check_metric(run: Any, metric: str, what: str) -> None:
    """Refuse a metric that some task of the run logged no overall test value of."""
    names: dict[str | None, set[str]] = {}
    for key in run.data.metrics:
        found = _test_metric(key)
        if found is not None and "." not in found[1]:
            names.setdefault(found[0], set()).add(found[1])
    if not names:
        raise TrackingError(f"{what} logged no end-model test metric to compare {metric!r} on")
    for task, logged in sorted(names.items(), key=lambda item: str(item[0])):
        if metric not in logged:
            of_task = f" for task {task!r}" if task is not None else ""
            raise TrackingError(
                f"{what} logged no end-model test metric {metric!r}{of_task}; "
                f"it logged {', '.join(sorted(logged))}"
            )


def _versions(client: Any, name: str) -> list[Any]:
    _registered_model(client, name)
    found = [mv for mv in client.search_model_versions(_name_filter(name)) if mv.name == name]
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def _name_filter(name: str) -> str:
    """A search filter matching the versions of model ``name`` (and, rarely, a few more).

    MLflow's filter strings have no escapes: the name is quoted with a quote character it does
    not contain; a name containing both is searched by its part before the first quote.

    Examples
    --------
    >>> print(_name_filter("o'neil"))
    name = "o'neil"
    """
    quote = next((q for q in ("'", '"') if q not in name), None)
    if quote is not None:
        return f"name = {quote}{name}{quote}"
    prefix = re.split("['\"]", name, maxsplit=1)[0]
    return f"name LIKE '{prefix}%'"


def _registered_model(client: Any, name: str) -> Any:
    mlflow = _store.import_mlflow()
    try:
        return client.get_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(
            f"no registered model named {name!r} in {client.tracking_uri}; "
            "a tracked `gristmill run` registers one under the spec name"
        ) from exc


def _alias_version(client: Any, name: str, alias: str) -> Any:
    model = _registered_model(client, name)
    version = model.aliases.get(alias) if isinstance(model.aliases, dict) else None
    return client.get_model_version(name, version) if version is not None else None


def aliases_by_version(client: Any, name: str) -> dict[str, list[str]]:
    """Map each version of a registered model to its sorted aliases."""
    found: dict[str, list[str]] = {}
    for alias, version in sorted(_registered_model(client, name).aliases.items()):
        found.setdefault(str(version), []).append(alias)
    return found


def _stack(client: Any, name: str) -> list[str]:
    text = _registered_model(client, name).tags.get(_STACK_TAG, "")
    return [v for v in text.split(",") if v]


def _record(client: Any, name: str, stack: list[str], event: dict[str, Any]) -> None:
    history = json.loads(_registered_model(client, name).tags.get(_HISTORY_TAG, "[]"))
    history.append({**event, "at": _now()})
    client.set_registered_model_tag(name, _STACK_TAG, ",".join(stack[-500:]))
    client.set_registered_model_tag(name, _HISTORY_TAG, json.dumps(history[-_HISTORY_KEEP:]))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lf_digest_map(lineage: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for file, entry in lineage["lfs"].items():
        flat[file] = entry["digest"]
        for function, digest in entry["functions"].items():
            flat[f"{file}::{function}"] = digest
        for helper, digest in entry.get("helpers", {}).items():  # older runs logged none
            flat[f"{file}::{helper}"] = digest
    return flat


def _data_map(lineage: dict[str, Any]) -> dict[str, str]:
    entries = lineage["data"].items()
    return {f"{s}.digest": e["digest"] for s, e in entries} | {
        f"{s}.source": e["source"] for s, e in entries
    }


def _changed(a: dict[str, Any], b: dict[str, Any], c1: str, c2: str) -> pd.DataFrame:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return pd.DataFrame(
        {"key": keys, c1: [a.get(k) for k in keys], c2: [b.get(k) for k in keys]},
        columns=["key", c1, c2],
    )


def _metric_table(a: dict[str, float], b: dict[str, float], c1: str, c2: str) -> pd.DataFrame:
    keys = sorted(set(a) | set(b))
    first = [a.get(k, math.nan) for k in keys]
    second = [b.get(k, math.nan) for k in keys]
    return pd.DataFrame(
        {
            "key": keys,
            c1: first,
            c2: second,
            "delta": [y - x for x, y in zip(first, second, strict=True)],
        },
        columns=["key", c1, c2, "delta"],
    )
