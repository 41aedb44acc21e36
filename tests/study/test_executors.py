"""Executors: serial, local processes and a Dask cluster give the same study results."""

from __future__ import annotations

import pytest
from study_data import SWEEP, write_study

from tnx_timeloop.errors import SearchError
from tnx_timeloop.search.executors import DaskExecutor, LocalExecutor, SerialExecutor, get_executor
from tnx_timeloop.study.config import load_study
from tnx_timeloop.study.runner import run_study

distributed = pytest.importorskip("distributed")


def _square(x: int) -> int:
    return x * x


def test_local_and_serial_executors_yield_every_item():
    items = list(range(7))
    for ex in (SerialExecutor(), LocalExecutor(1), LocalExecutor(2)):
        with ex:
            got = dict(ex.map_unordered(_square, items))
        assert got == {i: i * i for i in items}


def test_executor_names_and_settings_are_checked():
    with pytest.raises(SearchError, match="choose one of"):
        get_executor("slurm")
    with pytest.raises(SearchError, match="jobs must be >= 1"):
        LocalExecutor(0)
    with pytest.raises(SearchError, match="scheduler address"):
        get_executor("dask")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    cfg = load_study(write_study(folder, SWEEP))
    run_study(cfg, folder / "out", executor=LocalExecutor(2), render=False)
    return folder / "out"


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_dask_local_cluster_agrees_with_local(tmp_path, local_run, processes):
    cfg = load_study(write_study(tmp_path, SWEEP))
    with distributed.LocalCluster(n_workers=1 if processes else 2, threads_per_worker=1, processes=processes,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        ex = DaskExecutor(client=client)
        assert ex.workers >= 1
        summary = run_study(cfg, tmp_path / "out", executor=ex, render=False, scheduler=cluster.scheduler_address)
        ex.close()
    assert summary.computed == summary.total == 5
    for name in ("results.csv", "breakdown.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (local_run / name).read_bytes(), name


def test_dask_scheduler_address_is_used(tmp_path, local_run):
    cfg = load_study(write_study(tmp_path, SWEEP))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with get_executor("dask", scheduler=cluster.scheduler_address) as ex:
            run_study(cfg, tmp_path / "out", executor=ex, render=False, scheduler=cluster.scheduler_address)
    assert (tmp_path / "out" / "results.csv").read_bytes() == (local_run / "results.csv").read_bytes()


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(SearchError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:1", timeout_s=1.0)
