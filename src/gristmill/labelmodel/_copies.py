"""Near-copies among the sources: sources that vote alike on most rows, merged into one.

A latent-variable label model assumes sources independent given the class. Near-copies of one
source (the same heuristic written several times, two variants of one classifier, a crowd worker
with two accounts) break that assumption in the most damaging way: they agree with each other,
so a model that reads agreement as accuracy trusts them, and they outvote the independent
sources. Merging each group of near-copies into one source that votes its members' plurality
restores the assumption for the group (Ratner et al. 2019 and Varma et al. 2019 model such
dependencies; this is the simplest structure they allow: a clique of copies).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gristmill.labelmodel._votes import Votes

# Share of the rows on which either of two sources votes where both cast the same vote, from
# which the two count as near-copies. Independent sources reach it only when both vote on
# nearly every row and are nearly always right (coverage 0.95 and accuracy 0.97 each give
# 0.85), where merging them costs little.
COPY_AGREEMENT = 0.8
# Most rows (distinct vote patterns, weighted) on which agreement is counted.
_COPY_ROWS = 4096


def near_copy_groups(votes: Votes, seed: int = 0) -> np.ndarray:
    """Group of every source, shape (m,): near-copies share a group, others are alone.

    Two sources are near-copies when they cast the same vote on at least
    :data:`COPY_AGREEMENT` of the rows on which either of them votes; groups are the connected
    components of that relation (copies of one original are linked through it). Rows count
    with their weights; on more than :data:`_COPY_ROWS` rows, a subset of that many drawn with
    ``seed`` is counted (agreement is then known to about 0.01-0.02). Groups are numbered by
    their first source, so sources without copies keep their order.
    """
    k, m = votes.cardinality, votes.n_sources
    if votes.n_rows > _COPY_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(votes.n_rows, _COPY_ROWS, replace=False))
        votes = votes.row_subset(rows)
    # Weighted counts of rows on which (source j, class v) and (source l, class u) both vote,
    # summed per pair of sources that vote together: only those can be linked (an empty
    # ``same`` never reaches a share of ``either``), and there are far fewer of them than
    # m * m when many sources vote on few rows each (5,000 crowd workers: 25M pairs, 200 MB
    # per dense (m, m) array).
    gram = sp.coo_matrix(votes.indicator.T @ votes.weighted_indicator())
    row, col = gram.row.astype(np.int64), gram.col.astype(np.int64)
    pairs, pair = np.unique((row // k) * m + col // k, return_inverse=True)
    both = np.bincount(pair, weights=gram.data, minlength=pairs.size)
    agree = row % k == col % k
    same = np.bincount(pair[agree], weights=gram.data[agree], minlength=pairs.size)
    first, second = np.divmod(pairs, m)
    own = np.zeros(m)
    alone = first == second
    own[first[alone]] = both[alone]
    either = own[first] + own[second] - both
    linked = (either > 0) & (same >= COPY_AGREEMENT * either) & ~alone
    graph = sp.csr_matrix(
        (np.ones(int(linked.sum()), dtype=bool), (first[linked], second[linked])), shape=(m, m)
    )
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))  # component -> rank of its first source
    return order[labels]


def has_copies(groups: np.ndarray) -> bool:
    """Whether any group holds more than one source."""
    return bool(groups.size and groups.max() + 1 < groups.size)


def merge_copies(votes: Votes, groups: np.ndarray) -> Votes:
    """The votes with each group of sources as one source voting its members' plurality.

    A group abstains on a row where none of its members votes or where two classes tie for
    the most member votes. Sources alone in their group keep their votes. Row weights carry
    over; the merged sources are unnamed.
    """
    k, m = votes.cardinality, votes.n_sources
    n_groups = int(groups.max()) + 1 if groups.size else 0
    columns = np.repeat(groups, k) * k + np.tile(np.arange(k), m)
    to_groups = sp.csr_matrix((np.ones(m * k), (np.arange(m * k), columns)), (m * k, n_groups * k))
    counts = sp.coo_matrix(votes.indicator @ to_groups)
    rows, cols, tally = counts.row, counts.col, counts.data
    key = rows.astype(np.int64) * n_groups + cols // k
    order = np.lexsort((-tally, key))  # per (row, group): the most voted class first
    key, rows, cols, tally = key[order], rows[order], cols[order], tally[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    tied = np.zeros(key.size, dtype=bool)
    tied[:-1] = ~first[1:] & (tally[1:] == tally[:-1])
    kept = first & ~tied
    merged = sp.csr_matrix(
        (np.ones(int(kept.sum())), (rows[kept], cols[kept])), shape=(votes.n_rows, n_groups * k)
    )
    merged.sort_indices()
    return Votes(merged, votes.n_rows, n_groups, k, None, votes.row_weights)
