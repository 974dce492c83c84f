"""What each install offers: `pip install .` alone runs every command that needs no model, a
command that needs an extra names it, and each Makefile target installs only what it uses."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.install_size import make_light_venv, measure, requirements, resolve
from tests.run_helpers import ROOT

# A nested make run by `make test` must print only the recipe of the target it is asked for.
_OUTER_MAKE = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}


def _make_dry(target: str, venv: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in _OUTER_MAKE}
    command = ["make", "-n", "--no-print-directory", target, f"VENV={venv}", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pip_installs(recipe: str) -> list[str]:
    return [line.split("-e ", 1)[1] for line in recipe.splitlines() if "pip install" in line
            and " -e " in line]  # fmt: skip


def test_make_run_installs_the_local_engine_and_no_dev_tools(tmp_path: Path) -> None:
    assert _pip_installs(_make_dry("run", tmp_path / "venv")) == ["'.[local]'"]
    assert _pip_installs(_make_dry("examples", tmp_path / "venv")) == ["'.[local]'"]


@pytest.mark.parametrize("target", ["test", "lint", "bench", "soak", "install"])
def test_the_developer_targets_install_the_dev_tools(tmp_path: Path, target: str) -> None:
    assert _pip_installs(_make_dry(target, tmp_path / "venv"))[-1] == "'.[local,dev]'"


def test_torch_index_reaches_every_pip_install(tmp_path: Path) -> None:
    index = "https://download.pytorch.org/whl/cpu"
    recipe = _make_dry("test", tmp_path / "venv", f"TORCH_INDEX={index}")
    installs = [line for line in recipe.splitlines() if " -e " in line]
    assert len(installs) == 2 and all(f"--extra-index-url {index}" in i for i in installs)
    assert "--extra-index-url" not in _make_dry("run", tmp_path / "venv")


def test_the_install_closures_grow_by_their_extras() -> None:
    light = resolve(requirements(()))
    local = resolve(requirements(("local",)))
    assert {"pyarrow", "pymupdf", "numpy"} <= set(light.dists) and not light.missing
    assert "torch" not in light.dists and "pytest" not in light.dists
    assert "torch" in local.dists and set(light.dists) < set(local.dists)
    rows = measure()
    assert rows[0].install == "light: pip install ."
    sizes = [row.bytes for row in rows]
    assert sizes == sorted(sizes) and sizes[0] < 2**30


def _env(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "DOCEXTRACT_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    env.update({"PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}", "HF_HUB_OFFLINE": "1",
                "CUDA_VISIBLE_DEVICES": "", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    return env


def _docextract(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = folder / "venv" / "bin"
    return subprocess.run([str(bin_dir / "docextract"), *args], cwd=folder, env=_env(bin_dir),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a venv that has `pip install .` of this checkout (no extras), an inbox,
    and `out`, the inbox extracted by the null engine in that venv; about 20-40 s with pip's
    cache warm."""
    folder = tmp_path_factory.mktemp("light")
    make_light_venv(folder / "venv")
    shutil.copytree(ROOT / "examples" / "documents" / "receipt", folder / "inbox")
    done = _docextract(folder, "run", "inbox", "--schema", "receipt", "--engine", "null",
                       "--out", "out")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.mark.slow
def test_the_light_install_holds_no_model_stack(light: Path) -> None:
    code = (
        "import importlib.util as u, pipeline; print(pipeline.__file__); "
        "print([m for m in ('torch', 'transformers', 'pytest') if u.find_spec(m)])"
    )
    bin_dir = light / "venv" / "bin"
    done = subprocess.run([str(bin_dir / "python"), "-c", code], cwd=light, env=_env(bin_dir),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    where, found = done.stdout.splitlines()
    assert where.startswith(str(light / "venv")) and found == "[]"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "inbox", "--schema", "receipt", "--engine", "null", "--out", "out-run"],
        ["pages", "inbox", "--out", "pages"],
        ["export", "out", "--format", "csv", "--output", "receipts.csv"],
        ["schemas"],
        ["schemas", "show", "receipt"],
        ["eval", "out", "--truth", str(ROOT / "examples" / "truth"), "--schema", "receipt"],
        ["review", "out"],
        ["bench", "--engine", "null", "--docs", "4"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_the_light_install_runs_every_command_without_a_model(light: Path, args: list[str]) -> None:
    done = _docextract(light, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["run", "inbox", "--schema", "receipt", "--out", "auto"], "local"),
        (["run", "inbox", "--engine", "transformers", "--out", "tf"], "local"),
        (["run", "inbox", "--engine", "sglang", "--out", "sg"], "sglang"),
        (["bench", "--engine", "transformers", "--docs", "1"], "local"),
        (["bench", "--engine", "sglang", "--docs", "1"], "sglang"),
    ],
    ids=lambda value: " ".join(value[:3]) if isinstance(value, list) else value,
)
def test_a_command_that_needs_an_extra_names_it(light: Path, args: list[str], extra: str) -> None:
    done = _docextract(light, *args)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"pip install 'docextract[{extra}]'" in done.stderr and "Traceback" not in done.stderr
