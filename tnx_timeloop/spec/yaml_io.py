"""YAML <-> plain data, including Timeloop/Accelergy tags and line numbers.

This module only turns text into ``dict``/``list``/scalars and back. It knows the
v0.4 tags (``!Container``, ``!Component``, ``!Parallel``, ``!Nothing``, ...): a
tagged mapping becomes a :class:`TaggedDict`, a ``dict`` that remembers its tag.
Every mapping and list loaded from a file also remembers the line it starts on,
so that parse errors can point at it (see :func:`line_of`).

Several files are merged the way ``timeloop-model`` merges them: top-level keys
of later files are added to the result; a key given twice with two mappings is
merged recursively, otherwise the later file wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tnx_timeloop.errors import SpecError, Where

__all__ = [
    "TaggedDict",
    "LineDict",
    "LineList",
    "load_yaml_text",
    "load_yaml_file",
    "load_and_merge",
    "line_of",
    "line_of_key",
    "dump_yaml",
]

# Tags Timeloop/Accelergy v0.4 files use on mappings and sequences.
V04_TAGS = (
    "Container",
    "Component",
    "Parallel",
    "Nothing",
    "Hierarchical",
    "Architecture",
    "Problem",
    "Mapping",
    "Mapper",
    "Constraints",
    "ArchConstraints",
    "Spatial",
    "Temporal",
    "Dataspace",
    "Bypass",
    "Keep",
    "Max",
    "Min",
    "Utilization",
    "Parallelism",
)


class LineDict(dict):
    """A ``dict`` loaded from YAML that remembers the 1-based line it starts on and each key's line."""

    __slots__ = ("line", "key_lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.key_lines: dict[Any, int] = {}


class TaggedDict(LineDict):
    """A mapping carrying a YAML tag such as ``!Component`` (``tag == "Component"``)."""

    __slots__ = ("tag",)

    def __init__(self, tag: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag


class LineList(list):
    """A ``list`` loaded from YAML that remembers the 1-based line it starts on."""

    __slots__ = ("line", "tag", "item_lines")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line: int | None = None
        self.tag: str | None = None
        self.item_lines: list[int] = []


def line_of(node: object) -> int | None:
    """Return the 1-based line a loaded YAML mapping/list started on, if known."""
    return getattr(node, "line", None)


def line_of_key(container: object, key: Any) -> int | None:
    """The line of ``key`` in a loaded mapping (or of item ``key`` in a list), else the container's line."""
    if isinstance(container, LineDict):
        return container.key_lines.get(key, container.line)
    if isinstance(container, LineList) and isinstance(key, int) and 0 <= key < len(container.item_lines):
        return container.item_lines[key]
    return line_of(container)


class _Loader(yaml.SafeLoader):
    """Safe loader producing LineDict/LineList and accepting Timeloop's tags."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_tagged(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        inner = _construct_mapping(loader, node)
        tagged = TaggedDict(tag_suffix, inner)
        tagged.line, tagged.key_lines = inner.line, inner.key_lines
        return tagged
    if isinstance(node, yaml.SequenceNode):
        seq = _construct_sequence(loader, node)
        seq.tag = tag_suffix
        return seq
    value = loader.construct_scalar(node)
    if tag_suffix == "Nothing":
        tagged = TaggedDict(tag_suffix)
        tagged.line = node.start_mark.line + 1
        return tagged
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_multi_constructor("!", _construct_tagged)


def load_yaml_text(text: str, *, source: Path | str | None = None) -> Any:
    """Parse YAML text (with Timeloop tags) into plain data.

    Raises
    ------
    SpecError
        For malformed YAML, naming the file and the line and column.
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        col = f", column {mark.column + 1}" if mark is not None else ""
        problem = err.problem or err.context or "invalid YAML"
        raise SpecError(Where(source).at_line(line), f"malformed YAML{col}: {problem}") from None
    except yaml.YAMLError as err:
        raise SpecError(Where(source), f"malformed YAML: {err}") from None


def load_yaml_file(path: Path | str, *, variables: Mapping[str, Any] | None = None) -> Any:
    """Read and parse one YAML file; a missing or unreadable file is a :class:`SpecError`.

    A file holding Jinja markup (``{{ }}``/``{% %}``) is rendered first with
    ``variables`` (template defaults may come from ``{% set %}`` in the file).
    """
    p = Path(path)
    if not p.exists():
        raise SpecError(Where(p), "file not found")
    if p.is_dir():
        raise SpecError(Where(p), "is a directory, expected a YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(Where(p), f"cannot read file: {err}") from None
    if "{{" in text or "{%" in text:
        from tnx_timeloop.spec.templates import render_template

        text = render_template(text, variables or {}, source=p)
    return load_yaml_text(text, source=p)


def _merge_into(target: dict, incoming: Mapping) -> None:
    for key, value in incoming.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, Mapping):
            _merge_into(target[key], value)
        else:
            target[key] = value


def load_and_merge(
    paths: Iterable[Path | str], *, variables: Mapping[str, Any] | None = None
) -> tuple[dict, dict[str, Path | str]]:
    """Load several YAML files and merge their top-level keys as ``timeloop-model`` does.

    Returns
    -------
    merged : dict
        The merged document.
    sources : dict
        For every top-level key, the file it came from (for error messages).
    """
    merged: dict = LineDict()
    sources: dict[str, Path | str] = {}
    for path in paths:
        doc = load_yaml_file(path, variables=variables)
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise SpecError(
                Where(path), f"expected a mapping of top-level keys, got {type(doc).__name__}"
            )
        for key, value in doc.items():
            if key in merged and isinstance(merged[key], dict) and isinstance(value, Mapping):
                _merge_into(merged[key], value)
            else:
                merged[key] = value
                sources[key] = path
    return merged, sources


class _Dumper(yaml.SafeDumper):
    """Safe dumper that writes TaggedDict with its tag and keeps key order."""


def _represent_tagged(dumper: _Dumper, data: TaggedDict) -> yaml.Node:
    return dumper.represent_mapping(f"!{data.tag}", dict(data.items()))


def _represent_linedict(dumper: _Dumper, data: LineDict) -> yaml.Node:
    return dumper.represent_dict(dict(data.items()))


def _represent_linelist(dumper: _Dumper, data: LineList) -> yaml.Node:
    return dumper.represent_list(list(data))


_Dumper.add_representer(TaggedDict, _represent_tagged)
_Dumper.add_representer(LineDict, _represent_linedict)
_Dumper.add_representer(LineList, _represent_linelist)


def dump_yaml(data: Any) -> str:
    """Render plain data (and TaggedDicts) as YAML text, keeping key order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
