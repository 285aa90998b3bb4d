"""The declarative pipeline: end model versus label model on WRENCH, and spam-example timings.

1. WRENCH youtube, sms and trec (``../shared/data/wrench``): each split is written as a table
   with the text and one column per weak labeler; a generated ``gristmill.yaml`` declares the
   text payload, the weak labels as ``label_columns``, ``valid`` as dev and ``test`` as test.
   ``gristmill.Pipeline`` runs it; we report the test metric (youtube accuracy, sms F1, trec
   accuracy) of the label model alone and of the end model. Target: the end model beats the
   label model by >= 2 points on at least two datasets and never loses more than 1 point.
   Anchor (``benchmarks/.venv-anchors``, subprocess, same run): Snorkel 0.10's LabelModel, and
   the Snorkel spam tutorial's end model (scikit-learn logistic regression on n-gram counts,
   trained on the label model's hard labels of covered rows).
2. The spam example through the CLI (subprocesses): ``gristmill init``, a cold ``gristmill run``,
   then a rerun after editing one LF. Targets: cold < 60 s, rerun < 15 s.
3. Several tasks and multilabel tasks (``--skip-multitask`` to leave out):
   * YouTube comments (the spam example's data, UCI) with two tasks in one spec: ``spam`` (the
     example's LFs) and ``video`` (which of the five videos a comment is under, 5 classes, with
     keyword LFs written here), on a seeded 60/20/20 split of all comments, text payload only;
   * WRENCH trec as a multilabel task: every weak label becomes a label-set column (a vote for a
     class is the set holding that class), gold is the one-element set; scored with subset
     accuracy, micro/macro F1 and Hamming loss, beside the multiclass run of part 1.
   For each task: the label model alone versus the end model on the test split.

    .venv/bin/python benchmarks/pipeline.py [--datasets youtube sms trec] [--skip-spam]
        [--skip-wrench] [--skip-multitask]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wrench"
ANCHOR_PYTHON = HERE / ".venv-anchors" / "bin" / "python"
GRISTMILL = Path(sys.executable).parent / "gristmill"
METRIC = {"youtube": "accuracy", "sms": "f1", "trec": "accuracy"}


def load_split(name: str, split: str) -> pd.DataFrame:
    raw = json.loads((DATA / name / f"{split}.json").read_text(encoding="utf-8"))
    ids = sorted(raw, key=int)
    votes = np.array([raw[i]["weak_labels"] for i in ids], dtype=np.int64)
    frame = pd.DataFrame(
        {"text": [raw[i]["data"]["text"] for i in ids], "label": [raw[i]["label"] for i in ids]}
    )
    for j in range(votes.shape[1]):
        frame[f"lf_{j:02d}"] = votes[:, j]
    return frame


def class_names(name: str) -> list[str]:
    labels = json.loads((DATA / name / "label.json").read_text(encoding="utf-8"))
    return [str(labels[k]) for k in sorted(labels, key=int)]


def write_project(name: str, root: Path, budget: dict[str, float]) -> Path:
    n_lfs = 0
    for split, out in (("train", "train"), ("valid", "dev"), ("test", "test")):
        frame = load_split(name, split)
        n_lfs = sum(c.startswith("lf_") for c in frame.columns)
        frame.to_parquet(root / f"{out}.parquet", index=False)
    classes = class_names(name)
    spec = {
        "name": f"wrench-{name}",
        "seed": 0,
        "data": {s: {"path": f"{s}.parquet"} for s in ("train", "dev", "test")},
        "payloads": {"text": "text"},
        "tasks": {
            name: {
                "kind": "binary" if len(classes) == 2 else "multiclass",
                "classes": classes,
                "gold": "label",
                "supervision": {"label_columns": {f"lf_{j:02d}": None for j in range(n_lfs)}},
            }
        },
        "slices": {"discover": False},
        "model": {"budget": budget, "metric": METRIC[name]},
    }
    path = root / "gristmill.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


ANCHOR_CODE = r"""
import json, sys, numpy as np
from pathlib import Path
from snorkel.labeling.model import LabelModel
from snorkel.labeling import filter_unlabeled_dataframe
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
import pandas as pd
data, name, metric = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
def load(split):
    raw = json.loads((data / name / f"{split}.json").read_text())
    ids = sorted(raw, key=int)
    return ([raw[i]["data"]["text"] for i in ids], np.array([raw[i]["weak_labels"] for i in ids]),
            np.array([raw[i]["label"] for i in ids]))
