"""apply_lfs: every engine, engine equivalence, preprocessor sharing, errors and failures."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill import (
    ABSTAIN,
    DataError,
    GristmillError,
    LabelMatrix,
    LFError,
    LFFailureWarning,
    apply_lfs,
    keyword_lf,
    labeling_function,
    preprocessor,
    threshold_lf,
)

WORDS = np.array(
    "check out my channel subscribe please love this song great video http www com".split()
)


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, k)) for k in rng.integers(1, 9, n)]
    return pd.DataFrame({"text": texts, "stars": rng.integers(1, 6, n)})


@preprocessor()
def lowered(x):
    return {"low": x.text.lower(), "n_words": len(x.text.split())}


@labeling_function(pre=[lowered])
def short(x):
    return 0 if x.n_words <= 2 else ABSTAIN


@labeling_function(pre=[lowered])
def says_please(x):
    return 1 if "please" in x.low else ABSTAIN


@labeling_function()
def five_stars(x):
    return 2 if x.stars == 5 else ABSTAIN


@labeling_function(vectorized=True)
def many_words(frame):
    return np.where(frame["text"].str.count(" ") >= 6, 1, ABSTAIN)


def all_lfs() -> list:
    return [
        short,
        keyword_lf(["check out", "my channel"], 1),
        says_please,
        five_stars,
        threshold_lf("stars", 0, upper=1),
        many_words,
    ]


def expected(frame: pd.DataFrame) -> np.ndarray:
    """The same votes computed directly, one LF at a time."""
    n_words = frame["text"].str.split().str.len()
    text = frame["text"]
    return np.column_stack(
        [
            np.where(n_words <= 2, 0, -1),
            np.where(text.str.contains("check out") | text.str.contains("my channel"), 1, -1),
            np.where(text.str.contains("please"), 1, -1),
            np.where(frame["stars"] == 5, 2, -1),
            np.where(frame["stars"] <= 1, 0, -1),
            np.where(text.str.count(" ") >= 6, 1, -1),
        ]
    )


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_local_engines_match_direct_computation(engine: str) -> None:
    frame = make_frame(3_000)
    L = apply_lfs(all_lfs(), frame, engine=engine, progress=False)
    assert isinstance(L, LabelMatrix)
    assert L.values.dtype == np.int8
    assert L.lf_names[:2] == ("short", "keyword_check_out")
    np.testing.assert_array_equal(L.values, expected(frame))
    assert L.failures == {}


def test_dask_engine_in_process_cluster_matches_pandas() -> None:
    from dask.distributed import Client, LocalCluster

    frame = make_frame(2_500, seed=1)
    frame.index = pd.RangeIndex(100, 2_600)
    reference = apply_lfs(all_lfs(), frame, engine="pandas")
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        L = apply_lfs(all_lfs(), frame, engine="dask", client=client, progress=False)
        import dask.dataframe as dd

        ddf = dd.from_pandas(frame, npartitions=3)
        from_dask = apply_lfs(all_lfs(), ddf, client=client)
        with pytest.raises(LFError, match="'fragile' failed on row"):
            apply_lfs([fragile], frame, engine="dask", client=client)
        with pytest.warns(LFFailureWarning):
            abstained = apply_lfs([fragile], ddf, client=client, on_error="abstain")
    assert abstained.failures == {"fragile": int(frame["text"].str.contains("video").sum())}
    assert L == reference
    assert from_dask == reference
    assert list(L.index) == list(frame.index)


@pytest.mark.slow
def test_dask_engine_own_local_cluster_with_processes() -> None:
    frame = make_frame(1_500, seed=2)
    L = apply_lfs(all_lfs(), frame, engine="dask", progress=False)
    np.testing.assert_array_equal(L.values, expected(frame))


@labeling_function()
def kills_its_worker_once(x):
    marker = Path(os.environ["GRISTMILL_TEST_KILL_MARKER"])
    if x.text == "KILL" and not marker.exists():
        marker.write_text("killed")
        os._exit(1)
    return ABSTAIN


@pytest.mark.slow
def test_dask_engine_sends_a_chunk_again_when_its_worker_dies(tmp_path, monkeypatch) -> None:
    from dask.distributed import Client, LocalCluster

    frame = make_frame(1_500, seed=3)
    frame.loc[700, "text"] = "KILL"
    marker = tmp_path / "marker"
    monkeypatch.setenv("GRISTMILL_TEST_KILL_MARKER", str(marker))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        lfs = [*all_lfs(), kills_its_worker_once]
        L = apply_lfs(lfs, frame, engine="dask", client=client, progress=False)
    assert marker.exists()  # a worker did die, holding its chunk of the frame
    np.testing.assert_array_equal(L.values[:, :-1], expected(frame))
    assert (L.values[:, -1] == -1).all()


def test_preprocessor_computed_once_per_row_and_shared() -> None:
    calls = []

    @preprocessor()
    def counted(x):
        calls.append(1)
        return {"low": x.text.lower()}

    @labeling_function(pre=[counted])
    def a(x):
        return 0 if "love" in x.low else -1

    @labeling_function(pre=[counted])
    def b(x):
        return 1 if "http" in x.low else -1

    frame = make_frame(200)
    apply_lfs([a, b], frame, engine="pandas")
    assert len(calls) == 200


def test_vectorized_preprocessor_computed_once_per_partition() -> None:
    calls = []

    @preprocessor(vectorized=True)
    def lengths(frame):
        calls.append(len(frame))
        return {"length": frame["text"].str.len()}

    lfs = [
        labeling_function(name=f"len_{k}", vectorized=True, pre=[lengths])(
            lambda frame, k=k: np.where(frame["length"] > k, 1, -1)
        )
        for k in (5, 10, 20)
    ]
    L = apply_lfs(lfs, make_frame(300), engine="pandas")
    assert calls == [300]
    assert L.shape == (300, 3)


def test_index_is_kept() -> None:
    frame = make_frame(20)
    frame.index = [f"c{i}" for i in range(20)]
    L = apply_lfs([five_stars], frame)
    assert list(L.index) == list(frame.index)


def test_wide_classes_use_wider_dtype() -> None:
    big = labeling_function(name="big")(lambda x: 300)
    L = apply_lfs([five_stars, big], make_frame(10))
    assert L.values.dtype == np.int16
    assert set(L.column("big")) == {300}


@labeling_function()
def fragile(x):
    if "video" in x.text:
        raise ValueError("cannot parse video")
    return ABSTAIN


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_failing_row_lf_names_lf_row_and_cause(engine: str) -> None:
    frame = make_frame(500)
    first_bad = frame.index[frame["text"].str.contains("video")][0]
    with pytest.raises(LFError, match="'fragile' failed on row") as info:
        apply_lfs([five_stars, fragile], frame, engine=engine)
    assert info.value.lf_name == "fragile"
    assert "ValueError: cannot parse video" in str(info.value)
    if engine == "pandas":
        assert info.value.row == first_bad
        assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_on_error_abstain_counts_failures(engine: str) -> None:
    frame = make_frame(500)
    n_bad = int(frame["text"].str.contains("video").sum())
    with pytest.warns(LFFailureWarning, match="fragile: .* row") as record:
        L = apply_lfs([five_stars, fragile], frame, engine=engine, on_error="abstain")
    assert "ValueError" in str(record[0].message)
    assert L.failures == {"fragile": n_bad}
    assert (L.column("fragile") == ABSTAIN).all()


def test_failing_vectorized_lf_abstains_on_its_partition() -> None:
    broken = labeling_function(name="broken", vectorized=True)(lambda frame: frame["nope"])
    frame = make_frame(50)
    with pytest.raises(LFError, match="'broken' failed on the partition of rows 0..49"):
        apply_lfs([broken], frame)
    with pytest.warns(LFFailureWarning, match="KeyError"):
        L = apply_lfs([broken, five_stars], frame, on_error="abstain")
    assert L.failures == {"broken": 50}


def test_invalid_vote_is_reported_with_row() -> None:
    bad = labeling_function(name="bad")(lambda x: None)
    with pytest.raises(LFError, match="'bad' failed on row 0: LFError: .*returned None"):
        apply_lfs([bad], make_frame(5))


@labeling_function(vectorized=True)
def below_abstain_on_video(frame):
    return np.where(frame["text"].str.contains("video"), -5, ABSTAIN)


@pytest.mark.parametrize("engine", ["pandas", "processes"])
@pytest.mark.parametrize(
    ("lf", "message"),
    [
        (fragile, "'fragile' failed on row 30: ValueError"),
        (
            labeling_function(name="bad")(lambda x: None if "video" in x.text else ABSTAIN),
            "'bad' failed on row 30: LFError",
        ),
        (below_abstain_on_video, "'below_abstain_on_video' returned vote -5 on row 30;"),
    ],
)
def test_errors_name_the_row_by_its_index_label(engine: str, lf, message: str) -> None:
    frame = pd.DataFrame(
        {"text": ["nice song", "love it", "great video", "song"]}, index=[10, 20, 30, 40]
    )
    with pytest.raises(LFError, match=re.escape(message)) as info:
        apply_lfs([lf], frame, engine=engine)
    assert info.value.row == 30
    assert info.value.lf_name == lf.name


def test_bad_vote_error_can_come_back_from_a_dask_worker() -> None:
    # an error that is its own __cause__ sends Dask's serializer into endless recursion (and
    # the worker out of memory) instead of reporting it
    dask_pickle = pytest.importorskip("distributed.protocol.pickle")
    frame = make_frame(50, seed=1)
    with pytest.raises(LFError, match="returned vote -5") as info:
        apply_lfs([below_abstain_on_video], frame, engine="pandas")
    assert str(dask_pickle.loads(dask_pickle.dumps(info.value))) == str(info.value)


def test_argument_errors() -> None:
    frame = make_frame(5)
    with pytest.raises(LFError, match=r"'short' appears twice \(LFs 0 and 1 .*name=\.\.\."):
        apply_lfs([short, short], frame)
    with pytest.raises(LFError, match="at least one"):
        apply_lfs([], frame)
    with pytest.raises(LFError, match="LabelingFunction objects"):
        apply_lfs([lambda x: 1], frame)  # type: ignore[list-item]
    with pytest.raises(GristmillError, match="engine must be one of"):
        apply_lfs([short], frame, engine="spark")
    with pytest.raises(GristmillError, match="on_error"):
        apply_lfs([short], frame, on_error="ignore")
    with pytest.raises(DataError, match="pandas or dask DataFrame"):
        apply_lfs([short], [{"text": "a"}])
    with pytest.raises(LFError, match="'keyword_a' needs column\\(s\\) \\['body'\\]"):
        apply_lfs([keyword_lf("a", 1, column="body")], frame)


def test_progress_bar_can_be_forced(capsys: pytest.CaptureFixture[str]) -> None:
    L = apply_lfs([five_stars, many_words], make_frame(100), progress=True)
    assert L.shape == (100, 2)
    assert capsys.readouterr().out == ""


def test_empty_frame() -> None:
    L = apply_lfs([five_stars, many_words], make_frame(0), engine="pandas")
    assert L.shape == (0, 2)


def test_keyword_lfs_on_threads_match_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    from gristmill.labeling import _label

    frame = make_frame(400)
    lfs = [keyword_lf(w, 1, name=f"k_{w}") for w in ("check", "love", "song", "http")]
    lfs.append(many_words)
    sequential = apply_lfs(lfs, frame)
    monkeypatch.setattr(_label, "THREAD_MIN_ROWS", 0)
    monkeypatch.setattr(_label, "n_cores", lambda: 2)
    threaded = apply_lfs(lfs, frame)
    assert threaded == sequential
    assert (threaded.values != -1).any(axis=0).all()


def test_matrix_is_built_without_wide_whole_matrix_copies() -> None:
    import tracemalloc

    n_rows, n_lfs = 200_000, 20
    frame = pd.DataFrame({"score": np.random.default_rng(0).random(n_rows, dtype=np.float32)})
    lfs = [threshold_lf("score", j % 3, lower=j / n_lfs, name=f"t{j}") for j in range(n_lfs)]
    tracemalloc.start()
    L = apply_lfs(lfs, frame, engine="pandas")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert L.values.dtype == np.int8 and L.nbytes == n_rows * n_lfs
    # An int64 copy of the whole matrix alone would take 8 x L.nbytes.
    assert peak < 3 * L.nbytes


@labeling_function(vectorized=True)
def stars_as_shuffled_series(frame):
    """Votes as a Series in another row order than the frame's (matched to rows by label)."""
    return pd.Series(np.where(frame["stars"] >= 4, 1, 0), index=frame.index).sample(
        frac=1.0, random_state=0
    )


