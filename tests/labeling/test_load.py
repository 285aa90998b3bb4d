"""load_lfs: module-level LFs of a file, in order, with errors naming the file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gristmill import LFError, apply_lfs, load_lfs
from gristmill.io import read_table

SPAM = Path(__file__).resolve().parents[2] / "src" / "gristmill" / "examples" / "spam"


def write(tmp_path: Path, text: str, name: str = "lfs.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loads_in_definition_order_and_once_per_object(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("SPAM = 1\n")
    path = write(
        tmp_path,
        "from gristmill import keyword_lf, labeling_function\n"
        "from helpers import SPAM\n"
        "@labeling_function()\n"
        "def zeta(x):\n    return SPAM\n"
        "alpha = keyword_lf('buy', SPAM)\n"
        "alias = alpha\n"
        "not_an_lf = 3\n",
    )
    lfs = load_lfs(path)
    assert [lf.name for lf in lfs] == ["zeta", "keyword_buy"]


def test_loads_lfs_held_in_module_level_lists_once_each(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "from gristmill import keyword_lf, labeling_function\n"
        "@labeling_function()\n"
        "def first(x):\n    return 1\n"
        "lfs = [keyword_lf(w, 1) for w in ('buy', 'win')] + [first]\n"
        "pair = (keyword_lf('cash', 1), 'not an lf')\n",
    )
    assert [lf.name for lf in load_lfs(path)] == [
        "first",
        "keyword_buy",
        "keyword_win",
        "keyword_cash",
    ]
    twice = write(
        tmp_path,
        "from gristmill import keyword_lf\n"
        "one = keyword_lf('x', 1, name='dup')\n"
        "lfs = [keyword_lf('y', 1, name='dup')]\n",
        "twice.py",
    )
    with pytest.raises(LFError, match=r"'dup'.*'one' and 'lfs\[0\]'"):
        load_lfs(twice)


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LFError, match="missing.py: no such"):
        load_lfs(tmp_path / "missing.py")
    with pytest.raises(LFError, match="is a directory; give the Python file"):
        load_lfs(tmp_path)
    broken = write(tmp_path, "import no_such_module_xyz\n", "broken.py")
    with pytest.raises(LFError, match="broken.py: importing .* ModuleNotFoundError"):
        load_lfs(broken)
    empty = write(tmp_path, "X = 1\n", "empty.py")
    with pytest.raises(LFError, match="empty.py: defines no labeling functions"):
        load_lfs(empty)
    twice = write(
        tmp_path,
        "from gristmill import keyword_lf\n"
        "a = keyword_lf('x', 1, name='dup')\n"
        "b = keyword_lf('y', 1, name='dup')\n",
        "twice.py",
    )
    with pytest.raises(LFError, match="twice.py: LF names must be unique; 'dup'.*'a' and 'b'"):
        load_lfs(twice)


def test_bundled_spam_example_loads_and_labels() -> None:
    lfs = load_lfs(SPAM / "lfs.py")
    assert len(lfs) == 10
    assert {lf.vectorized for lf in lfs} == {True, False}
    frame = read_table(SPAM / "data" / "youtube.csv")
    assert list(frame.columns) == ["COMMENT_ID", "VIDEO", "AUTHOR", "DATE", "CONTENT", "CLASS"]
    assert len(frame) == 1953
    L = apply_lfs(lfs, frame)
    coverage = (L.values != -1).any(axis=1).mean()
    assert coverage > 0.6


def _project(root: Path, word: str) -> Path:
    root.mkdir()
    (root / "helpers.py").write_text(
        f"WORDS = [{word!r}]\n\ndef hit(text):\n    return any(w in text for w in WORDS)\n"
    )
    return write(
        root,
        "from gristmill import labeling_function\nfrom helpers import hit\n\n"
        "@labeling_function()\ndef kw(x):\n    return 1 if hit(x.text) else -1\n",
        "lfs.py",
    )


def test_helper_modules_are_each_projects_own_and_read_afresh(tmp_path: Path) -> None:
    import pandas as pd

    from gristmill.labeling import apply_lfs
    from gristmill.labeling._load import import_lf_module

    frame = pd.DataFrame({"text": ["cheap pills", "free money"]})
    first = import_lf_module(_project(tmp_path / "a", "cheap"))
    assert first.files == [tmp_path / "a" / "lfs.py", tmp_path / "a" / "helpers.py"]
    second = load_lfs(_project(tmp_path / "b", "free"))
    assert apply_lfs(first.lfs, frame).values.ravel().tolist() == [1, -1]
    assert apply_lfs(second, frame).values.ravel().tolist() == [-1, 1]
    assert "helpers" not in sys.modules
    helper = tmp_path / "a" / "helpers.py"
    helper.write_text(helper.read_text().replace("'cheap'", "'money'"))
    again = load_lfs(tmp_path / "a" / "lfs.py")
    assert apply_lfs(again, frame).values.ravel().tolist() == [-1, 1]


def test_helper_modules_travel_by_value(tmp_path: Path) -> None:
    import cloudpickle
    import pandas as pd

    (lf,) = load_lfs(_project(tmp_path / "a", "cheap"))
    payload = cloudpickle.dumps(lf)
    assert "helpers" not in sys.modules and str(tmp_path / "a") not in sys.path
    assert cloudpickle.loads(payload)(pd.Series({"text": "cheap"})) == 1
