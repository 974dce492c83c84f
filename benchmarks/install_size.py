"""What each install of docextract weighs: `python -m benchmarks.install_size [--venv]`.

Three installs, each the one before plus an extra:
- light: `pip install .`, the null and OpenAI-compatible engines and every command;
- `make run`: `.[local]`, the transformers engine (torch, with CUDA's libraries on Linux);
- `make test`: `.[local,dev]`, the tools the tests and `make lint`/`bench`/`soak` use.

Each size is the closure of the checkout's requirements (pyproject.toml) over the
distributions installed in this environment, summed from their RECORD files (file sizes as
installed, not disk blocks), plus docextract's own package files. `--venv` also installs the
light one into a fresh venv and measures that folder on disk (pip and the interpreter's links
included), which needs the package index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("docextract", "pipeline", "schemas")
SOURCES = ("pyproject.toml", "README.md", *PACKAGES)
INSTALLS = (("light: pip install .", ()), ("make run: .[local]", ("local",)),
            ("make test: .[local,dev]", ("local", "dev")))  # fmt: skip
CUDA_PREFIXES = ("nvidia-", "triton", "cuda-")
"""Distributions that are CUDA's libraries (torch pulls them in on Linux)."""


@dataclass
class Closure:
    """The distributions an install needs, found in this environment, and those missing."""

    dists: dict[str, Distribution] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)


def requirements(extras: tuple[str, ...], root: Path = ROOT) -> list[Requirement]:
    """The checkout's own requirements, with those of `extras`."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in extras | {""})


def resolve(roots: list[Requirement]) -> Closure:
    """Every installed distribution the requirements need, transitively (extras followed)."""
    closure = Closure()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(req.name, frozenset(req.extras)) for req in roots if _applies(req, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        try:
            dist = closure.dists.get(key) or distribution(name)
        except PackageNotFoundError:
            closure.missing.add(key)
            continue
        closure.dists[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if _applies(req, extras):
                todo.append((req.name, frozenset(req.extras)))
    return closure


def dist_bytes(dist: Distribution) -> int:
    """The installed size of one distribution, from its RECORD (a file the RECORD gives no
    size for, as RECORD itself, is measured on disk)."""
    total = 0
    for entry in dist.files or []:
        if entry.size is not None:
            total += entry.size
            continue
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            total += path.stat().st_size
    return total


def package_bytes(root: Path = ROOT) -> int:
    """docextract's own files (its packages), as a non-editable install holds them."""
    return sum(
        path.stat().st_size
        for name in PACKAGES
        for path in (root / name).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def is_cuda(name: str) -> bool:
    return name.startswith(CUDA_PREFIXES)


def human(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


@dataclass(frozen=True)
class InstallSize:
    """One install: its size, its distributions, its CUDA share and what it adds."""

    install: str
    bytes: int
    distributions: int
    cuda_bytes: int
    largest_added: list[str]
    missing: list[str]


def measure() -> list[InstallSize]:
    """One row per install, each the one before plus its extra."""
    rows: list[InstallSize] = []
    before: set[str] = set()
    for label, extras in INSTALLS:
        closure = resolve(requirements(extras))
        sizes = {name: dist_bytes(dist) for name, dist in closure.dists.items()}
        added = sorted(set(sizes) - before, key=lambda name: -sizes[name])
        rows.append(InstallSize(
            label, sum(sizes.values()) + package_bytes(), len(sizes),
            sum(size for name, size in sizes.items() if is_cuda(name)),
            [f"{name} {human(sizes[name])}" for name in added[:4]], sorted(closure.missing),
        ))  # fmt: skip
        before = set(sizes)
    return rows


def copy_sources(dest: Path, root: Path = ROOT) -> Path:
    """What `pip install` builds from, copied, so the build leaves nothing in the checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        source = root / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, dest / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest / name)
    return dest


def make_light_venv(venv: Path, root: Path = ROOT, timeout: float = 600) -> Path:
    """A fresh venv with `pip install .` of the checkout and nothing else; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        source = copy_sources(Path(tmp) / "docextract", root)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(source)],
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip install . failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return python


def disk_bytes(folder: Path) -> int:
    """The disk usage of a folder, as `du` counts it (blocks, each file once)."""
    total, seen = 0, set()
    for path in folder.rglob("*"):
        stat = path.lstat()
        if (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total


def wheel_bytes(wheel: Path) -> int:
    """The size a wheel's files take once installed (their uncompressed sizes)."""
    with zipfile.ZipFile(wheel) as archive:
        return sum(info.file_size for info in archive.infolist())


def print_cpu_torch(row: InstallSize, cpu_wheel: Path | None) -> None:
    """What `make run` would weigh with CPU-only torch: without CUDA's distributions, and with
    torch itself counted at the size of a CPU wheel when one is given."""
    without = row.bytes - row.cuda_bytes
    print(f"make run with CPU-only torch: at most {human(without)} (less the CUDA libraries: "
          f"{', '.join(p + '*' for p in CUDA_PREFIXES)}; torch's own CUDA kernels still counted)")
    if cpu_wheel is not None:
        torch = dist_bytes(distribution("torch"))
        estimate = without - torch + wheel_bytes(cpu_wheel)
        print(f"  about {human(estimate)} with torch counted as {cpu_wheel.name} "
              f"({human(wheel_bytes(cpu_wheel))} installed, against {human(torch)} here)")


def print_rows(rows: list[InstallSize]) -> None:
    print(f"{'install':<26}{'size':>11}{'dists':>7}{'CUDA libs':>11}  largest it adds")
    for row in rows:
        cuda = human(row.cuda_bytes) if row.cuda_bytes else "-"
        print(f"{row.install:<26}{human(row.bytes):>11}{row.distributions:>7}{cuda:>11}  "
              f"{', '.join(row.largest_added)}")
        if row.missing:
            print(f"{'':<26}not installed here, not counted: {', '.join(row.missing)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", action="store_true",
                        help="also measure `pip install .` in a fresh venv (needs the index)")
    parser.add_argument("--cpu-torch-wheel", type=Path,
                        help="a CPU-only torch wheel, to estimate `make run` with it")
    args = parser.parse_args(argv)
    print(f"installed distributions of {sys.prefix} (RECORD sizes):")
    rows = measure()
    print_rows(rows)
    print_cpu_torch(rows[1], args.cpu_torch_wheel)
    if args.venv:
        with tempfile.TemporaryDirectory() as tmp:
            venv = Path(tmp) / "venv"
            make_light_venv(venv)
            site = next((venv / "lib").glob("python*/site-packages"))
            print(f"fresh venv, pip install . (du): {human(disk_bytes(venv))} "
                  f"(site-packages {human(disk_bytes(site))}, pip "
                  f"{human(disk_bytes(site / 'pip'))})")  # fmt: skip
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