@preprocessor(vectorized=True)
def shuffled_stars(frame):
    return {"shuffled": frame["stars"].sample(frac=1.0, random_state=1)}


@labeling_function(vectorized=True, pre=[shuffled_stars])
def from_shuffled_preprocessor(frame):
    return np.where(frame["shuffled"] >= 4, 1, 0)


def shuffled_series_frame() -> tuple[pd.DataFrame, np.ndarray]:
    frame = make_frame(1_200, seed=4)
    frame.index = [f"r{i}" for i in np.random.default_rng(4).permutation(1_200)]
    return frame, np.where(frame["stars"] >= 4, 1, 0)


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_vectorized_series_votes_land_on_their_rows(engine: str) -> None:
    frame, expected_votes = shuffled_series_frame()
    lfs = [stars_as_shuffled_series, from_shuffled_preprocessor, five_stars]
    L = apply_lfs(lfs, frame, engine=engine, progress=False)
    np.testing.assert_array_equal(L.column("stars_as_shuffled_series"), expected_votes)
    np.testing.assert_array_equal(L.column("from_shuffled_preprocessor"), expected_votes)
    assert list(L.index) == list(frame.index)


def test_vectorized_series_votes_land_on_their_rows_on_dask() -> None:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    frame, expected_votes = shuffled_series_frame()
    lfs = [stars_as_shuffled_series, from_shuffled_preprocessor]
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        scattered = apply_lfs(lfs, frame, engine="dask", client=client, progress=False)
        partitions = dd.from_pandas(frame, npartitions=3, sort=False)
        partitioned = apply_lfs(lfs, partitions, client=client)
    for L in (scattered, partitioned):
        np.testing.assert_array_equal(L.values, np.column_stack([expected_votes] * 2))
        assert list(L.index) == list(frame.index)


