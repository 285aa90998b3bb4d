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


def test_row_slicing_functions_see_rows_as_labeling_functions_do() -> None:
    from gristmill.labeling import Row

    seen = []

    @slicing_function()
    def five_stars(x):
        seen.append(x)
        return str(x.stars) == "5"  # an int, not the 5.0 of a float Series of the whole row

    @slicing_function()
    def rated(x):
        return x["stars"] is not None and x.get("stars") > 0

    numbers = pd.DataFrame({"stars": [5, 1, 5], "votes": [0.5, 2.0, 3.5]}, index=[10, 11, 12])
    masks = apply_slices([five_stars, expression_slice("many", "votes > 1"), rated], numbers)
    assert isinstance(seen[0], Row) and seen[0] == {"stars": 5, "votes": 0.5}
    assert masks.index.tolist() == [10, 11, 12]
    assert masks["five_stars"].tolist() == [True, False, True]
    assert masks["many"].tolist() == [False, True, True]
    assert masks["rated"].tolist() == [True, True, True]
    assert five_stars.mask(numbers).tolist() == [True, False, True]


def test_row_slicing_functions_share_one_walk_and_failures_name_their_own_row() -> None:
    @slicing_function()
    def short(x):
        return len(str(x.text)) < 3

    @slicing_function()
    def starts_with_a(x):
        return x["text"].startswith("a")

    frame = FRAME.assign(text=["hi", "a long comment here", "ok", "abc"])
    masks = apply_slices([short, starts_with_a], frame)
    assert masks["short"].tolist() == [True, False, True, False]
    assert masks["starts_with_a"].tolist() == [False, True, False, True]
    with pytest.raises(LFError, match=r"'starts_with_a' failed on row 3: AttributeError") as info:
        apply_slices([short, starts_with_a], FRAME)
    assert info.value.lf_name == "starts_with_a" and type(info.value.row) is int


def test_expression_slices_read_the_columns_they_name_on_wide_frames() -> None:
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(50, 40)), columns=[f"x{j}" for j in range(40)])
    wide["my col"] = rng.normal(size=50)
    wide["x1_flag"] = rng.random(50) < 0.5
    wide.index = pd.RangeIndex(100, 150, name="rid")
    for expression in (
        "x1 > 0",
        "x1_flag",
        "`my col` > 0",
        "rid > 120",
        "index % 2 == 0",
        "x1 + x10 > x39",
    ):
        expected = np.asarray(wide.eval(expression, engine="python"), dtype=bool)
        mask = expression_slice("s", expression).mask(wide)
        np.testing.assert_array_equal(mask, expected, err_msg=expression)
    with pytest.raises(LFError, match="name 'x40' is not defined"):
        expression_slice("s", "x40 > 0").mask(wide)


def test_kmeans_assigns_each_point_to_its_nearest_centre() -> None:
    from gristmill.training.slices import _kmeans

    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(3 * i, 1.0, (200, 5)) for i in range(4)])
    assignment = _kmeans(points, 4, seed=0)
    centres = np.array([points[assignment == j].mean(axis=0) for j in range(4)])
    nearest = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(assignment, nearest)
    assert sorted(np.bincount(assignment).tolist()) == [200, 200, 200, 200]
