"""The registry on stores that plain MLflow (a user, the UI, ``mlflow gc``) has edited too.

Versions registered without a run or whose run was deleted, versions deleted after they were
champion, a champion alias set outside gristmill, runs logged without gristmill's lineage and
registered models without versions: each is reported in one clear line, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.exceptions import PromotionRefused, TrackingError
from gristmill.tracking import (
    _store,
    champion_history,
    diff_versions,
    lineage,
    list_versions,
    promote,
    rollback,
)

_GONE_RUN = "0" * 32
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _add_version(project: Path, *, run_id: str | None) -> str:
    """Register another version of 'spam' the way plain MLflow can: any run id, or none."""
    client = _store.connect(project)
    return str(client.create_model_version("spam", str(project), run_id=run_id).version)


def _alias_of(project: Path, alias: str) -> str:
    return str(_store.connect(project).get_model_version_by_alias("spam", alias).version)


def test_versions_without_a_run_are_listed_with_no_metric(history_copy: Path) -> None:
    runless = _add_version(history_copy, run_id=None)
    gone = _add_version(history_copy, run_id=_GONE_RUN)
    table = list_versions("spam", project_dir=history_copy).set_index("version")
    assert list(table.index) == [gone, runless, "2", "1"]
    assert table.loc[runless, "metric"] == table.loc[gone, "metric"] == ""
    assert table[["value"]].loc[[runless, gone]].isna().all().all()
    assert table.loc["1", "metric"] == "f1"


def test_a_version_without_a_run_is_promoted_only_with_force(history_copy: Path) -> None:
    runless = _add_version(history_copy, run_id=None)
    gone = _add_version(history_copy, run_id=_GONE_RUN)
    promote("spam", 1, project_dir=history_copy)
    with pytest.raises(PromotionRefused, match=rf"version {runless} has no tracked run.*--force"):
        promote("spam", runless, project_dir=history_copy)
    with pytest.raises(
        PromotionRefused,
        match=rf"version {gone} has no tracked run: its run {_GONE_RUN} was deleted",
    ):
        promote("spam", gone, project_dir=history_copy)
    assert _alias_of(history_copy, "champion") == "1"
    forced = promote("spam", runless, force=True, project_dir=history_copy)
    assert forced.forced and forced.previous == "1" and not len(forced.comparisons)
    with pytest.raises(PromotionRefused, match=r"champion version \d+ has no tracked run"):
        promote("spam", 2, project_dir=history_copy)
    with pytest.raises(TrackingError, match=rf"version {gone} has no tracked run"):
        promote("spam", gone, metric="f1", force=True, project_dir=history_copy)


def test_diff_and_lineage_of_a_version_without_a_run_name_it(history_copy: Path) -> None:
    runless = _add_version(history_copy, run_id=None)
    with pytest.raises(TrackingError, match=rf"spam version {runless} has no tracked run"):
        diff_versions("spam", 1, runless, project_dir=history_copy)
    with pytest.raises(TrackingError, match=rf"spam version {runless} has no tracked run"):
        lineage(f"spam/{runless}", project_dir=history_copy)


def test_diff_with_a_run_logged_by_plain_mlflow_compares_spec_and_metrics(
    history_copy: Path,
) -> None:
    client = _store.connect(history_copy)
    experiment = client.get_run(client.get_model_version("spam", "1").run_id).info.experiment_id
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "training.noise", "0.5")
    client.log_metric(run_id, "end_model.test.f1", 0.5)
    plain = _add_version(history_copy, run_id=run_id)
    diff = diff_versions("spam", 1, plain, project_dir=history_copy)
    assert diff.spec.set_index("key").loc["training.noise"].tolist() == ["0.0", "0.5"]
    assert diff.metrics.set_index("key").loc["end_model.test.f1", f"v{plain}"] == 0.5
    assert diff.lfs is None and diff.data is None
    assert diff.notes == [
        f"version {plain} (run {run_id}) has no gristmill lineage: LF and data digests "
        "are not compared"
    ]
    code, out = _invoke("models", "diff", "spam", "1", plain, "-p", str(history_copy))
    assert code == 0 and "training.noise" in out and "end_model.test.f1" in out
    assert "labeling functions (source digests): not compared (see the note below)" in out
    assert "identical" not in out and f"version {plain} (run {run_id})" in out


def test_promoting_a_version_whose_plain_mlflow_run_logged_no_test_metric_names_it(
    history_copy: Path,
) -> None:
    client = _store.connect(history_copy)
    experiment = client.get_run(client.get_model_version("spam", "1").run_id).info.experiment_id
    run_id = client.create_run(experiment).info.run_id  # e.g. mlflow.sklearn.log_model
    client.log_metric(run_id, "training_score", 0.9)
    plain = _add_version(history_copy, run_id=run_id)
    promote("spam", 1, project_dir=history_copy)
    with pytest.raises(
        PromotionRefused,
        match=rf"version {plain}'s run {run_id} logged no end-model test metric .*--force",
    ) as refused:
        promote("spam", plain, project_dir=history_copy)
    assert "different tasks" not in str(refused.value)
    assert promote("spam", plain, force=True, project_dir=history_copy).forced


def test_rollback_skips_champions_deleted_since(history_copy: Path) -> None:
    client = _store.connect(history_copy)
    third = _add_version(history_copy, run_id=client.get_model_version("spam", "1").run_id)
    for version in (third, "1"):
        promote("spam", version, project_dir=history_copy)
    promote("spam", 2, force=True, project_dir=history_copy)
    client.delete_model_version("spam", "1")
    assert rollback("spam", project_dir=history_copy) == ("2", third)
    assert _alias_of(history_copy, "champion") == third
    event = champion_history("spam", project_dir=history_copy)[-1]
    assert (event["action"], event["version"], event["skipped"]) == ("rollback", third, ["1"])


def test_rollback_when_every_earlier_champion_was_deleted_changes_nothing(
    history_copy: Path,
) -> None:
    promote("spam", 1, project_dir=history_copy)
    promote("spam", 2, force=True, project_dir=history_copy)
    _store.connect(history_copy).delete_model_version("spam", "1")
    before = champion_history("spam", project_dir=history_copy)
    with pytest.raises(TrackingError, match=r"no earlier champion .* version 1 was deleted"):
        rollback("spam", project_dir=history_copy)
    assert _alias_of(history_copy, "champion") == "2"
    assert champion_history("spam", project_dir=history_copy) == before
    code, out = _invoke("models", "rollback", "spam", "-p", str(history_copy))
    assert code == 1 and out.startswith("error:") and "Traceback" not in out


def test_a_champion_set_outside_gristmill_is_rolled_back_to(history_copy: Path) -> None:
    _store.connect(history_copy).set_registered_model_alias("spam", "champion", "1")
    assert promote("spam", 2, force=True, project_dir=history_copy).previous == "1"
    assert rollback("spam", project_dir=history_copy) == ("2", "1")
    assert _alias_of(history_copy, "champion") == "1"


def test_promoting_the_champion_again_changes_nothing(history_copy: Path) -> None:
    promote("spam", 1, project_dir=history_copy)
    client = _store.connect(history_copy)
    promoted_at = client.get_model_version("spam", "1").tags["gristmill.promoted_at"]
    again = promote("spam", 1, project_dir=history_copy)
    assert (again.version, again.previous, again.forced) == ("1", "1", False)
    assert len(champion_history("spam", project_dir=history_copy)) == 1
    model = client.get_registered_model("spam")
    assert model.tags["gristmill.champion_stack"] == "1"
    assert client.get_model_version("spam", "1").tags["gristmill.promoted_at"] == promoted_at
    code, out = _invoke("models", "promote", "spam", "1", "-p", str(history_copy))
    assert code == 0 and "spam version 1 is already champion; nothing changed" in out
    assert json.loads(model.tags["gristmill.champion_history"])[0]["action"] == "promote"


def test_a_registered_model_without_versions_lists_none(history_copy: Path) -> None:
    _store.connect(history_copy).create_registered_model("empty")
    table = list_versions("empty", project_dir=history_copy)
    assert len(table) == 0
    assert list(table.columns) == list(list_versions("spam", project_dir=history_copy).columns)
    code, out = _invoke("models", "list", "empty", "-p", str(history_copy))
    assert code == 0 and "empty: 0 version(s)" in out


def test_versions_from_two_projects_name_their_project(history_copy: Path) -> None:
    client = _store.connect(history_copy)
    first = client.get_model_version("spam", "1").run_id
    home = client.get_run(first).data.tags["gristmill.spec_dir"]
    code, out = _invoke("models", "list", "spam", "-p", str(history_copy))
    assert code == 0 and "project" not in out
    client.set_tag(first, "gristmill.spec_dir", "/srv/other-project")
    table = list_versions("spam", project_dir=history_copy).set_index("version")
    assert table["project"].to_dict() == {"2": home, "1": "/srv/other-project"}
    code, out = _invoke("models", "list", "spam", "-p", str(history_copy))
    assert code == 0 and "project" in out and "/srv/other-project" in out


def test_models_named_with_quotes_or_unicode_list_and_roll_back_their_versions(
    history_copy: Path,
) -> None:
    client = _store.connect(history_copy)
    run_id = client.get_model_version("spam", "1").run_id
    for name in ("o'neil", 'say "hi"', 'it\'s "x"', "it", "détecteur de spam"):
        client.create_registered_model(name)
        for _ in range(2):
            client.create_model_version(name, str(history_copy), run_id=run_id)
    for name in ("o'neil", 'say "hi"', 'it\'s "x"', "détecteur de spam"):
        assert list(list_versions(name, project_dir=history_copy)["version"]) == ["2", "1"]
        promote(name, 1, project_dir=history_copy)
        promote(name, 2, project_dir=history_copy)
        assert rollback(name, project_dir=history_copy) == ("2", "1")
    code, out = _invoke("models", "list", "o'neil", "-p", str(history_copy))
    assert code == 0 and "o'neil: 2 version(s)" in out
