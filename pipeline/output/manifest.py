"""One manifest per run: OUT/.docextract/manifests/<run_id>.json.

It lists the part files the run committed (path relative to OUT, table, rows, SHA-256), what
the run was asked to do, when it started and ended, and how (`status`: finished, interrupted,
engine_died, failed; `killed` for a run that died without writing its own, recovered by the
next run from the ledger). It is written atomically when the run ends, so its presence with
`status: finished` is the run's completion marker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.output.layout import manifests_dir
from pipeline.output.ledger import Ledger
from pipeline.output.sink import BASE_TABLES, file_sha256


def manifest_path(out: Path, run_id: str) -> Path:
    return manifests_dir(out) / f"{run_id}.json"


def write_manifest(
    out: Path,
    run_id: str,
    status: str,
    started_at: float | None,
    finished_at: float | None,
    parts: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write the manifest of `run_id` atomically and return its path."""
    rows: dict[str, int] = dict.fromkeys(BASE_TABLES, 0)
    for part in parts:
        rows[part["table"]] = rows.get(part["table"], 0) + int(part["rows"])
    manifest = {
        "run_id": run_id,
        "status": status,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at),
        "docextract_version": __version__,
        "config": dict(config or {}),
        "rows": rows,
        "parts": [dict(part) for part in parts],
    }
    final = manifest_path(out, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp")
    with tmp.open("w") as handle:
        json.dump(manifest, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    return final


def read_manifest(out: Path, run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(manifest_path(out, run_id).read_text())
    except FileNotFoundError:
        return None


def recover_manifests(out: Path, ledger: Ledger, is_live: Callable[[str], bool]) -> list[str]:
    """Write the manifest of every run that is no longer alive and whose manifest is missing or
    lacks parts the ledger lists for it (a killed run, or parts adopted after a kill); return
    their run ids. Part checksums are read from the files (for an OUT from an older docextract,
    once for all its parts)."""
    recovered = []
    for run_id in ledger.known_runs():
        if is_live(run_id):
            continue
        committed = ledger.parts_of(run_id)
        manifest = read_manifest(out, run_id)
        listed = {part["path"] for part in (manifest or {}).get("parts", [])}
        if manifest is not None and listed >= {part for part, _rows in committed}:
            continue
        record = ledger.run_record(run_id)
        parts = [
            {
                "path": part,
                "table": Path(part).parent.name,
                "rows": rows,
                "sha256": file_sha256(out / part),
            }
            for part, rows in committed
            if (out / part).exists()
        ]
        started = record[0] if record else None
        status = (manifest or {}).get("status") or (
            "killed" if record is None or record[2] == "running" else record[2]
        )
        finished = record[1] if record else None
        write_manifest(
            out, run_id, status, started, finished, parts, (manifest or {}).get("config")
        )
        recovered.append(run_id)
    return recovered


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat()