@labeling_function()
def text_missing(x):
    return 1 if x.text != x.text else ABSTAIN  # NaN is the only value unequal to itself


@labeling_function(vectorized=True)
def mentions_cash(frame):
    return np.where(frame["text"].str.contains("cash"), 1, ABSTAIN)


def test_dask_partitions_show_lfs_missing_text_as_pandas_does() -> None:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    frame = pd.DataFrame({"text": ["cash now", None, "hello", None, "more cash"]})
    lfs = [text_missing, mentions_cash]
    reference = apply_lfs(lfs, frame, engine="pandas")
    assert reference.values.tolist() == [[-1, 1], [1, -1], [-1, -1], [1, -1], [-1, 1]]
    partitions = dd.from_pandas(frame, npartitions=2)
    assert partitions.dtypes["text"].na_value is pd.NA  # what Dask makes of the strings
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        assert apply_lfs(lfs, partitions, client=client) == reference
        assert apply_lfs(lfs, frame, engine="dask", client=client, progress=False) == reference


def test_dask_engine_on_an_empty_frame() -> None:
    L = apply_lfs([five_stars, many_words], make_frame(0), engine="dask", progress=False)
    assert L.shape == (0, 2)
    assert L.values.dtype == np.int8


def test_needed_columns_match_int_names_and_are_shown_as_they_are() -> None:
    frame = pd.DataFrame({0: ["buy now", "hi"], 1: [5, 1]})
    L = apply_lfs([keyword_lf("buy", 1, column="0"), threshold_lf(1, 0, upper=2)], frame)
    assert L.values.tolist() == [[1, -1], [-1, 0]]
    message = r"'keyword_a' needs column\(s\) \['2'\]; the data has \[0, 1\]"
    with pytest.raises(LFError, match=message):
        apply_lfs([keyword_lf("a", 1, column="2")], frame)


