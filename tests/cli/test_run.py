"""``gristmill init``, ``run`` and ``schema`` through the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from gristmill.cli import app

GRISTMILL = [sys.executable, "-m", "gristmill"]
PIPELINE_PROJECT = Path(__file__).parents[1] / "pipeline" / "conftest.py"


def _env() -> dict[str, str]:
    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}


def _init(project: Path, example: str) -> None:
    """``gristmill init PROJECT --example EXAMPLE`` in a subprocess."""
    subprocess.run(
        [*GRISTMILL, "init", str(project), "--example", example],
        check=True,
        capture_output=True,
        env=_env(),
    )


def _run_in(project: Path, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """``gristmill run --no-track`` from inside a project folder, as a user would."""
    return subprocess.run(
        [*GRISTMILL, "run", "--no-track", "--run-dir", str(run_dir)],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )


def test_schema_prints_json_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "tasks" in schema["properties"]


def test_init_refuses_non_empty_directory_and_unknown_example(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    result = CliRunner().invoke(app, ["init", str(tmp_path), "--example", "spam"])
    assert result.exit_code == 1
    assert (tmp_path / "x").read_text() == "keep me"
    result = CliRunner().invoke(app, ["init", str(tmp_path / "new"), "--example", "nope"])
    assert result.exit_code == 1
    assert not (tmp_path / "new").exists()


def test_run_with_invalid_spec_exits_1_with_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "gristmill.yaml"
    spec.write_text("name: x\nbogus: 1\n")
    result = CliRunner().invoke(app, ["run", str(spec), "--no-track"])
    assert result.exit_code == 1
    assert "unknown key 'bogus'" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_spam_example_end_to_end(tmp_path: Path) -> None:
    project = tmp_path / "spam"
    _init(project, "spam")
    assert {"gristmill.yaml", "lfs.py", "slices.py", "data"} <= {p.name for p in project.iterdir()}
    spec_path = project / "gristmill.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["model"] = {"candidates": ["logreg"], "budget": {"trials": 2}}  # keep the test fast
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))

    plan = CliRunner().invoke(app, ["run", str(spec_path), "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "label_model" in plan.output and "is valid" in plan.output

    run_dir = project / "out"
    done = _run_in(project, run_dir)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["end_model"]["test"]["overall"]
    assert test["accuracy"] > 0.8  # real data, real LFs: far above the 50% base rate
    assert set(metrics["end_model"]["test"]["slices"]) == {
        "short_comment",
        "no_keyword_signal",
        "shouting",
        "has_link",
    }
    assert (run_dir / "report.html").stat().st_size > 1000
    assert not (project / "mlflow.db").exists()  # --no-track

    again = CliRunner().invoke(app, ["run", str(spec_path), "--dry-run"])
    assert again.output.count("cached") >= 3


@pytest.mark.slow
def test_hospital_example_cleans_then_labels(tmp_path: Path) -> None:
    project = tmp_path / "hospital"
    _init(project, "hospital")
    assert {"gristmill.yaml", "lfs.py", "constraints.txt", "data"} <= {
        p.name for p in project.iterdir()
    }
    run_dir = project / "out"
    done = _run_in(project, run_dir)
    assert done.returncode == 0, done.stderr
    repairs = pd.read_csv(run_dir / "repairs.csv", dtype=str, keep_default_na=False)
    assert len(repairs[repairs["split"] == "train"]) > 150  # about 300 dirty cells in train
    assert "ConditionGold" not in set(repairs["column"])  # gold is hidden from the repair
    fixed = repairs[repairs["column"] == "Condition"]
    assert len(fixed) > 10 and fixed["new"].isin(["heart attack", "pneumonia"]).any()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["end_model"]["test"]["overall"]["accuracy"] > 0.9


def _pipeline_project(
    tmp_path: Path, load_helper_module: Callable[[str, Path], ModuleType]
) -> Path:
    """The pipeline tests' small project (spec, data, LF modules) in ``tmp_path / "project"``."""
    helpers = load_helper_module("gristmill_test_pipeline_project", PIPELINE_PROJECT)
    project = tmp_path / "project"
    project.mkdir()
    helpers.make_project(project)
    return project


