"""Lineage: from data digests through cleaning, LFs and label model to the model, and back."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gristmill.exceptions import TrackingError
from gristmill.tracking import _store
from gristmill.tracking._registry import aliases_by_version, resolve_version, version_run
from gristmill.tracking._tags import joined_tag, part_key
from gristmill.tracking._tracker import TAG

_MIN_QUERY = 4


def run_lineage(client: Any, run_id: str) -> dict[str, Any]:
    """The lineage document (``lineage.json``) a tracked run logged."""
    with tempfile.TemporaryDirectory(prefix="gristmill-lineage-") as tmp:
        try:
            path = client.download_artifacts(run_id, "lineage.json", tmp)
        except Exception as exc:  # MLflow raises store-specific types for a missing artifact
            raise TrackingError(
                f"run {run_id} has no lineage.json artifact; was it logged by gristmill? ({exc})"
            ) from exc
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))


def lineage(
    ref: str, *, project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> dict[str, Any]:
    """The full chain behind a registered model version.

    Parameters
    ----------
    ref : str
        ``NAME@ALIAS`` or ``NAME/VERSION``.
    project_dir, tracking_uri
        Where the store is (see :func:`resolve_tracking_uri`).

    Returns
    -------
    dict
        Keys ``data`` (per split: source, digest, rows), ``cleaning``, ``lfs`` (per module, by
        its path from the spec's folder, e.g. ``a/lfs.py``, or by file name for older runs:
        digest, under ``functions`` each labeling function's digest by LF name and under
        ``helpers`` each helper module's digest by path; ``helpers`` is absent for older
        runs), ``slices``
        (per slicing-function module: ``digest`` and ``helpers`` as for ``lfs``; older runs
        logged the digest alone, or no ``slices`` at all), ``tasks`` (the task names of
        a model of several tasks), ``label_model``, ``end_model``, ``run`` (id, status, start,
        git commit, gristmill version) and ``model`` (name, version, aliases).

    Raises
    ------
    TrackingError
        When the reference resolves to nothing or the run has no lineage.
    """
    client = _store.connect(project_dir, tracking_uri)
    version = resolve_version(client, ref)
    run = version_run(client, version)
    doc = run_lineage(client, version.run_id)
    tags = run.data.tags
    doc["run"] = {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "status": run.info.status,
        "start": datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(
            timespec="seconds"
        ),
        "git_commit": tags.get(TAG + "git_commit"),
        "gristmill_version": tags.get(TAG + "version"),
    }
    doc["model"] = {
        "name": version.name,
        "version": str(version.version),
        "aliases": aliases_by_version(client, version.name).get(str(version.version), []),
        "source": version.source,
    }
    return doc


def render_lineage(doc: dict[str, Any]) -> str:
    """A plain-text rendering of :func:`lineage`'s document, one stage per block."""
    lines = ["data"]
    for split, entry in doc["data"].items():
        file_part = f", file {entry['file_digest']}" if entry.get("file_digest") else ""
        rows = f"({entry['rows']} rows)"
        lines.append(f"  {split}: {entry['source']} {rows} digest {entry['digest']}{file_part}")
    cleaning = doc.get("cleaning")
    lines += ["→ cleaning", f"  {json.dumps(cleaning) if cleaning else 'none'}"]
    lines.append("→ labeling functions")
    for file, entry in doc["lfs"].items():
        lines.append(f"  {file} {entry['digest']}")
        lines += [f"    {name} {digest}" for name, digest in entry["functions"].items()]
        lines += [
            f"    {helper} {digest} (imported helper)"
            for helper, digest in entry.get("helpers", {}).items()
        ]
    for file, entry in doc.get("slices", {}).items():
        # Older runs logged a slicing-function module's file digest alone.
        entry = {"digest": entry, "helpers": {}} if isinstance(entry, str) else entry
        lines.append(f"  {file} {entry['digest']} (slicing functions)")
        lines += [
            f"    {helper} {digest} (imported helper)"
            for helper, digest in entry["helpers"].items()
        ]
    label_model = doc["label_model"]
    lines += ["→ label model", f"  {label_model['type']} {_kv(label_model['params'])}"]
    end_model = doc["end_model"]
    test_prefixes = ("test.", *(f"{task}.test." for task in doc.get("tasks", [])))
    test = {k: v for k, v in end_model["metrics"].items() if k.startswith(test_prefixes)}
    lines += ["→ end model", f"  {end_model['type']} {_kv(end_model['params'])}"]
    if test:
        lines.append(f"  {_kv({k: f'{v:.4f}' for k, v in test.items()})}")
    run = doc.get("run", {})
    model = doc.get("model", {})
    lines += [
        "→ run",
        f"  {run.get('run_id')} {run.get('status')} started {run.get('start')} "
        f"git {run.get('git_commit') or '-'} gristmill {run.get('gristmill_version')}",
    ]
    if model:
        aliases = ",".join(model["aliases"]) or "-"
        lines += ["→ model", f"  {model['name']} version {model['version']} aliases {aliases}"]
    return "\n".join(lines)


