"""Resolving schema references: built-in names, Python files, modules and JSON Schema files."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from pipeline.errors import SchemaNotFound
from pipeline.extract.catalog import SchemaSpec, model_from_json_schema, resolve_schema
from schemas import BUILTIN_SCHEMAS, Invoice

DATA = Path(__file__).parent / "data"


def test_builtin_names_resolve() -> None:
    for name, model in BUILTIN_SCHEMAS.items():
        spec = resolve_schema(name)
        assert spec == SchemaSpec(name, model, f"builtin:{name}")


def test_python_file_with_model_name() -> None:
    spec = resolve_schema(f"{DATA / 'custom_schema.py'}:Model")
    assert spec.model.__name__ == "Model"
    assert spec.source == f"file:{(DATA / 'custom_schema.py').resolve()}:Model"
    order = spec.model.model_validate(
        {"order_id": "PO-1", "ordered_on": "2024-03-01", "priority": "high", "amount": "12.5"}
    )
    assert order.ordered_on == date(2024, 3, 1)


def test_relative_python_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA.parent.parent)
    assert resolve_schema("tests/data/custom_schema.py:Model").model.__name__ == "Model"


def test_python_file_with_several_models_needs_a_name() -> None:
    with pytest.raises(SchemaNotFound, match="name one as :Model"):
        resolve_schema(str(DATA / "custom_schema.py"))


def test_python_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaNotFound, match="not found"):
        resolve_schema(f"{tmp_path / 'missing.py'}:Model")
    with pytest.raises(SchemaNotFound, match="no attribute 'Nope'"):
        resolve_schema(f"{DATA / 'custom_schema.py'}:Nope")
    with pytest.raises(SchemaNotFound, match="not a Pydantic model"):
        resolve_schema(f"{DATA / 'custom_schema.py'}:date")
    broken = tmp_path / "broken.py"
    broken.write_text("import does_not_exist_anywhere\n")
    with pytest.raises(SchemaNotFound, match="importing .* failed"):
        resolve_schema(f"{broken}:Model")
    single = tmp_path / "single.py"
    single.write_text("from pydantic import BaseModel\nclass Ticket(BaseModel):\n    id: int\n")
    spec = resolve_schema(str(single))
    assert (spec.name, spec.model.__name__) == ("ticket", "Ticket")


def test_module_reference() -> None:
    spec = resolve_schema("schemas.invoice:Invoice")
    assert spec.model is Invoice
    assert spec.source == "module:schemas.invoice:Invoice"
    with pytest.raises(SchemaNotFound, match="cannot import module"):
        resolve_schema("no_such_package.mod:Model")
    with pytest.raises(SchemaNotFound, match="no attribute"):
        resolve_schema("schemas.invoice:Nothing")


def test_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(SchemaNotFound, match="invoice, receipt"):
        resolve_schema("passport")


def test_json_schema_file_becomes_a_model() -> None:
    spec = resolve_schema(str(DATA / "custom_schema.json"))
    assert spec.name == "custom_schema"
    assert spec.source.startswith("json:")
    model = spec.model
    assert model.__name__ == "DeliveryNote"
    good = {
        "note_number": "DN-0042",
        "delivered_on": "2024-03-01",
        "carrier": "DHL",
        "weight_kg": 12.5,
        "value": "199.99",
        "packages": 2,
        "signed": True,
        "receiver": {"name": "Beispiel AG"},
        "items": [{"name": "Chair", "count": 4}],
    }
    note = model.model_validate(good)
    assert note.delivered_on == date(2024, 3, 1)
    assert note.carrier == "dhl"
    assert note.value == Decimal("199.99") and isinstance(note.value, Decimal)
    assert note.remarks is None and note.receiver.city is None
    assert note.items[0].count == 4
    assert model.model_fields["note_number"].description == "Delivery note number."
    bad_values = [
        ("note_number", "DN-42"), ("weight_kg", 1001), ("packages", 0), ("carrier", "fedex"),
        ("delivered_on", "soon"), ("remarks", "x" * 201), ("items", [{"name": "", "count": 1}]),
        ("receiver", {"city": "Köln"}),
    ]  # fmt: skip
    for field, bad in bad_values:
        with pytest.raises(ValidationError):
            model.model_validate({**good, field: bad})
    with pytest.raises(ValidationError):
        model.model_validate({k: v for k, v in good.items() if k != "packages"})


def test_json_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaNotFound, match="not found"):
        resolve_schema(str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaNotFound, match="not readable JSON"):
        resolve_schema(str(bad))
    array = tmp_path / "array.json"
    array.write_text(json.dumps({"type": "array", "items": {"type": "string"}}))
    with pytest.raises(SchemaNotFound, match="must describe an object"):
        resolve_schema(str(array))
    with pytest.raises(SchemaNotFound, match="points nowhere"):
        model_from_json_schema({"type": "object", "properties": {"a": {"$ref": "#/$defs/X"}}})
    node = {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}}
    recursive = {"type": "object", "properties": {"a": {"$ref": "#/$defs/N"}}, "$defs": {"N": node}}
    with pytest.raises(SchemaNotFound, match="recursive"):
        model_from_json_schema(recursive)


def test_json_schema_model_round_trips_through_pydantic_schema() -> None:
    model = resolve_schema(str(DATA / "custom_schema.json")).model
    regenerated = model_from_json_schema(model.model_json_schema())
    assert issubclass(regenerated, BaseModel)
    assert set(regenerated.model_fields) == set(model.model_fields)


# --- `docextract schemas` ----------------------------------------------------------------------


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_cli_lists_builtin_schemas() -> None:
    result = _cli("schemas")
    assert result.exit_code == 0, result.output
    for name in BUILTIN_SCHEMAS:
        assert name in result.output
    assert "Chinese VAT invoices" in result.output


def test_cli_show_prints_schema_prompt_and_hash() -> None:
    from pipeline.extract.prompt import build_prompt

    result = _cli("schemas", "show", "invoice")
    assert result.exit_code == 0, result.output
    template = build_prompt(resolve_schema("invoice"))
    assert f"prompt hash {template.prompt_hash}" in result.output
    assert template.system in result.output
    assert template.prefix in result.output
    assert result.output.index(template.prefix) < result.output.index("<image>")
    assert result.output.index("<image>") < result.output.index(template.suffix)
    assert '"grand_total"' in result.output


def test_cli_show_json_only_is_the_engine_schema() -> None:
    from pipeline.extract.engine_schema import engine_json_schema

    result = _cli("schemas", "show", "receipt", "--json-only")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == engine_json_schema(BUILTIN_SCHEMAS["receipt"])


def test_cli_show_custom_python_and_json_schemas() -> None:
    py = _cli("schemas", "show", f"{DATA / 'custom_schema.py'}:Model", "--json-only")
    assert py.exit_code == 0, py.output
    schema = json.loads(py.output)
    assert schema["properties"]["order_id"] == {"description": "Order number.", "type": "string"}
    assert schema["properties"]["amount"]["type"] == "number"

    js = _cli("schemas", "show", str(DATA / "custom_schema.json"))
    assert js.exit_code == 0, js.output
    assert "custom_schema" in js.output and '"note_number"' in js.output
    assert "A delivery note from a supplier." in js.output


def test_cli_show_unknown_schema_is_a_usage_error() -> None:
    result = _cli("schemas", "show", "passport")
    assert result.exit_code == 2
    assert "unknown schema 'passport'" in result.output
