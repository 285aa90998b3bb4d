"""A small stand-in for the pipeline, honouring docs/CONTRACTS.md "Pipeline result".

Tests of the tracking package build PipelineResults with it, so they do not depend on how the
pipeline featurises or saves models. Run as a script it performs one tracked fake run (used by
the concurrency and server tests, which need separate processes).
"""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline

CLASSES = ["ham", "spam"]
SPAM_WORDS = ["check", "subscribe", "channel", "free", "click", "win", "http"]
HAM_WORDS = ["love", "song", "great", "voice", "beautiful", "dance", "best"]

LF_SOURCE = """\
from gristmill.labeling import labeling_function


@labeling_function()
def lf_subscribe(x):
    return 1 if "subscribe" in x.text else -1


@labeling_function()
def lf_love(x):
    return 0 if "love" in x.text else -1
"""

# LFs whose keywords come from helper modules beside them: a module and a package.
HELPER_LF_SOURCE = """\
from gristmill.labeling import labeling_function
from spam_words import WORDS
from wordlists.ham import HAM


@labeling_function()
def lf_spam_word(x):
    return 1 if any(w in x.text for w in WORDS) else -1


@labeling_function()
def lf_ham_word(x):
    return 0 if any(w in x.text for w in HAM) else -1
"""
HELPERS = {
    "spam_words.py": 'WORDS = ["subscribe"]\n',
    "wordlists/__init__.py": "",
    "wordlists/ham.py": 'HAM = ["love"]\n',
}


# A slicing-function module; the second one takes its limit and words from helper modules.
SLICE_SOURCE = """\
from gristmill.training import slicing_function

SHORT = {short}


@slicing_function()
def short(x):
    return len(x.text) < SHORT
"""
HELPER_SLICE_SOURCE = """\
from gristmill.training import slicing_function
from slice_limits import SHORT
from slicewords.kind import KIND


@slicing_function()
def short(x):
    return len(x.text) < SHORT


@slicing_function()
def kind(x):
    return any(w in x.text for w in KIND)
"""
SLICE_HELPERS = {
    "slice_limits.py": "SHORT = 30\n",
    "slicewords/__init__.py": "",
    "slicewords/kind.py": 'KIND = ["love"]\n',
}


class TextModel:
    """End model: bag of words + logistic regression over the 'text' payload column."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"C": self.estimator[-1].C}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(frame["text"].astype(str).tolist())

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(CLASSES)[self.predict_proba(frame).argmax(axis=1)]


class FakeLabelModel:
    def __init__(self) -> None:
        self.lf_accuracies_ = np.array([0.9, 0.8])

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"cardinality": 2}

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "label_model.json").write_text(json.dumps({"acc": [0.9, 0.8]}))


_REAL_IO: dict[str, Any] = {}


def save_end_model(model: Any, path: Path) -> None:
    """Save a TextModel; hand any other (real) end model to gristmill.training's saver."""
    if not isinstance(model, TextModel):
        _REAL_IO["save"](model, path)
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / "estimator.pkl").write_bytes(pickle.dumps(model.estimator))


def load_end_model(path: Path) -> Any:
    if not (Path(path) / "estimator.pkl").is_file():
        return _REAL_IO["load"](path)
    return TextModel(pickle.loads((Path(path) / "estimator.pkl").read_bytes()))


def remember_real_io() -> None:
    import gristmill.training

    _REAL_IO.setdefault("save", gristmill.training.save_end_model)
    _REAL_IO.setdefault("load", gristmill.training.load_end_model)


def install_fake_model_io() -> None:
    """Make gristmill.training.save_end_model/load_end_model the fakes above (subprocesses)."""
    import gristmill.training

    remember_real_io()
    gristmill.training.save_end_model = save_end_model  # type: ignore[attr-defined]
    gristmill.training.load_end_model = load_end_model  # type: ignore[attr-defined]


@dataclass
class FakeResult:
    name: str
    spec: dict[str, Any]
    spec_path: Path
    run_dir: Path
    classes: list[str]
    payload_columns: list[str]
    metrics: dict[str, Any]
    model: Any
    label_model: Any
    label_matrix: Any
    lf_summary: pd.DataFrame
    lf_paths: list[Path]
    datasets: dict[str, tuple[pd.DataFrame, str]]
    trials: list[dict[str, Any]] = field(default_factory=list)
    report_path: Path | None = None
    slice_paths: list[Path] = field(default_factory=list)


