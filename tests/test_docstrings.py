"""Every public function and class a script calls has a numpydoc docstring (issue 17): a
summary line, each parameter of the signature documented with a type and a description
(and nothing documented that the signature lacks), and a Returns section when the function
returns something. The names come from the scripts themselves (``from tmstarget... import ...``,
plus the attributes a script uses of a module it imports that way), so a new call in a
script is checked without editing this file."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
import types
import warnings
from collections.abc import Callable

import pytest
from conftest import REPO
from numpydoc.docscrape import NumpyDocString

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))


def _imported_by_scripts() -> dict[str, object]:
    """Every package object a script uses, by qualified name. Data (dictionaries, labels,
    tuples) are left out: a constant has no docstring of its own to check."""
    found: dict[str, object] = {}
    for script in SCRIPTS:
        tree = ast.parse(script.read_text())
        modules: dict[str, types.ModuleType] = {}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module):
                continue
            if node.module.split(".")[0] != "tmstarget":
                continue
            package = importlib.import_module(node.module)
            for alias in node.names:
                try:
                    obj = getattr(package, alias.name)
                except AttributeError:
                    obj = importlib.import_module(f"{node.module}.{alias.name}")
                if isinstance(obj, types.ModuleType):
                    modules[alias.asname or alias.name] = obj
                elif callable(obj) and not alias.name.startswith("_"):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
            ):
                obj = getattr(modules[node.value.id], node.attr)
                if callable(obj) and not node.attr.startswith("_"):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return dict(sorted(found.items()))


IMPORTED = _imported_by_scripts()


def _documented_names(section) -> list[str]:
    """The names of a Parameters-like section; ``x, y : float`` documents both."""
    return [name.strip() for entry in section for name in entry.name.split(",")]


def _signature_names(obj: Callable) -> list[str]:
    """The parameters a docstring must document, written as numpydoc writes them
    (``*args``, ``**kwargs``); ``self`` and ``cls`` are left out."""
    names = []
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        prefix = {parameter.VAR_POSITIONAL: "*", parameter.VAR_KEYWORD: "**"}
        names.append(prefix.get(parameter.kind, "") + parameter.name)
    return names


def _returns_something(function: Callable) -> bool:
    """True when the annotation says so, or (unannotated) when the body returns a value."""
    annotation = inspect.signature(function).return_annotation
    if annotation is not inspect.Signature.empty:
        return annotation not in (None, "None", "NoReturn", "typing.NoReturn")
    source = textwrap.dedent(inspect.getsource(function))
    body = ast.parse(source).body[0]
    nested = {
        id(inner)
        for node in ast.walk(body)
        if node is not body and isinstance(node, ast.FunctionDef | ast.Lambda)
        for inner in ast.walk(node)
    }
    return any(
        isinstance(node, ast.Return | ast.Yield)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        and id(node) not in nested
        for node in ast.walk(body)
    )


def problems(obj: Callable) -> list[str]:
    """What keeps ``obj``'s docstring from the issue 17 standard (empty when it complies)."""
    text = inspect.getdoc(obj) if obj.__doc__ else None
    if not text:
        return ["no docstring"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            doc = NumpyDocString(text)
        except Exception as error:  # numpydoc raises on malformed sections
            return [f"numpydoc cannot parse it: {error}"]
    found = []
    if not doc["Summary"]:
        found.append("no summary line")
    documented = doc["Parameters"] + doc["Other Parameters"]
    is_class = inspect.isclass(obj)
    if is_class:
        # a dataclass may document its fields as Attributes instead of Parameters
        documented = documented + doc["Attributes"]
    signature = _signature_names(obj)
    for name in signature:
        if name not in _documented_names(documented):
            found.append(f"parameter {name!r} not documented")
    for entry in doc["Parameters"] + doc["Other Parameters"]:
        if not entry.type:
            found.append(f"parameter {entry.name!r} has no type")
        if not "".join(entry.desc).strip():
            found.append(f"parameter {entry.name!r} has no description")
        for name in entry.name.split(","):
            if name.strip() not in signature:
                found.append(f"documented parameter {name.strip()!r} not in the signature")
    if is_class:
        fields = set()
        if dataclasses.is_dataclass(obj):
            fields = {field.name for field in dataclasses.fields(obj)}
        for name in _documented_names(doc["Attributes"]):
            if name not in fields and not hasattr(obj, name):
                found.append(f"documented attribute {name!r} is not an attribute")
    elif _returns_something(obj) and not (doc["Returns"] or doc["Yields"]):
        found.append("returns a value but has no Returns section")
    return found


def test_the_scripts_import_names_to_check():
    assert len(IMPORTED) > 50
    assert "tmstarget.logs.log_to_file" in IMPORTED


@pytest.mark.parametrize("name", sorted(IMPORTED))
def test_public_name_has_numpydoc_sections(name):
    assert problems(IMPORTED[name]) == []


def _example(a: int, *values: float, flag: bool = False, **options: str) -> int:
    """Add things.

    Parameters
    ----------
    a : int
        A number.
    *values : float
        More numbers.
    flag : bool
        Whether.
    **options : str
        Named extras.

    Returns
    -------
    int
        The sum.
    """
    return a


def _bad(a: int, b: int) -> int:
    """Add things.

    Parameters
    ----------
    a : int
        A number.
    c
    """
    return a + b


def test_the_checker_passes_a_good_docstring_and_names_what_a_bad_one_lacks():
    assert problems(_example) == []
    assert problems(_bad) == [
        "parameter 'b' not documented",
        "parameter 'c' has no type",
        "parameter 'c' has no description",
        "documented parameter 'c' not in the signature",
        "returns a value but has no Returns section",
    ]
