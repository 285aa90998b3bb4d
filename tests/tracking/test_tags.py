"""Tag values longer than one MLflow tag holds: spread over numbered parts, read back whole."""

from __future__ import annotations

import pytest

from gristmill.exceptions import TrackingError
from gristmill.tracking._tags import joined_tag, spread_tags, tag_parts


def test_a_digest_list_is_cut_between_digests() -> None:
    digests = [f"{i:016x}" for i in range(1000)]
    tags = tag_parts("lf_digests", ",".join(digests), limit=5000)
    parts = [tags["lf_digests"], *(tags[f"lf_digests.{n}"] for n in range(2, 5))]
    assert tags["lf_digests.parts"] == "4" and len(tags) == 5
    assert all(len(part) <= 5000 for part in parts)
    assert [d for part in parts for d in part.split(",") if d] == digests
    assert joined_tag(tags, "lf_digests") == ",".join(digests)


def test_text_without_commas_is_cut_at_the_limit_and_read_back_whole() -> None:
    source = "SELECT " + "x" * 12_000
    tags = spread_tags({"source": source, "short": "kept"})
    assert tags["short"] == "kept" and "short.parts" not in tags
    assert [len(tags[k]) for k in ("source", "source.2", "source.3")] == [5000, 5000, 2007]
    assert joined_tag(tags, "source") == source
    assert joined_tag(tags, "absent") is None


def test_a_missing_part_is_an_error_not_a_shorter_value() -> None:
    tags = tag_parts("d", "aa,bb,cc", limit=3)
    del tags["d.2"]
    with pytest.raises(TrackingError, match=r"'d' is kept in 3 parts, but \['d.2'\] are missing"):
        joined_tag(tags, "d")