tr_x, tr_L, _ = load("train"); te_x, te_L, te_y = load("test")
k = len(json.loads((data / name / "label.json").read_text()))
def score(y, p):
    return float(f1_score(y, p)) if metric == "f1" else float(accuracy_score(y, p))
lm = LabelModel(cardinality=k, verbose=False)
lm.fit(tr_L, n_epochs=500, log_freq=100, seed=0)
lm_score = score(te_y, lm.predict(te_L, tie_break_policy="random"))
covered = (tr_L != -1).any(axis=1)
hard = lm.predict_proba(tr_L)[covered].argmax(axis=1)
vec = CountVectorizer(ngram_range=(1, 5))
X = vec.fit_transform([t for t, c in zip(tr_x, covered) if c])
clf = LogisticRegression(C=1e3, solver="liblinear" if k == 2 else "lbfgs", max_iter=2000)
clf.fit(X, hard)
em_score = score(te_y, clf.predict(vec.transform(te_x)))
print(json.dumps({"label_model": lm_score, "end_model": em_score}))
"""


def run_anchor(name: str) -> dict[str, float] | None:
    if not ANCHOR_PYTHON.exists():
        return None
    out = subprocess.run(
        [str(ANCHOR_PYTHON), "-c", ANCHOR_CODE, str(DATA), name, METRIC[name]],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"anchor failed on {name}: {out.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def wrench(datasets: list[str], budget: dict[str, float]) -> list[dict[str, object]]:
    import gristmill

    rows = []
    for name in datasets:
        with tempfile.TemporaryDirectory(prefix=f"gm-bench-{name}-") as tmp:
            spec = write_project(name, Path(tmp), budget)
            started = time.perf_counter()
            result = gristmill.Pipeline.from_yaml(spec).run(track=False)
            seconds = time.perf_counter() - started
        metric = METRIC[name]
        lm = result.metrics["label_model"]["test"]["overall"][metric]
        em = result.metrics["end_model"]["test"]["overall"][metric]
        best = max(result.trials, key=lambda t: t["value"])["params"]["learner"]
        print(f"{name}: gristmill done in {seconds:.0f}s", file=sys.stderr, flush=True)
        anchor = run_anchor(name)
        rows.append(
            {
                "dataset": name,
                "metric": metric,
                "label_model": lm,
                "end_model": em,
                "gain_points": 100 * (em - lm),
                "learner": best,
                "seconds": seconds,
                "snorkel_lm": anchor["label_model"] if anchor else float("nan"),
                "snorkel_tutorial_end": anchor["end_model"] if anchor else float("nan"),
            }
        )
    return rows


VIDEO_LFS = r"""
from gristmill import keyword_lf

PSY, KATY, LMFAO, EMINEM, SHAKIRA = range(5)

psy = keyword_lf(["psy", "gangnam", "oppa", "korea", "korean"], PSY, column="CONTENT",
                 word_boundary=False, name="video_psy")
katy = keyword_lf(["katy", "perry", "roar", "tiger", "jungle"], KATY, column="CONTENT",
                  word_boundary=False, name="video_katy")
lmfao = keyword_lf(["lmfao", "party rock", "shuffl", "everyday"], LMFAO, column="CONTENT",
                   word_boundary=False, name="video_lmfao")
