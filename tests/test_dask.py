"""Values shared by the tasks of a Dask run survive the loss of the workers holding them."""

from __future__ import annotations

import os

import pytest

from gristmill._dask import share

distributed = pytest.importorskip("distributed")


def _kill_holders(client, future) -> None:  # noqa: ANN001
    """End every worker process holding ``future`` (its nanny starts a fresh, empty one).

    Only functions the workers can import by name are sent (``os._exit``, ``len``).
    """
    holders = list(client.who_has(future)[future.key])
    assert holders
    with pytest.raises(Exception):  # noqa: B017 - the killed workers never answer
        client.run(os._exit, 1, workers=holders)
    client.wait_for_workers(2, timeout=60)


@pytest.mark.slow
def test_a_shared_value_is_rebuilt_when_its_workers_die() -> None:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster, distributed.Client(cluster) as client:
        value = "abc"
        shared = share(client, value)
        distributed.wait(shared)
        _kill_holders(client, shared)
        assert client.submit(len, shared, pure=False).result(timeout=60) == 3
        # What share replaces: scattered data whose holders die is gone for good.
        scattered = client.scatter(value, broadcast=True, hash=False)
        _kill_holders(client, scattered)
        with pytest.raises(Exception, match="(?i)lost|cancel"):
            client.submit(len, scattered, pure=False).result(timeout=60)


def test_sharing_a_large_value_does_not_warn() -> None:
    import dask

    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1kB"}):
        with distributed.LocalCluster(
            n_workers=1, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster, distributed.Client(cluster) as client:
            shared = share(client, "x" * 100_000)  # warnings are errors in the tests
            assert client.submit(len, shared, pure=False).result(timeout=60) == 100_000
            with pytest.warns(UserWarning, match="Sending large graph"):
                client.submit(len, "x" * 100_000, pure=False).result(timeout=60)
