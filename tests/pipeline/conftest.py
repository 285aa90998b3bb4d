"""A small weak-supervision project (synthetic comments, two LF modules) for pipeline tests."""

from __future__ import annotations

import textwrap
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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with data, two LF modules, a slice module and a valid spec."""
    train = comments(240, 1)
    train.drop(columns=["CLASS"]).to_csv(tmp_path / "train.csv", index=False)
    comments(80, 2).to_csv(tmp_path / "dev.csv", index=False)
    comments(80, 3).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "lfs_a.py").write_text(textwrap.dedent(LFS_A), encoding="utf-8")
    (tmp_path / "lfs_b.py").write_text(textwrap.dedent(LFS_B), encoding="utf-8")
    (tmp_path / "slices.py").write_text(textwrap.dedent(SLICES), encoding="utf-8")
    write_spec(tmp_path, base_spec())
    return tmp_path