eminem = keyword_lf(["eminem", "rihanna", "the way you lie", "marshall", "abuse"], EMINEM,
                    column="CONTENT", word_boundary=False, name="video_eminem")
shakira = keyword_lf(["shakira", "waka", "world cup", "worldcup", "africa", "soccer"], SHAKIRA,
                     column="CONTENT", word_boundary=False, name="video_shakira")
"""
VIDEOS = ["Psy", "KatyPerry", "LMFAO", "Eminem", "Shakira"]
EXAMPLE = HERE.parent / "src" / "gristmill" / "examples" / "spam"


def write_youtube_two_tasks(root: Path, budget: dict[str, float]) -> Path:
    """The spam example's comments with a second task, the video, in one spec."""
    (root / "youtube.csv").write_bytes((EXAMPLE / "data" / "youtube.csv").read_bytes())
    (root / "spam_lfs.py").write_bytes((EXAMPLE / "lfs.py").read_bytes())
    (root / "video_lfs.py").write_text(VIDEO_LFS, encoding="utf-8")
    part = {"path": "youtube.csv"}
    spec = {
        "name": "youtube-two-tasks",
        "seed": 0,
        "data": {
            "train": {**part, "sample": {"seed": 0, "stop": 0.6}},
            "dev": {**part, "sample": {"seed": 0, "start": 0.6, "stop": 0.8}},
            "test": {**part, "sample": {"seed": 0, "start": 0.8}},
            "id": "COMMENT_ID",
        },
        "payloads": {"CONTENT": "text"},
        "tasks": {
            "spam": {
                "kind": "binary",
                "classes": ["ham", "spam"],
                "gold": "CLASS",
                "supervision": {"lfs": ["spam_lfs.py"]},
            },
            "video": {
                "kind": "multiclass",
                "classes": VIDEOS,
                "gold": "VIDEO",
                "supervision": {"lfs": ["video_lfs.py"]},
            },
        },
        "slices": {"discover": False},
        "model": {"budget": budget, "metric": "accuracy"},
    }
    path = root / "gristmill.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def write_trec_multilabel(root: Path, budget: dict[str, float]) -> Path:
    """WRENCH trec as a multilabel task: weak labels and gold as label sets."""
    classes = class_names("trec")
    for split, out in (("train", "train"), ("valid", "dev"), ("test", "test")):
        frame = load_split("trec", split)
        for column in [c for c in frame.columns if c.startswith("lf_")] + ["label"]:
            frame[column] = [classes[v] if v >= 0 else None for v in frame[column]]
        frame.to_parquet(root / f"{out}.parquet", index=False)
    n_lfs = sum(c.startswith("lf_") for c in frame.columns)
    spec = {
        "name": "wrench-trec-multilabel",
        "seed": 0,
        "data": {s: {"path": f"{s}.parquet"} for s in ("train", "dev", "test")},
        "payloads": {"text": "text"},
        "tasks": {
            "trec": {
                "kind": "multilabel",
                "classes": classes,
                "gold": "label",
                "supervision": {"label_columns": {f"lf_{j:02d}": None for j in range(n_lfs)}},
            }
        },
        "slices": {"discover": False},
        "model": {"budget": budget, "metric": "accuracy"},
    }
    path = root / "gristmill.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


MULTILABEL_METRICS = ("subset_accuracy", "f1_micro", "f1_macro", "hamming_loss")


MULTITASK_CASES = {
    "youtube-two-tasks": write_youtube_two_tasks,
    "trec-multilabel": write_trec_multilabel,
}


