"""Atomic outputs: permissions kept or set by the umask; what a directory output may replace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gristmill.exceptions import OutputError
from gristmill.io import atomic_path, atomic_write_text, check_replaceable, replace_directory


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_files_get_the_umask_and_replaced_files_keep_their_mode(
    tmp_path: Path, umask_022: None
) -> None:
    new = atomic_write_text(tmp_path / "new.txt", "a")
    assert new.stat().st_mode & 0o777 == 0o644
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    atomic_write_text(kept, "new")
    assert kept.read_text() == "new"
    assert kept.stat().st_mode & 0o777 == 0o640


def test_a_directory_is_not_a_file_target(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory; give a file path"):
        with atomic_path(tmp_path):
            pass


def test_check_replaceable(tmp_path: Path) -> None:
    check_replaceable(tmp_path / "absent", "spec.yaml", "run directory")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", "spec.yaml", "run directory")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "spec.yaml").write_text("")
    (tmp_path / "run" / "other").write_text("")
    check_replaceable(tmp_path / "run", "spec.yaml", "run directory")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("")
    with pytest.raises(OutputError, match=r"data holds files that are not a run directory"):
        check_replaceable(tmp_path / "data", "spec.yaml", "run directory")
    with pytest.raises(OutputError, match=r"rows.csv is a file, not a run directory"):
        check_replaceable(tmp_path / "data" / "rows.csv", "spec.yaml", "run directory")


def test_replace_directory_gives_the_new_one_the_old_ones_mode(
    tmp_path: Path, umask_022: None
) -> None:
    fresh = tmp_path / ".fresh"
    fresh.mkdir(mode=0o700)
    replace_directory(fresh, tmp_path / "out")
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    (tmp_path / "out").chmod(0o750)
    second = tmp_path / ".second"
    second.mkdir(mode=0o700)
    (second / "f").write_text("new")
    replace_directory(second, tmp_path / "out")
    assert (tmp_path / "out" / "f").read_text() == "new"
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
