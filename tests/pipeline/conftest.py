"""A small weak-supervision project (synthetic comments, two LF modules) for pipeline tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

SPAM_WORDS = ["free", "subscribe", "click", "money", "visit", "channel", "win", "cash"]
HAM_WORDS = ["song", "voice", "love", "dance", "beat", "lyrics", "music", "chorus"]
COMMON = ["the", "this", "is", "a", "so", "really", "my", "you", "now", "great"]

LFS_A = """
from gristmill import ABSTAIN, labeling_function

@labeling_function()
def says_free(x):
    return 1 if "free" in x.text or "money" in x.text else ABSTAIN

@labeling_function()
def says_song(x):
    return 0 if "song" in x.text or "voice" in x.text else ABSTAIN
"""

LFS_B = """
from gristmill import ABSTAIN, labeling_function

@labeling_function()
def says_click(x):
    return 1 if "click" in x.text or "subscribe" in x.text else ABSTAIN

@labeling_function()
def says_love(x):
    return 0 if "love" in x.text or "dance" in x.text else ABSTAIN
"""

SLICES = """
from gristmill import slicing_function

@slicing_function()
def short(x):
    return len(x.text.split()) < 6
"""


def comments(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        spam = bool(rng.random() < 0.5)
        topical = SPAM_WORDS if spam else HAM_WORDS
        words = list(rng.choice(COMMON, size=rng.integers(2, 7))) + list(
            rng.choice(topical, size=rng.integers(1, 4))
        )
        if rng.random() < 0.1:  # label noise the LFs cannot see through
            words.append(str(rng.choice(HAM_WORDS if spam else SPAM_WORDS)))
        rng.shuffle(words)
        rows.append(
            {
                "cid": f"c{seed}-{i}",
                "text": " ".join(words),
                "stars": int(rng.integers(1, 6)),
                "CLASS": "spam" if spam else "ham",
            }
        )
    return pd.DataFrame(rows)


def base_spec() -> dict:
    return {
        "name": "toy",
        "seed": 0,
        "data": {
            "train": {"path": "train.csv"},
            "dev": {"path": "dev.csv"},
            "test": {"path": "test.csv"},
            "id": "cid",
        },
        "payloads": {"text": "text", "stars": "numeric"},
        "tasks": {
            "spam": {
                "kind": "binary",
                "classes": ["ham", "spam"],
                "gold": "CLASS",
                "supervision": {"lfs": ["lfs_a.py", "lfs_b.py"]},
            }
        },
        "slices": {
            "modules": ["slices.py"],
            "expressions": {"five_stars": "stars == 5"},
            "discover": {"clusters": 3, "min_size": 5},
        },
        "model": {"candidates": ["logreg"], "budget": {"trials": 2}},
    }


def write_spec(root: Path, spec: dict) -> Path:
    path = root / "gristmill.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def edit_spec(project: Path, change: Callable[[dict], object]) -> Path:
    """Apply ``change`` to the spec dict of ``project``'s gristmill.yaml and write it back."""
    path = project / "gristmill.yaml"
    spec = yaml.safe_load(path.read_text())
    change(spec)
    return write_spec(project, spec)


# An LF that raises on the row whose text is "BOOM".
FRAGILE = """
from gristmill import ABSTAIN, labeling_function

@labeling_function()
def fragile(x):
    if x.text == "BOOM":
        raise ValueError("cannot label this")
    return ABSTAIN
"""


def add_fragile_lf(project: Path, **train: str) -> None:
    """Add the LF ``fragile`` (lfs_c.py) and keep the train rows of ``stars >= 4``.

    ``train`` updates the spec's train split further (e.g. ``path=``). The filter drops rows
    before the failing one, so a row number must still be the row's in the data file.
    """
    (project / "lfs_c.py").write_text(textwrap.dedent(FRAGILE), encoding="utf-8")

    def change(spec: dict) -> None:
        spec["data"]["train"].update(where="stars >= 4", **train)
        spec["tasks"]["spam"]["supervision"]["lfs"].append("lfs_c.py")

    edit_spec(project, change)


def make_project(root: Path) -> Path:
    """Write into ``root`` data, two LF modules, a slice module and a valid spec; return it."""
    train = comments(240, 1)
    train.drop(columns=["CLASS"]).to_csv(root / "train.csv", index=False)
    comments(80, 2).to_csv(root / "dev.csv", index=False)
    comments(80, 3).to_csv(root / "test.csv", index=False)
    (root / "lfs_a.py").write_text(textwrap.dedent(LFS_A), encoding="utf-8")
    (root / "lfs_b.py").write_text(textwrap.dedent(LFS_B), encoding="utf-8")
    (root / "slices.py").write_text(textwrap.dedent(SLICES), encoding="utf-8")
    write_spec(root, base_spec())
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with data, two LF modules, a slice module and a valid spec."""
    return make_project(tmp_path)


LFS_RATING = """
from gristmill import ABSTAIN, labeling_function

