"""Check the SGLang adapter against SGLang's own source, without importing SGLang.

SGLang needs a GPU to import, so the check reads its source with `ast`: the `ServerArgs`
fields, the parameters of `Engine.async_generate` and the fields of `SamplingParams`. Every
name the adapter uses (pipeline.engines.sglang.SERVER_ARG_KEYS, GENERATE_KWARGS, SAMPLING_KEYS)
must exist there. The one file that is executed is sglang's JSON-schema pre-check
(`load_json_schema_validator`), and only because it imports nothing but the standard library.
`fetch_sglang_source` downloads a release (no dependencies) once.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_SGLANG_VERSIONS: tuple[str, ...] = ("0.5.17", "0.5.23")
"""The sglang releases the adapter must work with; the contract tests run over each of them."""

_WANTED = (
    "sglang/srt/arg_groups/",
    "sglang/srt/server_args.py",
    "sglang/srt/entrypoints/engine.py",
    "sglang/srt/sampling/sampling_params.py",
    "sglang/srt/constrained/json_schema_validation.py",  # 0.5.23 on; absent from 0.5.17
    "sglang/srt/managers/tokenizer_manager.py",
)
_VALIDATOR = Path("srt") / "constrained" / "json_schema_validation.py"


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One parameter of a function as written in source: name, kind and default text."""

    name: str
    kind: str  # "positional", "keyword_only", "var_positional", "var_keyword"
    default: str | None  # ast.unparse of the default, None when there is none


def package_dir(source_root: Path) -> Path:
    """The `sglang` package folder under `source_root` (or `source_root` itself)."""
    source_root = Path(source_root)
    if (source_root / "sglang" / "srt").is_dir():
        return source_root / "sglang"
    if (source_root / "srt").is_dir():
        return source_root
    raise FileNotFoundError(f"{source_root}: no sglang package (expected sglang/srt/) here")


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _class_fields(node: ast.ClassDef) -> list[str]:
    names = []
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            annotation = ast.unparse(stmt.annotation)
            if not name.startswith("_") and "ClassVar" not in annotation:
                names.append(name)
    return names


def _assigns_ns_path(node: ast.ClassDef) -> bool:
    return any(
        isinstance(stmt, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "_NS_PATH" for t in stmt.targets)
        for stmt in node.body
    )


def read_server_arg_fields(source_root: Path) -> set[str]:
    """`ServerArgs` field names: the namespace classes in srt/arg_groups/fields/*.py (0.5.2x),
    the names in arg_groups/field_order.py, and any fields declared on the ServerArgs class
    itself in srt/server_args.py (older releases declare them all there)."""
    pkg = package_dir(source_root)
    fields: set[str] = set()
    fields_dir = pkg / "srt" / "arg_groups" / "fields"
    for path in sorted(fields_dir.glob("*.py")) if fields_dir.is_dir() else []:
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.ClassDef) and _assigns_ns_path(node):
                fields.update(_class_fields(node))
    order = pkg / "srt" / "arg_groups" / "field_order.py"
    if order.is_file():
        for node in ast.walk(_parse(order)):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
                fields.update(
                    elt.value
                    for elt in node.value.elts
                    if isinstance(elt, ast.Constant) and isinstance(elt.value, str)
                )
    server_args = pkg / "srt" / "server_args.py"
    if server_args.is_file():
        for node in ast.walk(_parse(server_args)):
            if isinstance(node, ast.ClassDef) and node.name == "ServerArgs":
                fields.update(_class_fields(node))
    return fields


def read_async_generate_parameters(source_root: Path) -> list[ParameterSpec]:
    """Parameters of `Engine.async_generate` in srt/entrypoints/engine.py, without `self`."""
    path = package_dir(source_root) / "srt" / "entrypoints" / "engine.py"
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.ClassDef) and node.name == "Engine":
            for item in node.body:
                if isinstance(item, ast.AsyncFunctionDef | ast.FunctionDef) and (
                    item.name == "async_generate"
                ):
                    return _parameters(item.args)[1:]
    raise LookupError(f"{path}: Engine.async_generate not found")