def models_trained_on(
    *,
    dataset_digest: str | None = None,
    lf_digest: str | None = None,
    project_dir: str | os.PathLike[str] = ".",
    tracking_uri: str | None = None,
) -> pd.DataFrame:
    """Registered model versions trained on a dataset digest or with an LF source digest.

    Exactly one of ``dataset_digest`` (table or file digest, see :func:`lineage`) and
    ``lf_digest`` (digest of an LF file, of a labeling function or of a helper module an LF
    file imports) is given; a prefix of at least 4 characters matches.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``version``, ``aliases``, ``run_id``, sorted by name and version.
    """
    if (dataset_digest is None) == (lf_digest is None):
        raise TrackingError("give exactly one of a dataset digest or an LF digest")
    query = (dataset_digest or lf_digest or "").strip().lower()
    if len(query) < _MIN_QUERY or not all(c in "0123456789abcdef" for c in query):
        raise TrackingError(
            f"digest {query!r} must be at least {_MIN_QUERY} hexadecimal characters"
        )
    tag = TAG + ("data_digests" if dataset_digest is not None else "lf_digests")
    client = _store.connect(project_dir, tracking_uri)
    rows = []
    aliases: dict[str, dict[str, list[str]]] = {}
    for run_id in _runs_with_digest_prefix(client, tag, query):
        for mv in client.search_model_versions(f"run_id = '{run_id}'"):
            if mv.name not in aliases:
                aliases[mv.name] = aliases_by_version(client, mv.name)
            rows.append(
                {
                    "name": mv.name,
                    "version": str(mv.version),
                    "aliases": ",".join(aliases[mv.name].get(str(mv.version), [])),
                    "run_id": run_id,
                }
            )
    table = pd.DataFrame(rows, columns=["name", "version", "aliases", "run_id"])
    if len(table):
        table = table.assign(_v=table["version"].astype(int)).sort_values(["name", "_v"])
        table = table.drop(columns="_v").reset_index(drop=True)
    return table


def _runs_with_digest_prefix(client: Any, tag: str, prefix: str) -> list[str]:
    """Runs whose comma-separated digest tag holds a digest starting with ``prefix``.

    A list too long for one tag is continued in ``tag.2``, ``tag.3`` … (see
    :func:`~gristmill.tracking._tags.tag_parts`), each part holding whole digests, so each part
    that some run has is searched. The store is asked for tags containing ``prefix`` (MLflow's
    filters have no OR), and only runs where one whole digest starts with it are kept: a match
    inside a digest is no match.
    """
    experiments = [e.experiment_id for e in client.search_experiments()]
    found: dict[str, None] = {}
    number = 1
    while experiments and _some_run_has(client, experiments, part_key(tag, number)):
        condition = f"tags.`{part_key(tag, number)}` LIKE '%{prefix}%'"
        for run in _search_runs(client, experiments, condition):
            digests = (joined_tag(run.data.tags, tag) or "").split(",")
            if any(d.startswith(prefix) for d in digests):
                found[run.info.run_id] = None
        number += 1
    return list(found)


def _some_run_has(client: Any, experiments: list[str], tag: str) -> bool:
    """Whether any run of the experiments has the tag."""
    return bool(client.search_runs(experiments, f"tags.`{tag}` LIKE '%'", max_results=1))


def _search_runs(client: Any, experiments: list[str], condition: str) -> Iterator[Any]:
    """Every run of the experiments matching the filter, page by page."""
    token = None
    while True:
        page = client.search_runs(
            experiments, filter_string=condition, max_results=1000, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def _kv(mapping: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in mapping.items())