@pytest.mark.parametrize("columns", [["text", "text"], [0, "0"]])
def test_duplicate_column_names_are_a_data_error(columns: list[object]) -> None:
    frame = pd.DataFrame([["buy", "sell"]], columns=columns)
    first = labeling_function(name="first")(lambda x: 1 if x[str(columns[0])] else -1)
    message = f"unique column names.*the data has {re.escape(repr(columns))}"
    with pytest.raises(DataError, match=message):
        apply_lfs([first], frame)
    with pytest.raises(DataError, match="unique column names"):
        apply_lfs([keyword_lf("buy", 1, column=columns[0])], frame)


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_row_lfs_label_every_row_of_a_frame_without_columns(engine: str) -> None:
    @labeling_function(resources={"offset": 1})
    def constant(x, offset):
        return len(x) + offset

    L = apply_lfs([constant], pd.DataFrame(index=["a", "b", "c"]), engine=engine)
    assert L.values.tolist() == [[1], [1], [1]]


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_a_failing_preprocessor_is_named_not_only_its_lf(engine: str) -> None:
    @preprocessor()
    def n_chars(x):
        return {"n_chars": len(x.text)}

    @labeling_function(pre=[n_chars])
    def long_text(x):
        return 1 if x.n_chars > 10 else ABSTAIN

    frame = pd.DataFrame({"text": ["a long enough text", None]}, index=["p", "q"])
    message = (
        "Labeling function 'long_text' failed on row 'q' in its preprocessor 'n_chars': "
        "TypeError: object of type 'float' has no len()"
    )
    with pytest.raises(LFError, match=re.escape(message)):
        apply_lfs([long_text], frame, engine=engine)
    with pytest.warns(LFFailureWarning, match="first row 'q' in its preprocessor 'n_chars'"):
        apply_lfs([long_text], frame, engine=engine, on_error="abstain")


