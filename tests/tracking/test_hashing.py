"""Digests of labeling functions: one per LF, by its definition, whatever built it."""

from __future__ import annotations

from pathlib import Path

from gristmill.tracking import function_digests

LFS = """\
from gristmill import keyword_lf, labeling_function, preprocessor, regex_lf

kw_free = keyword_lf(["free", "win"], 1, column="text", name="kw_free")
link = regex_lf(r"https?://", 1, column="text", name="link")


@preprocessor()
def words(x):
    return {"words": x.text.lower().split()}


@labeling_function(pre=[words])
def short(x):
    return 0 if len(x.words) < 5 else -1


@labeling_function()
def loud(x):
    return 1 if "!!" in x.text else -1
"""


def _digests(tmp_path: Path, source: str) -> dict[str, str]:
    path = tmp_path / f"lfs_{len(list(tmp_path.iterdir()))}.py"
    path.write_text(source)
    return function_digests(path)


def test_every_labeling_function_has_a_digest_and_preprocessors_none(tmp_path: Path) -> None:
    digests = _digests(tmp_path, LFS)
    assert list(digests) == ["kw_free", "link", "short", "loud"]
    assert len(set(digests.values())) == 4
    assert digests == _digests(tmp_path, LFS)


def test_editing_one_lf_changes_its_digest_alone(tmp_path: Path) -> None:
    before = _digests(tmp_path, LFS)
    edits = [
        ('["free", "win"]', '["free", "win", "prize"]', "kw_free"),
        ('["free", "win"], 1', '["free", "win"], 0', "kw_free"),
        ('r"https?://"', 'r"https://"', "link"),
        ("< 5", "< 4", "short"),
        ('"!!"', '"!!!"', "loud"),
    ]
    for old, new, lf in edits:
        after = _digests(tmp_path, LFS.replace(old, new))
        assert [name for name in before if before[name] != after[name]] == [lf], old


def test_a_preprocessor_edit_changes_the_lfs_using_it(tmp_path: Path) -> None:
    before = _digests(tmp_path, LFS)
    after = _digests(tmp_path, LFS.replace("x.text.lower().split()", "x.text.split()"))
    assert [name for name in before if before[name] != after[name]] == ["short"]


def test_factory_lf_digests_stay_those_of_earlier_versions() -> None:
    # Digests recorded with gristmill's code of 2026-11-24 (commit 5f3ba31): a tracked run's
    # LFs must not show as changed in `models diff` because gristmill's internals moved.
    from gristmill import column_lf, keyword_lf, lookup_lf, regex_lf
    from gristmill.tracking._hashing import lf_digest

    recorded = {
        "keyword_free": (keyword_lf(["free", "win"], 1, column="text"), "ffa0875d82505396"),
        "keyword_café": (
            keyword_lf(["café"], 0, column="text", word_boundary=False),
            "c23dcbf673baf48a",
        ),
        "regex_https": (regex_lf(r"https?://", 1, column="text"), "66ea50a7c1655358"),
        "lookup_author": (lookup_lf("author", {"bob": 1}), "7f3cf60e5288c52b"),
        "column_crowd": (column_lf("crowd", {"spam": 1, "ham": 0}), "0adf973006f65492"),
    }
    for name, (lf, digest) in recorded.items():
        assert lf.name == name
        assert lf_digest(lf) == digest, name
