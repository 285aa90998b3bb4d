"""Tag values longer than one MLflow tag holds, kept whole over numbered parts."""

from __future__ import annotations

from collections.abc import Mapping

from gristmill.exceptions import TrackingError

# Characters per tag value: MLflow stores 8,000 today, but servers and schemas before 2.x
# (still common behind shared tracking servers) hold 5,000.
MAX_TAG_VALUE = 5000


def tag_parts(key: str, value: str, *, limit: int = MAX_TAG_VALUE) -> dict[str, str]:
    """The tags holding ``value`` under ``key``: itself, or its parts when it is too long.

    A longer value is spread over ``key``, ``key.2``, ``key.3`` … and ``key.parts`` gives
    their number. Parts end after a comma where the value has one, so each part of a
    comma-separated list (of digests) holds whole items and a store search on any part finds
    them. Joining the parts in order gives the value back (:func:`joined_tag`).

    Examples
    --------
    >>> tag_parts("d", "aa,bb,cc", limit=6)
    {'d': 'aa,bb,', 'd.2': 'cc', 'd.parts': '2'}
    >>> tag_parts("d", "short")
    {'d': 'short'}
    """
    if len(value) <= limit:
        return {key: value}
    parts = []
    while len(value) > limit:
        cut = value.rfind(",", 0, limit) + 1 or limit
        parts.append(value[:cut])
        value = value[cut:]
    parts.append(value)
    tags = {part_key(key, number): part for number, part in enumerate(parts, start=1)}
    tags[f"{key}.parts"] = str(len(parts))
    return tags


def spread_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Every tag of ``tags`` as :func:`tag_parts` keeps it: none longer than a tag holds."""
    return {key: part for k, v in tags.items() for key, part in tag_parts(k, v).items()}


def joined_tag(tags: Mapping[str, str], key: str) -> str | None:
    """The whole value of a tag written by :func:`tag_parts` (None when there is no such tag).

    Raises
    ------
    TrackingError
        When one of the parts ``key.parts`` announces is missing.

    Examples
    --------
    >>> joined_tag(tag_parts("d", "aa,bb,cc", limit=6), "d")
    'aa,bb,cc'
    """
    if key not in tags:
        return None
    count = int(tags.get(f"{key}.parts", "1"))
    keys = [part_key(key, number) for number in range(1, count + 1)]
    missing = [k for k in keys if k not in tags]
    if missing:
        raise TrackingError(f"tag {key!r} is kept in {count} parts, but {missing} are missing")
    return "".join(tags[k] for k in keys)


def part_key(key: str, number: int) -> str:
    """The key of part ``number`` (from 1) of a value :func:`tag_parts` spread: ``key`` first."""
    return key if number == 1 else f"{key}.{number}"
