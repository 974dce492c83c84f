"""Which NVIDIA GPUs this process can use, found without importing torch or sglang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def visible_gpu_count() -> int:
    """CUDA GPUs this process may use, without importing torch: CUDA_VISIBLE_DEVICES when set,
    else the lines of `nvidia-smi -L`; 0 when there is no NVIDIA driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [e for e in visible.split(",") if e.strip() and e.strip() != "-1"]
        return len(entries) if _driver_present() else 0
    listing = _nvidia_smi("-L")
    if listing is None:
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def gpu_names() -> list[str]:
    """The name of each GPU nvidia-smi lists; [] without a driver."""
    listing = _nvidia_smi("--query-gpu=name", "--format=csv,noheader") or ""
    return [line.strip() for line in listing.splitlines() if line.strip()]


def has_cuda_gpu() -> bool:
    """Whether an NVIDIA GPU is visible (driver present and at least one device)."""
    return _driver_present() and visible_gpu_count() > 0


def release_cached_gpu_memory() -> None:
    """Hand back to the GPU the memory that torch caches in this process and no tensor holds.

    sglang's tokenizer manager runs the image processor on the GPU in this process, and torch
    keeps what its busiest moment allocated. sglang's scheduler sized its pools when it
    started, so that cache is memory the scheduler cannot have: after a bench run that sent
    400 documents at once, this process held 8.7 GiB and the next run's scheduler ran out of
    memory on an 80 GB card. A no-op where torch was never imported or CUDA never used."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _driver_present() -> bool:
    return (
        Path("/dev/nvidia0").exists()
        or Path("/proc/driver/nvidia").exists()
        or shutil.which("nvidia-smi") is not None
    )


def _nvidia_smi(*args: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
