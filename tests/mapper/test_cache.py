"""The evaluation cache: hits, invalidation by changed inputs, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

from tests.conftest import ORACLE
from tnx_timeloop import api
from tnx_timeloop.cache import EvaluationCache, cache_key


def _files():
    return sorted((ORACLE / "mapper_s16_tt3" / "inputs").glob("*.yaml"))


def test_search_result_is_cached_and_changed_input_misses(tmp_path):
    cache = EvaluationCache(tmp_path / "c.sqlite")
    spec = api.load_spec(_files())
    first = api.search(spec, budget=3000, cache=cache)
    assert not first.cached and len(cache) == 1
    again = api.search(spec, budget=3000, cache=cache)
    assert again.cached and again.best_mapping == first.best_mapping
    assert again.best_report.energy_pj[0] == first.best_report.energy_pj[0]
    # a changed problem (bound), objective or seed is a different entry
    changed = api.search(api.load_spec(_files()), budget=3000, cache=cache, seed=5)
    assert not changed.cached
    spec2 = type(spec)(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__},
                          "problem": spec.problem.with_bounds(B=16)})
    assert not api.search(spec2, budget=3000, cache=cache).cached
    assert len(cache) == 3


def _writer(path: str, start: int) -> None:
    cache = EvaluationCache(path)
    for i in range(start, start + 60):
        cache.put(cache_key("k", i), {"value": i})
        assert cache.get(cache_key("k", i)) == {"value": i}


def test_concurrent_writers(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 100 * k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = EvaluationCache(path)
    assert len(cache) == 240
    assert cache.get(cache_key("k", 305)) == {"value": 305}


def test_key_depends_on_every_part():
    assert cache_key("a", 1) != cache_key("a", 2)
    assert cache_key({"x": 1, "y": 2}) == cache_key({"y": 2, "x": 1})