def test_run_from_another_folder_with_a_slice_module_importing_a_helper(
    tmp_path: Path, load_helper_module: Callable[[str, Path], ModuleType]
) -> None:
    project = _pipeline_project(tmp_path, load_helper_module)
    (project / "slice_words.py").write_text("LIMIT = 6\n")
    (project / "slices.py").write_text(
        "from gristmill import slicing_function\nfrom slice_words import LIMIT\n\n"
        "@slicing_function()\ndef short(x):\n    return len(x.text.split()) < LIMIT\n"
    )
    done = subprocess.run(
        [*GRISTMILL, "run", str(project / "gristmill.yaml"), "--no-track", "--run-dir", "out"],
        cwd=tmp_path,  # not the project: its folder is not on sys.path by accident
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "short" in metrics["end_model"]["test"]["slices"]


SLOW_LF = """
import time

from gristmill import ABSTAIN, labeling_function

@labeling_function()
def slow(x):
    time.sleep(0.05)
    return ABSTAIN
"""


#: Starts the command with Ctrl-C's default action, as a terminal's shell does. A shell without
#: job control starts background jobs (``make test &``) with SIGINT ignored, and a child
#: inherits that: Python then installs no KeyboardInterrupt handler and Ctrl-C does nothing.
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def _interrupt_run(project: Path, after: str, *options: str) -> tuple[int, str]:
    """Run ``gristmill run`` and press Ctrl-C a second after the progress line ``after``.

    The SIGINT goes to the command's whole process group, as a terminal sends it, so that
    worker processes get it too. Returns the exit status and stderr.
    """
    command = [*GRISTMILL, "run", "--no-track", "--run-dir", "out", *options]
    with subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, *command[1:]],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**_env(), "COLUMNS": "200"},  # one line per progress line
        start_new_session=True,
    ) as process:
        try:
            assert process.stderr is not None
            seen = ""
            while after not in seen:
                line = process.stderr.readline()
                if not line:
                    break
                seen += line
            time.sleep(1.0)
            os.killpg(process.pid, signal.SIGINT)
            _, rest = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, seen + rest


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after", "options"),
    [
        ("label_model", ()),  # in the Optuna search, which has a minute left
        ("validate", ("--engine", "processes")),  # while forked processes label
        ("validate", ("--engine", "dask")),  # while a LocalCluster labels
    ],
    ids=["search", "processes", "dask"],
)
def test_ctrl_c_ends_run_with_one_line_and_no_partial_output(
    tmp_path: Path,
    load_helper_module: Callable[[str, Path], ModuleType],
    after: str,
    options: tuple[str, ...],
) -> None:
    helpers = load_helper_module("gristmill_test_pipeline_project", PIPELINE_PROJECT)
    project = helpers.make_project(tmp_path)
    spec = helpers.base_spec()
    spec["model"]["budget"] = {"trials": 100_000, "minutes": 1}
    if after == "validate":
        (project / "lfs_slow.py").write_text(SLOW_LF, encoding="utf-8")
        spec["tasks"]["spam"]["supervision"]["lfs"].append("lfs_slow.py")
    helpers.write_spec(project, spec)

    status, stderr = _interrupt_run(project, after, *options)

    assert status == 130, stderr
    *progress, last = stderr.strip().splitlines()
    assert last == "interrupted: the run directory out was not written"
    assert all(line.startswith("✓") for line in progress), stderr  # nor Optuna's nor a worker's
    assert not (project / "out").exists()
    assert [p.name for p in project.rglob("*") if p.name.endswith((".tmp", ".old"))] == []


def test_dry_run_refuses_the_run_dir_the_run_would_refuse(
    tmp_path: Path, load_helper_module: Callable[[str, Path], ModuleType]
) -> None:
    project = _pipeline_project(tmp_path, load_helper_module)
    spec = str(project / "gristmill.yaml")
    result = CliRunner().invoke(app, ["run", spec, "--dry-run", "--run-dir", str(project)])
    assert result.exit_code == 1
    assert "which the run reads" in result.stderr
    assert "is valid" not in result.output
    result = CliRunner().invoke(app, ["run", spec, "--dry-run", "--run-dir", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "new").exists()


def test_a_run_without_gold_labels_says_nothing_was_scored(
    tmp_path: Path, load_helper_module: Callable[[str, Path], ModuleType]
) -> None:
    helpers = load_helper_module("gristmill_test_pipeline_project", PIPELINE_PROJECT)
    helpers.make_project(tmp_path)
    helpers.edit_spec(tmp_path, lambda spec: spec["tasks"]["spam"].pop("gold"))
    spec = str(tmp_path / "gristmill.yaml")
    result = CliRunner().invoke(app, ["run", spec, "--no-track", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "no dev or test row has a gold label, so nothing was scored" in result.output
    assert "accuracy" not in result.output


def test_paths_with_square_brackets_are_printed_as_they_are(
    tmp_path: Path, load_helper_module: Callable[[str, Path], ModuleType]
) -> None:
    helpers = load_helper_module("gristmill_test_pipeline_project", PIPELINE_PROJECT)
    helpers.make_project(tmp_path)
    run_dir = tmp_path / "out[/x]" / "[bold]run"
    spec = str(tmp_path / "gristmill.yaml")
    result = CliRunner().invoke(app, ["run", spec, "--no-track", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert f"run directory: {run_dir}\n" in result.output
    assert (run_dir / "report.html").is_file()
    project = tmp_path / "new [bold]project"
    result = CliRunner().invoke(app, ["init", str(project)])
    assert result.exit_code == 0, result.output
    assert f"next: cd '{project}' && gristmill run\n" in result.output


def test_tracking_uri_records_the_run_in_that_store(tmp_path: Path) -> None:
    project = tmp_path / "spam"
    _init(project, "spam")
    spec_path = project / "gristmill.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["model"] = {"candidates": ["logreg"], "budget": {"trials": 1}}  # keep the test fast
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    store = tmp_path / "elsewhere" / "store.db"
    store.parent.mkdir()
    uri = f"sqlite:///{store}"

    refused = CliRunner().invoke(app, ["run", str(spec_path), "--no-track", "--tracking-uri", uri])
    assert refused.exit_code == 2 and "--no-track" in refused.output
    assert not store.exists()

    done = subprocess.run(
        [
            *GRISTMILL,
            "run",
            str(spec_path),
            "--tracking-uri",
            uri,
            "--run-dir",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in _env().items() if k != "MLFLOW_TRACKING_URI"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not (project / "mlflow.db").exists()  # not the default store beside the spec
    import mlflow

    runs = mlflow.MlflowClient(uri).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(uri).search_experiments()]
    )
    assert runs and all(r.info.status == "FINISHED" for r in runs)
