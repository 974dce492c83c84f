"""`make lint` as part of the suite, so CI catches what the linters catch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.run_helpers import ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "docextract", "pipeline", "schemas", "tests", "benchmarks", "examples"],
        ["mypy", "docextract", "pipeline", "schemas"],
    ],
    ids=["ruff", "mypy"],
)
def test_linters_are_clean(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


# The import order of the package, lowest first: a module imports only modules of its own
# layer or below (lazy imports and type-checking imports included), and nothing imports in a
# circle. Top-level modules not named here are the foundation every stage may use.
LAYERS = (
    ("pipeline.inputs",),
    ("pipeline.engines",),
    ("pipeline.output",),
    ("pipeline.extract",),
    ("pipeline.run", "pipeline.api"),
    ("pipeline.cli", "pipeline.bench", "pipeline.eval", "pipeline.__main__"),
    ("benchmarks", "tests"),
)
OUTSIDE = ("benchmarks", "tests")
"""The folders beside the package that it must never import: neither is installed."""


def _module_name(path, root) -> str:  # type: ignore[no-untyped-def]
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _pipeline_imports(root=ROOT) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """Every pipeline module and the pipeline modules it imports, anywhere in its text, and
    `benchmarks` or `tests` where it imports from those."""
    import ast

    modules = {_module_name(p, root): p for p in (root / "pipeline").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            targets |= {c for c in candidates if c in modules and c != name}
            targets |= {c.split(".")[0] for c in candidates if c.split(".")[0] in OUTSIDE}
        graph[name] = targets
    return graph


def _layer(module: str) -> int:
    for number, prefixes in enumerate(LAYERS, start=1):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return number
    return 0


def _upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]


def test_no_module_imports_a_layer_above_its_own():
    assert not _upward_imports(_pipeline_imports())


def test_the_layer_check_sees_imports_of_benchmarks_and_tests(tmp_path):
    folder = tmp_path / "pipeline" / "bench"
    folder.mkdir(parents=True)
    (tmp_path / "pipeline" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    lazy = "def f():\n    from benchmarks.gpu import main\n"
    (folder / "probe.py").write_text("import tests.run_helpers\n\n" + lazy)
    assert _upward_imports(_pipeline_imports(tmp_path)) == [
        "pipeline.bench.probe -> benchmarks", "pipeline.bench.probe -> tests"
    ]


def test_no_import_circles():
    graph = _pipeline_imports()
    visiting: list[str] = []
    finished: set[str] = set()
    circles: list[str] = []

    def visit(module: str) -> None:
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            if target in visiting:
                circles.append(" -> ".join(visiting[visiting.index(target) :] + [target]))
            elif target not in finished:
                visit(target)
        visiting.pop()
        finished.add(module)

    for module in sorted(graph):
        if module not in finished:
            visit(module)
    assert not circles


def test_no_python_file_is_over_400_lines():
    folders = ("pipeline", "schemas", "benchmarks", "examples")
    long = [
        f"{path.relative_to(ROOT)}: {lines}"
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 400
    ]
    assert not long


def test_schemas_import_nothing_from_the_pipeline():
    import ast

    found = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "schemas").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline"))
        or (isinstance(node, ast.Import) and any(a.name.startswith("pipeline") for a in node.names))
    ]
    assert not found


def test_the_orchestrator_and_the_run_command_have_no_function_over_60_lines():
    import ast

    long = [
        f"{name}:{node.name}: {node.end_lineno - node.lineno + 1}"
        for name in ("pipeline/run.py", "pipeline/cli/run.py")
        for node in ast.walk(ast.parse((ROOT / name).read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or 0) - node.lineno + 1 > 60
    ]
    assert not long


EINVOICE_FORMATS = re.compile(
    r"\b(CII|UBL|ZUGFeRD|Factur-X|XRechnung|CrossIndustry\w*|ferd)\b", re.IGNORECASE
)
"""Names of the e-invoice formats docextract reads."""


def _naming_einvoice_formats() -> list[str]:
    """Modules of the package that name an e-invoice format, outside the e-invoice reader
    (`inputs/einvoice*`), the rows read from its XML (`extract/einvoice_rows.py`) and the
    benchmark's document generator, which writes e-invoices."""
    allowed = ("pipeline/inputs/einvoice", "pipeline/extract/einvoice_rows.py",
               "pipeline/bench/docgen/")  # fmt: skip
    return sorted(
        name
        for path in (ROOT / "pipeline").rglob("*.py")
        if not (name := str(path.relative_to(ROOT))).startswith(allowed)
        and EINVOICE_FORMATS.search(path.read_text())
    )


def test_e_invoice_formats_are_named_only_by_their_reader():
    assert _naming_einvoice_formats() == []
    assert EINVOICE_FORMATS.search('root = b"urn:ferd:CrossIndustryDocument:invoice:1p0"')
    assert EINVOICE_FORMATS.search("a Factur-X PDF") and not EINVOICE_FORMATS.search("cubl")