def make_texts(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    texts = []
    for label in labels:
        words = SPAM_WORDS if label == 1 else HAM_WORDS
        k = int(rng.integers(1, 6))
        texts.append(
            " ".join(rng.choice(words, size=k))
            + " "
            + " ".join(rng.choice(HAM_WORDS + SPAM_WORDS, size=1))
        )
    return pd.DataFrame({"text": texts, "label": np.asarray(CLASSES)[labels]})


def write_project(project: Path, *, name: str = "spam", noise: float = 0.0, seed: int = 0) -> Path:
    """Write data, an LF file and a spec into ``project``; return the spec path."""
    project.mkdir(parents=True, exist_ok=True)
    for i, split in enumerate(["train", "dev", "test"]):
        make_texts(200 if split == "train" else 80, seed + i).to_csv(
            project / f"{split}.csv", index=False
        )
    (project / "lfs.py").write_text(LF_SOURCE)
    spec = {
        "name": name,
        "data": {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"},
        "labeling": {"lfs": ["lfs.py"]},
        "training": {"metric": "f1", "noise": noise, "C": 1.0},
    }
    spec_path = project / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return spec_path


def write_helper_lfs(project: Path) -> None:
    """Make the project's lfs.py import its keywords from helper modules (``HELPERS``)."""
    (project / "lfs.py").write_text(HELPER_LF_SOURCE)
    for name, text in HELPERS.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)


def write_slices(project: Path, spec_path: Path, source: str) -> None:
    """Write ``source`` as the project's slices.py and name it in the spec's ``slices``."""
    (project / "slices.py").write_text(source)
    spec = yaml.safe_load(spec_path.read_text())
    spec_path.write_text(yaml.safe_dump({**spec, "slices": {"modules": ["slices.py"]}}))


def write_helper_slices(project: Path, spec_path: Path) -> None:
    """Make the project's slices.py import from helper modules (``SLICE_HELPERS``)."""
    write_slices(project, spec_path, HELPER_SLICE_SOURCE)
    for name, text in SLICE_HELPERS.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)


def _scores(model: TextModel, frame: pd.DataFrame) -> dict[str, float]:
    pred = model.predict(frame)
    return {
        "f1": float(f1_score(frame["label"], pred, pos_label="spam")),
        "accuracy": float(accuracy_score(frame["label"], pred)),
    }


def run_fake_pipeline(
    spec_path: Path, *, metrics_override: dict[str, Any] | None = None
) -> FakeResult:
    """Train the fake end model as the spec says and return a contract-shaped result."""
    spec_path = Path(spec_path)
    spec = yaml.safe_load(spec_path.read_text())
    base = spec_path.parent
    datasets = {}
    for split, rel in spec["data"].items():
        path = (base / rel).resolve()
        datasets[split] = (pd.read_csv(path), str(path))
    train = datasets["train"][0]
    labels = train["label"].to_numpy().copy()
    rng = np.random.default_rng(0)
    flip = rng.random(len(labels)) < float(spec["training"]["noise"])
    labels[flip] = np.where(labels[flip] == "spam", "ham", "spam")
    estimator = make_pipeline(CountVectorizer(), LogisticRegression(C=spec["training"]["C"]))
    estimator.fit(train["text"].astype(str).tolist(), labels)
    model = TextModel(estimator)
    test = datasets["test"][0]
    short = test[test["text"].str.len() < 30]
    metrics = {
        "label_model": {
            "dev": {"accuracy": 0.9},
            "test": {"overall": {"accuracy": 0.88}, "slices": {}},
        },
        "end_model": {
            "dev": _scores(model, datasets["dev"][0]),
            "test": {"overall": _scores(model, test), "slices": {"short": _scores(model, short)}},
        },
    }
    if metrics_override is not None:
        metrics = metrics_override
    run_dir = base / "runs" / "latest"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    report = run_dir / "report.html"
    report.write_text("<html><body>report</body></html>")
    lf_paths = [(base / p).resolve() for p in spec["labeling"]["lfs"]]
    summary = pd.DataFrame(
        {"Coverage": [0.3, 0.4], "Overlaps": [0.1, 0.1], "Conflicts": [0.05, 0.0]},
        index=pd.Index(["lf_subscribe", "lf_love"], name="lf"),
    )
    return FakeResult(
        name=spec["name"],
        spec=spec,
        spec_path=spec_path,
        run_dir=run_dir,
        classes=list(CLASSES),
        payload_columns=["text"],
        metrics=metrics,
        model=model,
        label_model=FakeLabelModel(),
        label_matrix=None,
        lf_summary=summary,
        lf_paths=lf_paths,
        datasets=datasets,
        trials=[
            {"number": 0, "params": {"C": 1.0}, "value": 0.9},
            {"number": 1, "params": {"C": 0.1}, "value": 0.8},
        ],
        report_path=report,
        slice_paths=[(base / p).resolve() for p in spec.get("slices", {}).get("modules", [])],
    )


def tracked_run(spec_path: Path, tracker: Any, **kwargs: Any) -> FakeResult:
    """Drive a RunTracker through the hooks in the order the pipeline calls them."""
    tracker.check()
    spec = yaml.safe_load(Path(spec_path).read_text())
    tracker.start(spec["name"], spec, spec_path)
    try:
        result = run_fake_pipeline(spec_path, **kwargs)
        for trial in result.trials:
            tracker.log_trial(trial["number"], trial["params"], trial["value"])
    except Exception as exc:
        tracker.fail(exc)
        raise
    tracker.finish(result)
    return result


def dataset_digest_of(csv_path: Path) -> str:
    """The gristmill digest of a CSV as the fake pipeline loads it."""
    from gristmill.tracking import dataset_digest

    return dataset_digest(pd.read_csv(csv_path))


if __name__ == "__main__":
    # usage: _fakes.py PROJECT_DIR SPEC_PATH [TRACKING_URI]
    from gristmill.tracking import RunTracker

    install_fake_model_io()
    uri = sys.argv[3] if len(sys.argv) > 3 else None
    tracker = RunTracker(project_dir=sys.argv[1], tracking_uri=uri)
    tracked_run(Path(sys.argv[2]), tracker)
    print(tracker.run_id_, tracker.model_version_)
