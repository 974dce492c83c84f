"""Resolve a schema reference to a Pydantic model.

A reference is one of:
- a built-in name (`invoice`, `receipt`, `cn_vat_invoice`, `id_card`, `bank_statement`,
  `medical_invoice`, `property_certificate`);
- `path/to/file.py:Model` (or `path/to/file.py` when the file defines exactly one model);
- `package.module:Model`, imported from the Python path;
- `path/to/schema.json`: a JSON Schema turned into a Pydantic model (see `model_from_json_schema`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, create_model

from pipeline.errors import SchemaNotFound
from schemas import BUILTIN_SCHEMAS


@dataclass(frozen=True, slots=True)
class SchemaSpec:
    """A resolved schema: its name, the model, and where it came from (`builtin:invoice`,
    `file:/abs/custom.py:Model`, `module:pkg.mod:Model` or `json:/abs/schema.json`).

    The name is the model's in snake case (a JSON Schema's: its file's stem) and names the
    schema's table folder under OUT, so it never starts with a dot or an underscore, which
    data tools skip."""

    name: str
    model: type[BaseModel]
    source: str


def resolve_schema(ref: str) -> SchemaSpec:
    """Resolve `ref` (see the module docstring); raises SchemaNotFound with the reason."""
    ref = ref.strip()
    if ref in BUILTIN_SCHEMAS:
        return SchemaSpec(ref, BUILTIN_SCHEMAS[ref], f"builtin:{ref}")
    if ref.lower().endswith(".json"):
        return _from_json_file(Path(ref))
    target, _, attr = ref.rpartition(":") if ":" in ref else (ref, "", "")
    if target.endswith(".py") or (not attr and ref.endswith(".py")):
        return _from_python_file(Path(target or ref), attr or None)
    if attr and re.fullmatch(r"[A-Za-z_][\w.]*", target):
        return _from_module(target, attr)
    known = ", ".join(BUILTIN_SCHEMAS)
    raise SchemaNotFound(
        f"unknown schema {ref!r}: use a built-in name ({known}), file.py:Model, "
        "package.module:Model or a .json JSON Schema file"
    )


def _check_model(obj: Any, where: str) -> type[BaseModel]:
    if not (inspect.isclass(obj) and issubclass(obj, BaseModel)):
        raise SchemaNotFound(f"{where} is not a Pydantic model")
    return obj


def _from_python_file(path: Path, attr: str | None) -> SchemaSpec:
    if not path.is_file():
        raise SchemaNotFound(f"schema file not found: {path}")
    path = path.resolve()
    module_name = "docextract_custom_" + re.sub(r"\W", "_", str(path))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SchemaNotFound(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise SchemaNotFound(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    if attr is None:
        found = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == module_name
        ]
        if len(found) != 1:
            names = ", ".join(m.__name__ for m in found) or "none"
            raise SchemaNotFound(
                f"{path} defines {len(found)} models ({names}); name one as :Model"
            )
        model = found[0]
    else:
        if not hasattr(module, attr):
            raise SchemaNotFound(f"{path} has no attribute {attr!r}")
        model = _check_model(getattr(module, attr), f"{path}:{attr}")
    return SchemaSpec(_table_name(model.__name__), model, f"file:{path}:{model.__name__}")


def _from_module(module_name: str, attr: str) -> SchemaSpec:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SchemaNotFound(f"cannot import module {module_name!r}: {exc}") from exc
    if not hasattr(module, attr):
        raise SchemaNotFound(f"module {module_name!r} has no attribute {attr!r}")
    model = _check_model(getattr(module, attr), f"{module_name}:{attr}")
    return SchemaSpec(_table_name(model.__name__), model, f"module:{module_name}:{attr}")


def _from_json_file(path: Path) -> SchemaSpec:
    if not path.is_file():
        raise SchemaNotFound(f"schema file not found: {path}")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaNotFound(f"{path} is not readable JSON: {exc}") from exc
    model = model_from_json_schema(schema, default_name=_camel(path.stem))
    return SchemaSpec(_visible(path.stem), model, f"json:{path.resolve()}")


def _table_name(class_name: str) -> str:
    return _visible(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower())


def _visible(name: str) -> str:
    """`name` without the leading dots and underscores that hide a folder from readers."""
    return name.lstrip("._") or "schema"


def _camel(name: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", name)
    camel = "".join(w[:1].upper() + w[1:] for w in words if w)
    return camel if camel and not camel[0].isdigit() else "Schema" + camel


# --- JSON Schema -> Pydantic -------------------------------------------------------------------

_FORMATS: dict[str, Any] = {"date": date, "date-time": datetime, "time": time, "decimal": Decimal}
_STRING_BOUNDS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}
_NUMBER_BOUNDS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
}
_ARRAY_BOUNDS = {"minItems": "min_length", "maxItems": "max_length"}


def _casefold_choice(choices: tuple[Any, ...]) -> Any:
    """Map an answer onto the choice it means: text whatever its case and spaces, and a number
    (answers are parsed as Decimal, exactly) onto the number choice of the same value, which a
    Literal would otherwise refuse (Decimal('0.07') != 0.07)."""
    folded = {str(c).casefold(): c for c in choices if isinstance(c, str)}
    numbers = {
        Decimal(str(c)): c
        for c in choices
        if isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
    }

    def pick(value: Any) -> Any:
        if isinstance(value, str):
            return folded.get(value.strip().casefold(), value)
        if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
            return numbers.get(Decimal(str(value)), value)
        return value

    return BeforeValidator(pick)


class _JsonSchemaBuilder:
    """Builds Pydantic types from JSON Schema nodes; `$ref`s resolve within the document."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.models: dict[str, type[BaseModel]] = {}
        self.building: set[str] = set()

    def resolve_ref(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise SchemaNotFound(f"only local $ref is supported, got {ref!r}")
        if ref in self.models:
            return self.models[ref]
        if ref in self.building:
            raise SchemaNotFound(f"recursive $ref {ref!r} is not supported")
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaNotFound(f"$ref {ref!r} points nowhere")
            node = node[part]
        self.building.add(ref)
        try:
            built = self.type_for(node, _camel(ref.rsplit("/", 1)[-1]))
        finally:
            self.building.discard(ref)
        if inspect.isclass(built) and issubclass(built, BaseModel):
            self.models[ref] = built
        return built

    def type_for(self, node: Any, name: str) -> Any:
        """A Python type (maybe Annotated with constraints) for one schema node."""
        if node is True or node == {}:
            return Any
        if not isinstance(node, dict):
            raise SchemaNotFound(f"schema node for {name} is not an object")
        if "$ref" in node:
            return self.resolve_ref(node["$ref"])
        if "const" in node:
            return Annotated[Literal[node["const"]], _casefold_choice((node["const"],))]
        if "enum" in node:
            choices = tuple(node["enum"])
            literal = Literal[choices]  # type: ignore[valid-type]
            return Annotated[literal, _casefold_choice(choices)]
        for key in ("anyOf", "oneOf"):
            if key in node:
                return self.union([self.type_for(sub, name) for sub in node[key]])
        if "allOf" in node and len(node["allOf"]) == 1:
            return self.type_for({**node["allOf"][0], **_without(node, "allOf")}, name)
        kind = node.get("type")
        if isinstance(kind, list):
            return self.union([self.type_for({**node, "type": k}, name) for k in kind])
        if kind == "object" or (kind is None and "properties" in node):
            return self.model_for(node, node.get("title") and _camel(node["title"]) or name)
        if kind == "array":
            item = self.type_for(node.get("items", {}), name + "Item")
            return Annotated[list[item], Field(**_bounds(node, _ARRAY_BOUNDS))]  # type: ignore[valid-type]
        if kind == "string":
            base = _FORMATS.get(node.get("format", ""), str)
            bounds = _bounds(node, _STRING_BOUNDS) if base is str else {}
            return Annotated[base, Field(**bounds)] if bounds else base
        if kind in ("number", "integer"):
            base = (
                int if kind == "integer" else Decimal if node.get("format") == "decimal" else float
            )
            bounds = _bounds(node, _NUMBER_BOUNDS)
            return Annotated[base, Field(**bounds)] if bounds else base
        if kind == "boolean":
            return bool
        if kind == "null":
            return type(None)
        raise SchemaNotFound(f"unsupported JSON Schema type {kind!r} for {name}")

    @staticmethod
    def union(types: list[Any]) -> Any:
        result = types[0]
        for other in types[1:]:
            result = result | other if result is not Any and other is not Any else Any
        return result

    def model_for(self, node: dict[str, Any], name: str) -> type[BaseModel]:
        required = set(node.get("required", []))
        fields: dict[str, Any] = {}
        for field_name, sub in node.get("properties", {}).items():
            annotation = self.type_for(sub, name + _camel(field_name))
            extra = (
                {"description": sub["description"]}
                if isinstance(sub, dict) and sub.get("description")
                else {}
            )
            alias = {}
            if not field_name.isidentifier() or field_name.startswith("_"):
                alias = {"alias": field_name}
                field_name = "f_" + re.sub(r"\W", "_", field_name).lstrip("_")
            if field_name in required or alias.get("alias") in required:
                fields[field_name] = (annotation, Field(..., **extra, **alias))
            else:
                default = sub.get("default") if isinstance(sub, dict) else None
                fields[field_name] = (annotation | None, Field(default, **extra, **alias))
        model = create_model(_camel(name), __doc__=node.get("description"), **fields)
        return model


def _without(node: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != key}


def _bounds(node: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names[k]: v for k, v in node.items() if k in names}


def model_from_json_schema(schema: dict[str, Any], default_name: str = "Schema") -> type[BaseModel]:
    """A Pydantic model for a JSON Schema object: nested objects become nested models, arrays
    lists, `enum` a Literal (matched case-insensitively), `format` date/date-time/time the
    matching types (`format: decimal` on a number gives Decimal), and pattern, length, item-count
    and numeric bounds carry over. Properties not in `required` are optional (default None).
    """
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise SchemaNotFound("a JSON Schema for docextract must describe an object")
    name = _camel(schema.get("title") or default_name)
    model = _JsonSchemaBuilder(schema).model_for(schema, name)
    return model