def test_a_failing_vectorized_preprocessor_is_named() -> None:
    @preprocessor(vectorized=True)
    def scores(frame):
        return {"score": frame["missing"]}

    @labeling_function(pre=[scores], vectorized=True)
    def high(frame):
        return np.where(frame["score"] > 1, 1, ABSTAIN)

    with pytest.raises(
        LFError,
        match="'high' failed on the partition of rows 0..1 in its "
        "preprocessor 'scores': KeyError: 'missing'",
    ):
        apply_lfs([high], pd.DataFrame({"text": ["a", "b"]}))


def test_dask_engine_names_an_lf_it_cannot_pickle_before_starting_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from gristmill.labeling import _cluster

    def no_cluster(**options: object) -> None:
        raise AssertionError("a cluster was started for LFs that cannot be sent to it")

    monkeypatch.setattr(_cluster, "local_cluster", no_cluster)
    holds_lock = labeling_function(name="holds_lock", resources={"lock": threading.Lock()})(
        lambda x, lock: ABSTAIN
    )
    message = (
        r"'holds_lock' cannot be sent to Dask workers.*TypeError: cannot pickle "
        r"'_thread.lock' object.*engine='processes'"
    )
    with pytest.raises(LFError, match=message) as info:
        apply_lfs([five_stars, holds_lock], make_frame(20), engine="dask", progress=False)
    assert info.value.lf_name == "holds_lock"
    # the same LF labels on the other engines; lambdas and closures do reach Dask workers
    assert apply_lfs([holds_lock], make_frame(20), engine="processes").shape == (20, 1)


def test_dask_engine_takes_lambdas_and_closures() -> None:
    from dask.distributed import Client, LocalCluster

    cutoff = 3
    above = labeling_function(name="above")(lambda x: 1 if x.stars > cutoff else ABSTAIN)
    frame = make_frame(50, seed=4)
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        L = apply_lfs([above], frame, engine="dask", client=client, progress=False)
    assert L == apply_lfs([above], frame, engine="pandas")


@pytest.mark.parametrize("from_script", [True, False])
def test_a_local_cluster_that_cannot_start_says_why_it_may_not(
    monkeypatch: pytest.MonkeyPatch, from_script: bool
) -> None:
    # Run from a script without a main guard, Dask's workers import the script, which starts a
    # cluster again, and the workers die: Dask says only "Nanny failed to start."
    import sys
    import types

    from gristmill.labeling import _cluster

    def failing_cluster(**options: object) -> None:
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(_cluster, "LocalCluster", failing_cluster)
    main = types.ModuleType("__main__")
    if from_script:
        main.__file__ = "label_comments.py"
    monkeypatch.setitem(sys.modules, "__main__", main)
    with pytest.raises(GristmillError, match=r"^Could not start a local Dask cluster") as info:
        apply_lfs([five_stars], make_frame(5), engine="dask", progress=False)
    message = str(info.value)
    assert "(Nanny failed to start.)" in message and "client=" in message
    assert ('under `if __name__ == "__main__":`' in message) is from_script


