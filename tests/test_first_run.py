"""`make run` on a first machine: the command path the Makefile runs, with no weights and with
the null engine, and the fix it prints checked against the installed huggingface_hub."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ("invoice", "receipt", "cn_vat_invoice", "id_card", "bank_statement", "medical_invoice",
           "property_certificate")  # fmt: skip

pytestmark = pytest.mark.slow


def _venv(tmp_path: Path) -> Path:
    """A venv folder for the Makefile whose `bin/docextract` runs this checkout's code and
    whose install stamp is fresh, so `make` installs nothing."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    shim = venv / "bin" / "docextract"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pipeline "$@"\n')
    shim.chmod(0o755)
    (venv / ".installed").touch()
    return venv


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "DOCEXTRACT_"))}
    env.update({
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "empty-hf-home"),
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    })  # fmt: skip
    return env


def _run_recipe(tmp_path: Path, *make_args: str) -> subprocess.CompletedProcess[str]:
    """The shell text `make run` executes (from `make -n`), run by the shell as make would."""
    venv = _venv(tmp_path)
    args = ["make", "-n", "--no-print-directory", "run", f"VENV={venv}",
            f"OUT={tmp_path / 'out'}", *make_args]  # fmt: skip
    # Run by `make test` too: a nested make must print only the recipe
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    clean = {key: value for key, value in os.environ.items() if key not in outer}
    recipe = subprocess.run(args, cwd=ROOT, env=clean, capture_output=True, text=True,
                            check=True).stdout
    assert f"{venv}/bin/docextract run examples/documents/$schema" in recipe
    return subprocess.run(["bash", "-c", recipe], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=600)


def test_make_run_without_weights_exits_3_with_a_fix_that_exists(tmp_path):
    done = _run_recipe(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    fixes = re.findall(r"`(hf [^`]+|huggingface-cli [^`]+)`", " ".join(output.split()))
    assert fixes, output
    program, subcommand, *rest = fixes[0].split()
    assert rest == ["Qwen/Qwen3-VL-2B-Instruct"]
    # The program is a console script of the installed huggingface_hub ...
    scripts = {e.name: e for e in distribution("huggingface_hub").entry_points
               if e.group == "console_scripts"}
    assert program in scripts
    # ... and its subcommand answers --help there (`huggingface-cli download` exits 1).
    code = f"import sys; from {scripts[program].module} import main; sys.argv=['{program}', " \
           f"'{subcommand}', '--help']; main()"
    helped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=_env(tmp_path))
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "--local-dir" in helped.stdout


def test_make_run_itself_stops_with_the_engine_exit_code(tmp_path):
    venv = _venv(tmp_path)
    done = subprocess.run(["make", "run", f"VENV={venv}", f"OUT={tmp_path / 'out'}"], cwd=ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "Error 3" in done.stderr and "hf download" in " ".join(done.stderr.split())


def test_dry_run_over_the_examples_exits_0(tmp_path):
    done = _run_recipe(tmp_path, "ARGS=--engine null")
    assert done.returncode == 0, done.stdout + done.stderr
    for schema in SCHEMAS:
        assert list((tmp_path / "out" / schema / "documents").glob("*.parquet")), schema
        errors = list((tmp_path / "out" / schema / "errors").glob("*.parquet"))
        assert errors and sum(pq.read_metadata(f).num_rows for f in errors) == 0, schema


def test_the_makefile_keeps_only_tests_offline():
    makefile = (ROOT / "Makefile").read_text()
    assert "export HF_HUB_OFFLINE" not in makefile
    assert re.search(r"^test:.*\n\tHF_HUB_OFFLINE=1 ", makefile, re.M)
    assert "HF_HUB_OFFLINE=1" in (ROOT / ".ci" / "run").read_text()
