"""Slicing functions, expression slices, loading them from a module, discovered slices."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import gristmill
from gristmill.exceptions import LFError
from gristmill.training import (
    SlicingFunction,
    apply_slices,
    discover_slices,
    expression_slice,
    load_slicing_functions,
    slicing_function,
)
from gristmill.training.slices import import_slicing_module

FRAME = pd.DataFrame({"text": ["hi", "a long comment here", "ok", None], "stars": [5, 1, 5, 3]})


def test_decorator_shape_matches_labeling_functions() -> None:
    @gristmill.slicing_function(
        name="short", resources={"limit": 3}, pre=[lambda x: {"n": len(str(x["text"]))}]
    )
    def short_text(x, limit):
        return x["n"] < limit

    assert isinstance(short_text, SlicingFunction)
    assert short_text.name == "short" and short_text.vectorized is False
    assert short_text.mask(FRAME).tolist() == [True, False, True, False]


def test_pre_none_is_no_preprocessor_as_in_snorkel() -> None:
    @slicing_function(pre=None)
    def five_stars(x):
        return x["stars"] == 5

    assert five_stars.pre == ()
    assert five_stars.mask(FRAME).tolist() == [True, False, True, False]


def test_vectorized_and_expression_slices() -> None:
    @slicing_function(vectorized=True)
    def five_stars(frame):
        return frame["stars"].to_numpy() == 5

    masks = apply_slices([five_stars, expression_slice("has_text", "text.notna()")], FRAME)
    assert list(masks.columns) == ["five_stars", "has_text"]
    assert masks["five_stars"].tolist() == [True, False, True, False]
    assert masks["has_text"].tolist() == [True, True, True, False]


def test_failures_name_the_slice_and_row() -> None:
    @slicing_function()
    def broken(x):
        return x["text"].startswith("a")

    with pytest.raises(LFError, match=r"'broken' failed on row 3"):
        broken.mask(FRAME)

    @slicing_function()
    def not_bool(x):
        return "yes"

    with pytest.raises(LFError, match="expected True or False"):
        not_bool.mask(FRAME)
    with pytest.raises(LFError, match="unique"):
        apply_slices(
            [expression_slice("a", "stars > 1"), expression_slice("a", "stars > 2")], FRAME
        )
    with pytest.raises(TypeError, match="must be called"):
        slicing_function(lambda x: True)


def test_load_from_module(tmp_path) -> None:
    path = tmp_path / "my_slices.py"
    path.write_text(
        "from gristmill import slicing_function\n\n"
        "@slicing_function()\ndef five(x):\n    return x.stars == 5\n"
    )
    (found,) = load_slicing_functions(path)
    assert found.name == "five"
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(LFError, match=r"bad.py: importing the slicing functions failed: Runt"):
        load_slicing_functions(bad)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(LFError, match="defines no slicing function"):
        load_slicing_functions(empty)


def _project(root: Path, word: str) -> Path:
    root.mkdir()
    (root / "helpers.py").write_text(
        f"WORDS = [{word!r}]\n\ndef hit(text):\n    return any(w in text for w in WORDS)\n"
    )
    path = root / "slices.py"
    path.write_text(
        "from gristmill import slicing_function\nfrom helpers import hit\n\n"
        "@slicing_function()\ndef about(x):\n    return hit(x.text)\n"
    )
    return path


def test_helper_modules_are_each_projects_own_and_read_afresh(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["cheap pills", "free money"]})
    first = import_slicing_module(_project(tmp_path / "a", "cheap"))
    assert first.files == [tmp_path / "a" / "slices.py", tmp_path / "a" / "helpers.py"]
    second = load_slicing_functions(_project(tmp_path / "b", "free"))
    assert apply_slices(first.slicing_functions, frame)["about"].tolist() == [True, False]
    assert apply_slices(second, frame)["about"].tolist() == [False, True]
    assert "helpers" not in sys.modules and str(tmp_path / "a") not in sys.path
    helper = tmp_path / "a" / "helpers.py"
    helper.write_text(helper.read_text().replace("'cheap'", "'money'"))
    again = load_slicing_functions(tmp_path / "a" / "slices.py")
    assert apply_slices(again, frame)["about"].tolist() == [False, True]


def test_helper_modules_travel_by_value(tmp_path: Path) -> None:
    import cloudpickle

    (about,) = load_slicing_functions(_project(tmp_path / "a", "cheap"))
    payload = cloudpickle.dumps(about)
    assert "helpers" not in sys.modules
    assert cloudpickle.loads(payload)(pd.Series({"text": "cheap"})) is True


def test_discovered_slices_find_the_hidden_stratum() -> None:
    rng = np.random.default_rng(0)
    # four well-separated groups; the model is wrong on most of group 2 only
    groups = np.repeat(np.arange(4), 50)
    features = np.eye(4)[groups] * 5 + rng.normal(scale=0.3, size=(200, 4))
    correct = np.ones(200, dtype=bool)
    correct[groups == 2] = rng.random(50) < 0.4
    clusters = discover_slices(sp.csr_matrix(features), correct, n_clusters=4, min_size=10)
    worst = clusters[0]
    assert worst["flagged"] and worst["size"] == 50
    assert set(groups[worst["rows"]]) == {2}
    assert not any(c["flagged"] for c in clusters[1:])
    assert discover_slices(features[:5], correct[:5], min_size=10) == []
