"""The bench's probe (pipeline/bench/probe.py) reading nvidia-smi's two streams.

There is no GPU here, so `nvidia-smi` is a script on PATH that answers the probe's two queries
with nvidia-smi's own CSV form (no header, no units, "[N/A]" where it has no number)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pipeline.bench.probe import Probe

FAKE_SMI = """#!/bin/sh
case "$1" in
  --query-gpu=*) while :; do echo "50, 1000"; echo "50, 3000"; sleep 0.05; done ;;
  --query-compute-apps=*)
    echo "$MAIN_PID, 300"; echo "$SCHEDULER_PID, 2500"; echo "$MAIN_PID, 700"
    echo "4194303, 5"; echo "[N/A], [N/A]"
    while :; do sleep 1; done ;;
esac
"""


def test_the_probe_reports_each_processs_peak_gpu_memory_by_role(tmp_path, monkeypatch):
    (tmp_path / "nvidia-smi").write_text(FAKE_SMI)
    (tmp_path / "nvidia-smi").chmod(0o755)
    scheduler = subprocess.Popen(
        ["bash", "-c", f'exec -a sglang::scheduler "{sys.executable}" -c "import time; '
         'time.sleep(30)"'])  # fmt: skip
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("MAIN_PID", str(os.getpid()))
    monkeypatch.setenv("SCHEDULER_PID", str(scheduler.pid))
    try:
        time.sleep(0.3)
        with Probe(interval_ms=50) as probe:
            time.sleep(0.5)
    finally:
        scheduler.kill()
    figures = probe.figures()
    assert figures["gpu_busy"] == 0.5 and figures["gpu_memory_peak_mib"] == 3000
    assert figures["gpu_memory_peak_mib_by_process"] == {
        "main": 700, "scheduler": 2500, "pid 4194303": 5}  # fmt: skip


def test_without_nvidia_smi_the_gpu_figures_are_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with Probe() as probe:
        pass
    figures = probe.figures()
    assert figures["gpu_busy"] is None and figures["gpu_memory_peak_mib_by_process"] is None
    assert figures["main_process_cpu_s"] >= 0
