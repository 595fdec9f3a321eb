"""The one source of defaults: the workflow's JSON Schema (``config/schema.yaml``).

The settings classes of the package (:class:`tmstarget.outcomes.OutcomeParams`,
:class:`tmstarget.reliability.ReliabilityParams`, :class:`tmstarget.power.PlanningParams`,
:class:`tmstarget.stimulation.TargetingSettings`, :class:`tmstarget.denoise.CleaningSettings`,
...) take each field's default from the schema with :func:`default`, and are built from a
config section with :func:`from_config`, which names an unknown key. The schema ships with
the package (``tmstarget/data/schema.yaml``, a link to ``config/schema.yaml`` in the
repository, copied into a wheel), so an installed package reads the same defaults as the
workflow.

Sections are dotted paths of the schema's properties: ``"outcomes"``,
``"preprocess.tedana"``, ``"planning.scenario_defaults"``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

SCHEMA_RESOURCE = "data/schema.yaml"
# A source checkout without the package data (the link): the repository's own file.
_REPOSITORY_SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"

T = TypeVar("T")


@cache
def schema() -> dict:
    """The workflow's JSON Schema, loaded once (read-only: copy before changing)."""
    packaged = resources.files("tmstarget").joinpath(SCHEMA_RESOURCE)
    text = packaged.read_text() if packaged.is_file() else _REPOSITORY_SCHEMA.read_text()
    return yaml.safe_load(text)


def section_schema(section: str) -> dict:
    """The schema of a config section (dotted path; ``""`` is the whole config);
    ``$ref``'d properties are merged in under the section's own (which add the defaults)."""
    node = schema()
    for key in section.split(".") if section else ():
        try:
            node = node["properties"][key]
        except KeyError:
            raise KeyError(f"config/schema.yaml has no section {section!r}") from None
    reference = node.get("$ref")
    if reference:
        target = schema()
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]
        merged = {
            key: {**target["properties"].get(key, {}), **node.get("properties", {}).get(key, {})}
            for key in dict.fromkeys([*target.get("properties", {}), *node.get("properties", {})])
        }
        node = {**node, "properties": merged}
    return node


def keys(section: str) -> tuple[str, ...]:
    """The keys of a config section, in the schema's order."""
    return tuple(section_schema(section).get("properties", {}))


def defaults(section: str) -> dict[str, Any]:
    """The schema's default of every key of ``section`` that has one (a fresh copy)."""
    properties = section_schema(section).get("properties", {})
    return {
        key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec
    }


def enum(section: str, key: str) -> tuple:
    """The allowed values of ``section.key`` (of its items, for an array), in order."""
    spec = section_schema(section)["properties"][key]
    values = spec.get("enum", spec.get("items", {}).get("enum"))
    if values is None:
        raise KeyError(f"config/schema.yaml: {section}.{key} has no enum")
    return tuple(values)


def config_value(config: Mapping[str, Any], dotted: str) -> Any:
    """``config``'s value of a dotted key (``"preprocess.nuisance"``, ``"mode"``), or the
    schema's default where ``config`` lacks it (a partial, unvalidated config)."""
    section, _, key = dotted.rpartition(".")
    node = config
    for part in section.split(".") if section else ():
        node = node.get(part) or {}
    return node[key] if key in node else defaults(section)[key]


def _frozen(value: Any) -> Any:
    """Lists as tuples, all the way down (dicts stay dicts)."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    return value


def default(section: str, key: str, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field whose default is the schema's for ``section.key``: lists become
    tuples, a mapping becomes a ``default_factory`` (each instance its own copy);
    ``convert`` is applied to the value (e.g. ``float`` for ``10`` in the schema)."""
    value = _frozen(defaults(section)[key])
    if convert is not None and value is not None:
        value = convert(value)
    if isinstance(value, dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value))
    return dataclasses.field(default=value)


def check_keys(section: str, mapping: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise ValueError naming every key of ``mapping`` that is not ``known``."""
    known = set(known)
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(
            f"{section}: unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(known))}"
        )


def from_config(
    cls: type[T],
    section: str,
    mapping: Mapping[str, Any] | None,
    *,
    exclude: Iterable[str] = (),
) -> T:
    """``cls`` (a dataclass) from a config section: every key a field of ``cls`` (not in
    ``exclude``), missing keys taking the field's default; an unknown key is an error
    that names the section and the key."""
    values = dict(mapping or {})
    known = {field.name for field in dataclasses.fields(cls)} - set(exclude)
    check_keys(section, values, known)
    return cls(**values)