def _parameters(args: ast.arguments) -> list[ParameterSpec]:
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    specs = [
        ParameterSpec(a.arg, "positional", ast.unparse(d) if d is not None else None)
        for a, d in zip(positional, defaults, strict=True)
    ]
    if args.vararg:
        specs.append(ParameterSpec(args.vararg.arg, "var_positional", None))
    specs += [
        ParameterSpec(a.arg, "keyword_only", ast.unparse(d) if d is not None else None)
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg:
        specs.append(ParameterSpec(args.kwarg.arg, "var_keyword", None))
    return specs


def read_sampling_fields(source_root: Path) -> set[str]:
    """Fields of `SamplingParams` in srt/sampling/sampling_params.py, plus keyword parameters
    of its `__init__` when it is a plain class (older releases)."""
    path = package_dir(source_root) / "srt" / "sampling" / "sampling_params.py"
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.ClassDef) and node.name == "SamplingParams":
            names = set(_class_fields(node))
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    names.update(p.name for p in _parameters(item.args)[1:])
            return names
    raise LookupError(f"{path}: SamplingParams not found")


def read_attention_backend_choices(source_root: Path) -> tuple[set[str], set[str]]:
    """The values sglang accepts for `attention_backend` (ATTENTION_BACKEND_CHOICES) and for
    `mm_attention_backend` (the `choices` of its field), from srt/arg_groups/choices.py and
    fields/mm.py (0.5.2x) or srt/server_args.py (older releases)."""
    srt = package_dir(source_root) / "srt"
    candidates = [srt / "arg_groups" / "choices.py", srt / "arg_groups" / "fields" / "mm.py",
                  srt / "server_args.py"]
    trees = [_parse(path) for path in candidates if path.is_file()]
    text = _first(_list_assigned(tree, "ATTENTION_BACKEND_CHOICES") for tree in trees)
    vision = _first(_field_choices(tree, "mm_attention_backend") for tree in trees)
    if text is None or vision is None:
        raise LookupError(f"{srt}: attention backend choices not found")
    return text, vision


def _first(found: Iterable[set[str] | None]) -> set[str] | None:
    return next((values for values in found if values is not None), None)


def _list_assigned(tree: ast.Module, name: str) -> set[str] | None:
    """The literal list assigned to module-level `name`, or None."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        ):
            return set(ast.literal_eval(stmt.value))
    return None


def _field_choices(tree: ast.Module, field: str) -> set[str] | None:
    """The literal `choices=` inside the annotation of class field `field`, or None."""
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == field:
            for call in ast.walk(node.annotation):
                if isinstance(call, ast.Call):
                    for keyword in call.keywords:
                        if keyword.arg == "choices":
                            return set(ast.literal_eval(keyword.value))
    return None


def load_json_schema_validator(source_root: Path) -> Callable[[Any], None] | None:
    """sglang's own xgrammar schema pre-check, `validate_xgrammar_json_schema(schema)`, loaded
    from srt/constrained/json_schema_validation.py; None when the release has no such file
    (0.5.17 and older). It raises ValueError (UnsupportedJSONSchemaFeature) for a schema that
    sglang refuses before compiling.

    Raises ImportError when the file imports anything beyond the standard library.
    """
    path = package_dir(source_root) / _VALIDATOR
    if not path.is_file():
        return None
    imported = _imported(_parse(path))
    outside = [name for name in imported if name.split(".")[0] not in sys.stdlib_module_names]
    if outside:
        raise ImportError(f"{path} imports {outside}: it cannot be loaded without sglang")
    spec = importlib.util.spec_from_file_location("sglang_json_schema_validation", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    validate: Callable[[Any], None] = module.validate_xgrammar_json_schema
    return validate


def _imported(tree: ast.Module) -> list[str]:
    """Every module name an import statement in `tree` names."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def read_output_logprob_entry(source_root: Path) -> list[str]:
    """How sglang writes each answer token's entry of `meta_info["output_token_logprobs"]`
    when the caller did not ask for token texts: the element names of the tuple that
    `TokenizerManager.detokenize_logprob_tokens` builds (e.g. logprob, token_id, None), read
    from srt/managers/tokenizer_manager.py. Raises LookupError when the method, or the
    meta_info key, is not there."""
    path = package_dir(source_root) / "srt" / "managers" / "tokenizer_manager.py"
    tree = _parse(path)
    keys = {
        node.slice.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name) and node.value.id == "meta_info"
        and isinstance(node.slice, ast.Constant)
    }  # fmt: skip
    if "output_token_logprobs" not in keys:
        raise LookupError(f"{path}: meta_info['output_token_logprobs'] is never set")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "detokenize_logprob_tokens":
            for inner in ast.walk(node):
                if isinstance(inner, ast.ListComp) and isinstance(inner.elt, ast.Tuple):
                    return [ast.unparse(elt) for elt in inner.elt.elts]
    raise LookupError(f"{path}: detokenize_logprob_tokens builds no tuple per token")