@labeling_function()
def fails_on_five_stars(x):
    if x.stars == 5:
        raise ValueError("five stars")
    return ABSTAIN


@pytest.mark.slow
def test_dask_engine_own_cluster_reports_a_failing_lf_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    frame = make_frame(200, seed=5)
    with pytest.raises(LFError, match="'fails_on_five_stars' failed on row .*five stars"):
        apply_lfs([fails_on_five_stars], frame, engine="dask", progress=False)
    assert "Compute Failed" not in capfd.readouterr().err


@labeling_function()
def ends_its_process(x):
    if x.stars == 5:
        os._exit(3)  # as a crash in compiled code or the out-of-memory killer would
    return ABSTAIN


@pytest.mark.timeout(120)
def test_processes_engine_reports_a_worker_that_dies_instead_of_waiting_forever() -> None:
    frame = make_frame(3_000, seed=6)
    message = (
        r"^(A process|One of the processes) labeling rows \d+\.\.\d+.* with the row LF\(s\) "
        r"\['ends_its_process'\] "
        r"ended without raising an error.*engine='pandas'"
    )
    with pytest.raises(LFError, match=message) as info:
        apply_lfs([many_words, ends_its_process], frame, engine="processes", progress=False)
    assert info.value.lf_name == "ends_its_process"
    # the engine still works afterwards
    L = apply_lfs([short, five_stars], frame, engine="processes", progress=False)
    assert L == apply_lfs([short, five_stars], frame, engine="pandas")


@labeling_function()
def text_is_na(x):
    return 1 if x.text is pd.NA else ABSTAIN


def test_dask_engine_labels_a_pandas_frame_as_the_other_engines_do() -> None:
    # A pandas frame whose text column holds pd.NA (string[pyarrow]) shows pd.NA to row LFs on
    # every engine; only partitions of a Dask DataFrame have their text turned back into NaN.
    from dask.distributed import Client, LocalCluster

    frame = pd.DataFrame({"text": pd.array(["buy now", None, "hello"], dtype="string[pyarrow]")})
    lfs = [text_is_na, keyword_lf("buy", 1)]
    reference = apply_lfs(lfs, frame, engine="pandas")
    assert reference.values[:, 0].tolist() == [-1, 1, -1]
    assert apply_lfs(lfs, frame, engine="processes") == reference
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        on_dask = apply_lfs(lfs, frame, engine="dask", client=client, progress=False)
    assert on_dask == reference


@labeling_function(vectorized=True)
def adds_a_column(frame):
    frame["low"] = frame["text"].str.lower()  # a pandas habit: work in a new column
    return np.where(frame["low"].str.contains("please"), 1, ABSTAIN)


@labeling_function(vectorized=True)
def sees_low(frame):
    return np.full(len(frame), 1 if "low" in frame.columns else ABSTAIN)


@preprocessor(vectorized=True)
def lowered_in_place(frame):
    frame["low"] = frame["text"].str.lower()
    return frame  # Snorkel's habit: the data point, with the field added


@labeling_function(vectorized=True, pre=[lowered_in_place])
def please_from_preprocessor(frame):
    return np.where(frame["low"].str.contains("please"), 1, ABSTAIN)


@pytest.mark.parametrize("engine", ["pandas", "processes"])
def test_vectorized_lfs_adding_columns_leave_the_data_and_other_lfs_alone(engine: str) -> None:
    frame = make_frame(300, seed=7)
    original = frame.copy()
    lfs = [adds_a_column, please_from_preprocessor, sees_low, five_stars]
    L = apply_lfs(lfs, frame, engine=engine, progress=False)
    pd.testing.assert_frame_equal(frame, original)
    says_please = np.where(frame["text"].str.contains("please"), 1, ABSTAIN)
    np.testing.assert_array_equal(L.column("adds_a_column"), says_please)
    np.testing.assert_array_equal(L.column("please_from_preprocessor"), says_please)
    assert (L.column("sees_low") == ABSTAIN).all()
    assert adds_a_column(frame).tolist() == says_please.tolist()
    pd.testing.assert_frame_equal(frame, original)
