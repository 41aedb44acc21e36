"""Public facade: load specs from files, evaluate mappings, format reports.

Everything the CLI does goes through these functions; they are also the entry
points for Python users::

    import tnx_timeloop as tnx
    spec = tnx.load_spec(["arch.yaml", "problem.yaml", "mapping.yaml"])
    report = tnx.evaluate(spec)
    print(report.to_dict()["cycles"], report.to_dict()["energy_pj"])
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tnx_timeloop.energy.ert import ActionTable, parse_art, parse_ert
from tnx_timeloop.energy.tables import ArchEnergy, select_energy
from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture, parse_architecture
from tnx_timeloop.spec.mapping import Mapping, parse_mapping
from tnx_timeloop.spec.problem import Problem, parse_problem
from tnx_timeloop.spec.yaml_io import load_and_merge

__all__ = ["Spec", "load_spec", "evaluate", "evaluate_files", "energy_for", "format_report", "search", "search_with_backend",
           "mapper_settings", "open_cache"]

# Top-level keys Timeloop/Accelergy input files use, and what we do with them.
_KNOWN_KEYS = {
    "architecture", "problem", "mapping", "ERT", "ART", "ERT_summary", "ART_summary",
    "mapper", "architecture_constraints", "mapspace_constraints", "mapspace", "constraints",
    "compound_components", "components", "variables", "globals", "model", "sparse_optimizations",
    "flattened_architecture", "layer", "layers",
}


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything read from a set of input files (Timeloop's merged view).

    ``mapping`` is resolved against ``arch`` and ``problem`` when all three are
    present; ``constraints`` and ``mapper`` keep the raw directives for the mapper.
    """

    arch: Architecture | None = None
    problem: Problem | None = None
    mapping: Mapping | None = None
    energy_table: ActionTable | None = None
    constraints: tuple[tuple[str, Any], ...] = ()
    mapper: MappingABC[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def require(self, *parts: str) -> None:
        """Raise a clear error if a needed section is missing."""
        names = {"arch": "architecture", "problem": "problem", "mapping": "mapping"}
        missing = [names[p] for p in parts if getattr(self, p) is None]
        if missing:
            given = ", ".join(self.files) or "no files"
            raise SpecError(
                Where(None),
                f"missing {' and '.join(repr(m) for m in missing)} section(s) in the inputs ({given}); "
                f"pass a file holding a top-level '{missing[0]}' key",
            )


def load_spec(paths: Sequence[Path | str], *, variables: MappingABC[str, Any] | None = None) -> Spec:
    """Read and merge Timeloop YAML files (architecture, problem, mapping, ERT/ART, constraints, mapper).

    Files are merged the way ``timeloop-model`` merges them. Jinja templates
    (files containing ``{{ }}``/``{% %}``) are rendered with ``variables``.

    Raises
    ------
    SpecError
        Naming the file, key path and problem for malformed or inconsistent input.
    """
    if not paths:
        raise SpecError(Where(None), "no input files given")
    merged, sources = load_and_merge(paths, variables=variables)
    for key in merged:
        if key not in _KNOWN_KEYS:
            raise SpecError(
                Where(sources.get(key), (str(key),)),
                f"unknown top-level key {key!r}; expected one of {sorted(_KNOWN_KEYS)}",
            )
    arch = problem = mapping = None
    if "architecture" in merged:
        arch = parse_architecture(merged["architecture"], where=Where(sources["architecture"], ("architecture",)))
    if "problem" in merged:
        problem = parse_problem(merged["problem"], where=Where(sources["problem"], ("problem",)))
    table: ActionTable | None = None
    if "ERT" in merged:
        table = parse_ert(merged["ERT"], where=Where(sources["ERT"], ("ERT",)))
    elif "ERT_summary" in merged:
        table = parse_ert(merged["ERT_summary"], where=Where(sources["ERT_summary"], ("ERT_summary",)))
    if "ART" in merged:
        art = parse_art(merged["ART"], where=Where(sources["ART"], ("ART",)))
        table = art if table is None else table.merged(art)
    if "mapping" in merged:
        if arch is None or problem is None:
            raise SpecError(
                Where(sources["mapping"], ("mapping",)),
                "a mapping needs the architecture and the problem among the inputs",
            )
        mapping = parse_mapping(merged["mapping"], arch, problem, where=Where(sources["mapping"], ("mapping",)))
    constraints: list[tuple[str, Any]] = []
    for key in ("architecture_constraints", "mapspace_constraints", "constraints", "mapspace"):
        if key in merged:
            constraints.append((str(sources[key]), (key, merged[key])))
    mapper = merged.get("mapper") or {}
    if not isinstance(mapper, MappingABC):
        raise SpecError(Where(sources.get("mapper"), ("mapper",)), "the mapper section must be a mapping")
    return Spec(
        arch=arch,
        problem=problem,
        mapping=mapping,
        energy_table=table,
        constraints=tuple(constraints),
        mapper=dict(mapper),
        files=tuple(str(p) for p in paths),
    )


def energy_for(spec: Spec, source: str = "auto") -> ArchEnergy:
    """Per-action energies of ``spec.arch`` from ``source`` (see :func:`tnx_timeloop.energy.tables.select_energy`)."""
    spec.require("arch")
    assert spec.arch is not None
    return select_energy(spec.arch, source, spec.energy_table)


def evaluate(
    spec: Spec,
    *,
    backend: str = "native",
    energy: str = "auto",
    method: str = "batch",
) -> Report:
    """Evaluate ``spec.mapping`` of ``spec.problem`` on ``spec.arch``; a :class:`Report` of one mapping.

    ``backend`` selects the evaluator (``native`` is the embedded model);
    ``method`` chooses the native model's path (``batch``, the vectorised closed
    form, or ``reference``, the literal nest walk; both give Timeloop's numbers).
    """
    spec.require("arch", "problem", "mapping")
    assert spec.arch is not None and spec.problem is not None and spec.mapping is not None
    from tnx_timeloop.backends import get_backend

    return get_backend(backend).evaluate(
        spec.arch, spec.problem, spec.mapping, energy=energy_for(spec, energy), method=method
    )


def evaluate_files(paths: Sequence[Path | str], *, backend: str = "native", energy: str = "auto") -> Report:
    """:func:`load_spec` then :func:`evaluate`."""
    return evaluate(load_spec(paths), backend=backend, energy=energy)


def format_report(report: Report, i: int = 0) -> str:
    """A readable per-level table of mapping ``i`` (plain text, also fine on terminals)."""
    from tnx_timeloop.model.format import render_report

    return render_report(report, i)



def open_cache(enabled: bool = True, path: Path | str | None = None) -> Any:
    """The evaluation cache (``None`` when disabled)."""
    if not enabled:
        return None
    from tnx_timeloop.cache import EvaluationCache

    return EvaluationCache(path)


def mapper_settings(spec: Spec) -> dict[str, Any]:
    """Timeloop's ``mapper`` section as search settings (names as :func:`search` takes them).

    ``optimization-metrics`` becomes the (lexicographic) objective,
    ``victory-condition`` the victory condition (valid mappings in a row without
    improvement, counted in evaluation order), ``search-size`` the evaluation
    budget (0 = default) and ``num-threads`` the jobs. ``algorithm`` names
    Timeloop's search and is recorded as ``timeloop_algorithm``: tnx runs its own
    (``auto``) unless told otherwise. Timeloop's ``timeout`` counts invalid
    mappings, which this mapper prunes before evaluating, so it has no effect.
    """
    m = {str(k).replace("_", "-"): v for k, v in dict(spec.mapper).items()}
    out: dict[str, Any] = {}
    if "optimization-metrics" in m:
        out["objective"] = list(m["optimization-metrics"])
    if m.get("algorithm"):
        # The file names Timeloop's search; ours (``auto``) replaces it because the batched
        # model makes a broader search cheaper. ``--algorithm`` selects one explicitly.
        out["timeloop_algorithm"] = str(m["algorithm"])
    if m.get("victory-condition"):
        out["victory"] = int(m["victory-condition"])
    if m.get("search-size"):
        out["budget"] = int(m["search-size"])
    if m.get("num-threads"):
        out["jobs"] = int(m["num-threads"])
    return out


def search_with_backend(spec: Spec, backend: str, *, objective: Any = None, energy: str = "auto") -> dict[str, Any]:
    """Search mappings with an external backend's own mapper (``timeloop``: timeloop-mapper; ``accelforge``: FFM).

    The spec's ``mapper`` section goes to timeloop-mapper as it is (``objective`` given here
    replaces its ``optimization-metrics``); AccelForge takes the objective only.

    Returns
    -------
    dict
        ``mapping`` (our Mapping, or None when the tool's mapping has no Timeloop form),
        ``report`` (a Report of one mapping), ``seconds`` (wall time, s), ``backend``,
        ``notes`` (what was not applied, in words).

    Raises
    ------
    BackendError
        When the backend is missing, cannot search, fails or finds nothing.
    """
    from tnx_timeloop.backends import get_backend

    spec.require("arch", "problem")
    assert spec.arch is not None and spec.problem is not None
    tool = get_backend(backend)
    metrics = [objective] if isinstance(objective, str) else list(objective or [])
    metrics = [{"latency": "delay", "cycles": "delay"}.get(str(m), str(m)) for m in metrics]
    arch, constraints, notes = spec.arch, spec.constraints, []
    if tool.name == "accelforge":
        config: dict[str, Any] = {"objective": {"delay": "latency"}.get(metrics[0], metrics[0]) if metrics else "edp"}
        if constraints or arch.constraints:
            # FFM has no Timeloop mapspace constraints; searching without them is what the user asked for
            notes.append("AccelForge's mapper takes no Timeloop constraints: the architecture's and the files' "
                         "constraints were not applied")
            arch, constraints = dataclasses.replace(arch, constraints=()), ()
    else:
        config = dict(spec.mapper)
        if metrics:
            config["optimization-metrics"] = metrics
    start = time.perf_counter()
    mapping, report = tool.search(arch, spec.problem, constraints, config,  # type: ignore[attr-defined]
                                  energy=energy_for(spec, energy))
    return {"mapping": mapping, "report": report, "seconds": time.perf_counter() - start, "backend": tool.name,
            "notes": notes}


def search(
    spec: Spec,
    *,
    objective: Any = None,
    budget: int | None = None,
    seed: int = 0,
    algorithm: str | None = None,
    jobs: int | None = None,
    victory: int | None = None,
    time_limit_s: float | None = None,
    energy: str = "auto",
    cache: Any = None,
    progress: Any = None,
    pad: bool = False,
) -> Any:
    """Search mappings for ``spec`` (arch + problem, constraints and mapper section applied).

    Arguments given here override the file's ``mapper`` section, which overrides
    the defaults (objective ``edp``, budget 20000, algorithm ``auto``).
    """
    from tnx_timeloop.mapper import search_mappings

    spec.require("arch", "problem")
    assert spec.arch is not None and spec.problem is not None
    settings = {"objective": "edp", "budget": 20000, "algorithm": "auto", "jobs": 1, "victory": None}
    settings.update({k: v for k, v in mapper_settings(spec).items() if k != "timeloop_algorithm"})
    for name, value in (("objective", objective), ("budget", budget), ("algorithm", algorithm),
                        ("jobs", jobs), ("victory", victory)):
        if value is not None:
            settings[name] = value
    return search_mappings(
        spec.arch,
        spec.problem,
        spec.constraints,
        objective=settings["objective"],
        budget=int(settings["budget"]),
        seed=seed,
        algorithm=str(settings["algorithm"]),
        energy=energy_for(spec, energy),
        time_limit_s=time_limit_s,
        victory=settings["victory"],
        jobs=int(settings["jobs"]),
        progress=progress,
        cache=cache,
        pad=pad,
    )
