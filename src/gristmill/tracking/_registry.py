"""The model registry workflow: challenger, champion, promotion checks, rollback, diffs."""

from __future__ import annotations

import json
import math
import os
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
    ``metrics`` which lists every metric with its ``delta``.
    """

    name: str
    v1: str
    v2: str
    spec: pd.DataFrame
    lfs: pd.DataFrame
    data: pd.DataFrame
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
        raise TrackingError(f"no registered model version {parsed}: {exc.message}") from exc


def list_versions(
    name: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> pd.DataFrame:
    """The versions of a registered model, newest first.

    Returns
    -------
    pandas.DataFrame
        Columns ``version``, ``aliases``, ``run_id``, ``created`` (UTC), ``status``, ``metric``
        (the primary test metric's name), ``value`` and ``by_task``. For a model of several
        tasks, ``by_task`` maps each task to its value of the metric and ``value`` is their
        mean; for a model of one task ``by_task`` is empty.

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
        run = client.get_run(mv.run_id) if mv.run_id else None
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
            }
        )
    return pd.DataFrame(rows)


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

    Raises
    ------
    PromotionRefused
        When the candidate regresses beyond ``tolerance``, or shares no test metric with the
        champion, and ``force`` is False; the message lists each regressed metric.
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
        _check_metric(client.get_run(candidate.run_id), metric, what)
    with _store.store_lock(uri):
        champion = _alias_version(client, name, CHAMPION)
        comparisons = pd.DataFrame(
            columns=["metric", "candidate", "champion", "delta", "regressed"]
        )
        forced = False
        if champion is not None and str(champion.version) != str(candidate.version):
            comparisons = compare_versions(client, candidate, champion, tolerance, metric)
            regressed = comparisons[comparisons["regressed"]]
            if not len(comparisons) and not force:
                raise PromotionRefused(
                    f"cannot compare {name} version {candidate.version} with champion version "
                    f"{champion.version}: they share no end-model test metric"
                    + (f" named {metric!r}" if metric else "")
                    + " (were they trained for different tasks?). Use --force (force=True) "
                    "to promote anyway."
                )
            if len(regressed) and not force:
                lines = "; ".join(
                    f"{r.metric}: {r.candidate:.4f} vs champion {r.champion:.4f}"
                    for r in regressed.itertuples()
                )
                raise PromotionRefused(
                    f"refusing to promote {name} version {candidate.version} over champion "
                    f"version {champion.version}: it regresses beyond the tolerance "
                    f"{tolerance} on {lines}. Use --force (force=True) to promote anyway."
                )
            forced = bool(len(regressed)) or not len(comparisons)
        client.set_registered_model_alias(name, CHAMPION, candidate.version)
        stack = _stack(client, name)
        if not stack or stack[-1] != str(candidate.version):
            stack.append(str(candidate.version))
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


def rollback(
    name: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion, keeping the history in tags.

    Returns
    -------
    (str, str)
        The version that was champion and the version that is champion now.

    Raises
    ------
    TrackingError
        When there is no champion or no earlier champion to go back to.
    """
    uri = _store.resolve_tracking_uri(project_dir, tracking_uri)
    client = _store.connect(project_dir, tracking_uri)
    _versions(client, name)
    with _store.store_lock(uri):
        current = _alias_version(client, name, CHAMPION)
        if current is None:
            raise TrackingError(f"model {name!r} has no champion to roll back")
        stack = _stack(client, name)
        if stack and stack[-1] == str(current.version):
            stack.pop()
        if not stack:
            raise TrackingError(
                f"model {name!r} has no earlier champion than version {current.version} "
                "to roll back to"
            )
        previous = stack[-1]
        client.set_registered_model_alias(name, CHAMPION, previous)
        _record(
            client,
            name,
            stack,
            {"action": "rollback", "version": previous, "from": str(current.version)},
        )
        client.set_model_version_tag(name, current.version, TAG + "rolled_back_at", _now())
    return str(current.version), previous


def champion_history(
    name: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> list[dict[str, Any]]:
    """The promote and rollback events of a model, oldest first (the last 50 are kept)."""
    client = _store.connect(project_dir, tracking_uri)
    model = _registered_model(client, name)
    return list(json.loads(model.tags.get(_HISTORY_TAG, "[]")))


def compare_versions(
    client: Any, candidate: Any, champion: Any, tolerance: float, metric: str | None = None
) -> pd.DataFrame:
    """Compare the test metrics of two model versions (overall and per slice, per task).

    Only metrics both versions logged are compared; an empty table means they share none.
    The ``metric`` column names a task's metrics ``<task>.<metric>``
    (``<task>.slice.<slice>.<metric>``) for a model of several tasks.
    """
    cand_run = client.get_run(candidate.run_id)
    champ_run = client.get_run(champion.run_id)
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
    return pd.DataFrame(rows, columns=["metric", "candidate", "champion", "delta", "regressed"])


def diff_versions(
    name: str,
    v1: str | int,
    v2: str | int,
    *,
    project_dir: str | os.PathLike[str] = ".",
    tracking_uri: str | None = None,
) -> VersionDiff:
    """What differs between two versions: spec params, LF source digests, data digests, metrics."""
    client = _store.connect(project_dir, tracking_uri)
    mv1 = resolve_version(client, ModelRef(name=name, version=version_number(v1)))
    mv2 = resolve_version(client, ModelRef(name=name, version=version_number(v2)))
    run1, run2 = client.get_run(mv1.run_id), client.get_run(mv2.run_id)
    from gristmill.tracking._lineage import run_lineage

    lin1, lin2 = run_lineage(client, mv1.run_id), run_lineage(client, mv2.run_id)
    c1, c2 = f"v{mv1.version}", f"v{mv2.version}"
    lfs1, lfs2 = _lf_digest_map(lin1), _lf_digest_map(lin2)
    data1 = {f"{s}.digest": e["digest"] for s, e in lin1["data"].items()}
    data2 = {f"{s}.digest": e["digest"] for s, e in lin2["data"].items()}
    data1 |= {f"{s}.source": e["source"] for s, e in lin1["data"].items()}
    data2 |= {f"{s}.source": e["source"] for s, e in lin2["data"].items()}
    metrics = _metric_table(run1.data.metrics, run2.data.metrics, c1, c2)
    return VersionDiff(
        name=name,
        v1=str(mv1.version),
        v2=str(mv2.version),
        spec=_changed(run1.data.params, run2.data.params, c1, c2),
        lfs=_changed(lfs1, lfs2, c1, c2),
        data=_changed(data1, data2, c1, c2),
        metrics=metrics,
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
    found = client.search_model_versions(f"name = '{_quote(name)}'")
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


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


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


def _lf_digest_map(lineage: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for file, entry in lineage["lfs"].items():
        flat[file] = entry["digest"]
        for function, digest in entry["functions"].items():
            flat[f"{file}::{function}"] = digest
        for helper, digest in entry.get("helpers", {}).items():  # older runs logged none
            flat[f"{file}::{helper}"] = digest
    return flat


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