@labeling_function()
def many_stars(x):
    return 1 if x.stars >= 4 else ABSTAIN

@labeling_function()
def few_stars(x):
    return 0 if x.stars <= 2 else ABSTAIN

@labeling_function()
def three_and_praise(x):
    return 1 if x.stars == 3 and ("great" in x.text or "love" in x.text) else ABSTAIN
"""


@pytest.fixture
def two_task_project(project: Path) -> Path:
    """The spam project plus a second task on the same rows: rating (stars >= 4 is high)."""
    for name in ("dev", "test"):
        frame = pd.read_csv(project / f"{name}.csv")
        frame["RATING"] = np.where(frame["stars"] >= 4, "high", "low")
        frame.to_csv(project / f"{name}.csv", index=False)
    (project / "lfs_rating.py").write_text(textwrap.dedent(LFS_RATING), encoding="utf-8")
    spec = base_spec()
    spec["name"] = "toy-two-tasks"
    spec["tasks"]["rating"] = {
        "kind": "binary",
        "classes": ["low", "high"],
        "gold": "RATING",
        "supervision": {"lfs": ["lfs_rating.py"]},
    }
    write_spec(project, spec)
    return project


TAGS = {
    "music": ["song", "beat", "lyrics", "chorus", "voice"],
    "money": ["cash", "money", "prize", "free", "win"],
    "video": ["watch", "views", "clip", "channel", "video"],
}

LFS_TAGS = """
from gristmill import ABSTAIN, labeling_function

MUSIC, MONEY, VIDEO = 0, 1, 2
K = 3  # a vote of K + j says "label j does not apply"

@labeling_function()
def says_song(x):
    return MUSIC if "song" in x.text or "beat" in x.text else ABSTAIN

@labeling_function()
def says_lyrics(x):
    return MUSIC if "lyrics" in x.text or "chorus" in x.text else ABSTAIN

@labeling_function()
def says_cash(x):
    return MONEY if "cash" in x.text or "money" in x.text else ABSTAIN

@labeling_function()
def says_prize(x):
    return MONEY if "prize" in x.text or "win" in x.text else ABSTAIN

@labeling_function()
def says_watch(x):
    return VIDEO if "watch" in x.text or "views" in x.text else ABSTAIN

@labeling_function()
def says_clip(x):
    return VIDEO if "clip" in x.text or "channel" in x.text else ABSTAIN

@labeling_function()
def short_is_no_video(x):
    return K + VIDEO if len(x.text.split()) <= 3 else ABSTAIN
"""


def tagged(n: int, seed: int) -> pd.DataFrame:
    """Comments carrying any subset of three tags; ``tags`` holds the gold set ("a|b")."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        present = [tag for tag in TAGS if rng.random() < 0.4]
        words = list(rng.choice(COMMON, size=rng.integers(1, 4)))
        for tag in present:
            words += list(rng.choice(TAGS[tag], size=rng.integers(1, 3)))
        rng.shuffle(words)
        # a crowd worker labels a third of the rows, missing one present tag now and then
        worker = None
        if rng.random() < 0.33:
            worker = "|".join(t for t in present if rng.random() < 0.85) or "[]"
        rows.append(
            {
                "cid": f"t{seed}-{i}",
                "text": " ".join(words),
                "tags": "|".join(present) or "[]",
                "worker": worker,
            }
        )
    return pd.DataFrame(rows)


def multilabel_spec() -> dict:
    return {
        "name": "toy-tags",
        "seed": 0,
        "data": {
            "train": {"path": "train.csv"},
            "dev": {"path": "dev.csv"},
            "test": {"path": "test.csv"},
            "id": "cid",
        },
        "payloads": {"text": "text"},
        "tasks": {
            "tags": {
                "kind": "multilabel",
                "classes": list(TAGS),
                "gold": "tags",
                "supervision": {"lfs": ["lfs_tags.py"], "label_columns": {"worker": None}},
            }
        },
        "slices": {"expressions": {"short": "text.str.split().str.len() <= 3"}, "discover": False},
        "model": {"candidates": ["logreg"], "budget": {"trials": 2}},
    }


@pytest.fixture
def multilabel_project(tmp_path: Path) -> Path:
    """A project with one multilabel task (tags), LFs voting present/absent, a worker column."""
    root = tmp_path / "tags"
    root.mkdir()
    tagged(300, 1).drop(columns=["tags"]).to_csv(root / "train.csv", index=False)
    tagged(100, 2).to_csv(root / "dev.csv", index=False)
    tagged(100, 3).to_csv(root / "test.csv", index=False)
    (root / "lfs_tags.py").write_text(textwrap.dedent(LFS_TAGS), encoding="utf-8")
    write_spec(root, multilabel_spec())
    return root