def multitask(cases: list[str], budget: dict[str, float]) -> list[dict[str, object]]:
    """Label model vs end model per task, on the two-task and the multilabel specs."""
    import gristmill

    rows: list[dict[str, object]] = []
    for case in cases:
        write = MULTITASK_CASES[case]
        with tempfile.TemporaryDirectory(prefix=f"gm-bench-{case}-") as tmp:
            spec = write(Path(tmp), budget)
            started = time.perf_counter()
            result = gristmill.Pipeline.from_yaml(spec).run(track=False)
            seconds = time.perf_counter() - started
        print(f"{case}: gristmill done in {seconds:.0f}s", file=sys.stderr, flush=True)
        for name, task in result.tasks.items():
            metrics = MULTILABEL_METRICS if task.kind == "multilabel" else ("accuracy", "f1_macro")
            covered = float((task.label_matrix.to_numpy() != -1).any(axis=1).mean())
            best = max(task.trials, key=lambda t: t["value"])["params"]["learner"]
            for metric in metrics:
                lm = task.metrics["label_model"]["test"]["overall"][metric]
                em = task.metrics["end_model"]["test"]["overall"][metric]
                sign = -1 if metric == "hamming_loss" else 1
                rows.append(
                    {
                        "spec": case,
                        "task": f"{name} ({task.kind}, {len(task.classes)} classes)",
                        "metric": metric,
                        "label_model": lm,
                        "end_model": em,
                        "gain_points": 100 * sign * (em - lm),
                        "train_covered": covered,
                        "learner": best,
                        "seconds": seconds,
                    }
                )
    return rows


def _run(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    out = subprocess.run(
        [str(GRISTMILL), *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"gristmill {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return seconds


def spam_timings(track: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gm-bench-spam-") as tmp:
        project = Path(tmp) / "spam"
        _run(["init", str(project), "--example", "spam"], Path(tmp))
        flags = [] if track else ["--no-track"]
        cold = _run(["run", *flags], project)
        lfs = project / "lfs.py"
        text = lfs.read_text(encoding="utf-8")
        edited = text.replace('["please", "plz"]', '["please", "plz", "pls"]')
        assert edited != text, "the LF edit did not apply"
        lfs.write_text(edited, encoding="utf-8")
        rerun = _run(["run", *flags], project)
        unchanged = _run(["run", *flags], project)
    return {"cold": cold, "rerun_after_lf_edit": rerun, "rerun_unchanged": unchanged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["youtube", "sms", "trec"])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--skip-spam", action="store_true")
    parser.add_argument("--skip-wrench", action="store_true")
    parser.add_argument("--skip-multitask", action="store_true")
    parser.add_argument(
        "--multitask-cases", nargs="+", default=list(MULTITASK_CASES), choices=MULTITASK_CASES
    )
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if not args.skip_wrench:
        rows = wrench(args.datasets, {"trials": args.trials, "minutes": args.minutes})
        table = pd.DataFrame(rows).set_index("dataset")
        with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
            print(table.to_string())
        wins = int((table["gain_points"] >= 2).sum())
        worst = float(table["gain_points"].min())
        ok = wins >= 2 and worst >= -1
        print(
            f"end model >= +2 points on {wins}/{len(table)}; worst gain {worst:+.1f} points; "
            f"target {'met' if ok else 'MISSED'}"
        )
        ratio = table["end_model"] / table["snorkel_tutorial_end"]
        print(
            "gristmill end model / Snorkel-tutorial end model: "
            + ", ".join(f"{d} {r:.3f}" for d, r in ratio.items())
        )
    if not args.skip_multitask:
        rows = multitask(args.multitask_cases, {"trials": args.trials, "minutes": args.minutes})
        table = pd.DataFrame(rows).set_index(["spec", "task", "metric"])
        with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 200):
            print(table.to_string())
        print("gain_points: end model minus label model (for hamming_loss, lower is better)")
    if not args.skip_spam:
        for track in (False, True):
            timings = spam_timings(track)
            label = "tracked" if track else "--no-track"
            print(
                f"spam example ({label}): cold {timings['cold']:.1f}s (target < 60), "
                f"rerun after one LF edit {timings['rerun_after_lf_edit']:.1f}s (target < 15), "
                f"unchanged rerun {timings['rerun_unchanged']:.1f}s"
            )


if __name__ == "__main__":
    main()