def check_sglang_contract(source_root: Path) -> list[str]:
    """Problems found between the adapter and the SGLang source at `source_root`; empty = ok."""
    from pipeline.engines.sglang import GENERATE_KWARGS, SAMPLING_KEYS, SERVER_ARG_KEYS

    problems: list[str] = []
    try:
        server_fields = read_server_arg_fields(source_root)
        generate = read_async_generate_parameters(source_root)
        sampling = read_sampling_fields(source_root)
    except (OSError, SyntaxError, LookupError) as exc:
        return [f"cannot read the sglang source: {exc}"]
    if not server_fields:
        problems.append("no ServerArgs fields found in the sglang source")
    problems += [
        f"ServerArgs has no field {key!r} (sglang.Engine(**kwargs) would raise TypeError)"
        for key in SERVER_ARG_KEYS
        if key not in server_fields
    ]
    accepted = {p.name for p in generate if p.kind in ("positional", "keyword_only")}
    takes_any = any(p.kind == "var_keyword" for p in generate)
    problems += [
        f"Engine.async_generate has no parameter {key!r}"
        for key in GENERATE_KWARGS
        if key not in accepted and not takes_any
    ]
    problems += [
        f"SamplingParams has no field {key!r}" for key in SAMPLING_KEYS if key not in sampling
    ]
    return problems


def fetch_sglang_source(version: str, cache_dir: Path) -> Path:
    """Download sglang==`version` without dependencies and unpack the files the contract reads
    into `cache_dir/sglang-<version>/`; reused when already there. Returns that folder.

    Raises OSError when the package index cannot be reached.
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / f"sglang-{version}"
    marker = target / ".complete"
    if marker.is_file() and marker.read_text(encoding="utf-8").splitlines()[1:] == list(_WANTED):
        return target
    downloads = cache_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = _find_wheel(downloads, version) or _download_wheel(downloads, version)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(_WANTED):
                archive.extract(name, target)
    # The marker lists what was unpacked, so a longer _WANTED unpacks an old cache again.
    marker.write_text("\n".join([wheel.name, *_WANTED]) + "\n", encoding="utf-8")
    return target


def _find_wheel(folder: Path, version: str) -> Path | None:
    found = sorted(folder.glob(f"sglang-{version}-*.whl"))
    return found[0] if found else None


def _download_wheel(folder: Path, version: str) -> Path:
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder)]
    attempts = [
        [*base, "--only-binary=:all:", f"sglang=={version}"],
        # The wheel is built for Linux x86_64 / CPython 3.11+; fetch it from any host.
        [*base, "--only-binary=:all:", "--platform", "manylinux_2_34_x86_64",
         "--python-version", "3.11", "--implementation", "cp", f"sglang=={version}"],
    ]
    errors = []
    for command in attempts:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheel = _find_wheel(folder, version)
        if done.returncode == 0 and wheel is not None:
            return wheel
        errors.append(done.stderr.strip().splitlines()[-1:] or ["(no output)"])
    raise OSError(f"could not download sglang=={version}: {errors}")
