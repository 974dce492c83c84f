"""Model weights from the Hugging Face hub: found in its cache, downloaded once, or a clear stop.

With the hub reachable, a missing model is downloaded into the cache with huggingface_hub's
progress bars (what sglang and transformers users expect on a first run). With
`HF_HUB_OFFLINE=1` (tests, CI, air-gapped jobs) or a download that fails, the engine stops at
once with EngineUnavailable naming the command that fetches the weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pipeline.errors import EngineUnavailable

log = logging.getLogger(__name__)


def is_hub_id(model: str) -> bool:
    """`Org/Name` and not an existing local path."""
    if Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
        return False
    return model.count("/") == 1


def fetch_command(model: str) -> str:
    """The advice every missing-weights message ends with (`hf` is huggingface_hub's CLI),
    and the way to try every other stage meanwhile."""
    return (
        f"Download them with `hf download {model}`, or pass a local folder with --model. "
        "To try every other stage without a model: --engine null (placeholder answers, into "
        "an --out of their own)."
    )


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE asks for no hub calls (read now, not at import time)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_weights(model: str) -> str:
    """The local folder of hub model `model`: its cached snapshot, else a download (online),
    else EngineUnavailable with the fix (offline, or the download failed)."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model, "config.json")
    if isinstance(cached, str):
        return str(Path(cached).parent)  # the cached snapshot: loading needs no hub call
    if hub_offline():
        raise EngineUnavailable(
            f"the weights of {model} are not in the local Hugging Face cache and "
            f"HF_HUB_OFFLINE is set. {fetch_command(model)}"
        )
    return download_weights(model)


def download_weights(model: str) -> str:
    """Fetch a hub model into the Hugging Face cache, with huggingface_hub's progress bars;
    any failure (no network, no such repository, a full disk) is EngineUnavailable."""
    from huggingface_hub import snapshot_download

    log.warning("downloading %s from the Hugging Face hub into its cache (once)", model)
    try:
        return str(snapshot_download(model))
    except Exception as exc:  # every hub failure leads to the same advice
        raise EngineUnavailable(
            f"the weights of {model} are not in the local Hugging Face cache and could not be "
            f"downloaded ({type(exc).__name__}: {exc}). {fetch_command(model)}"
        ) from exc
