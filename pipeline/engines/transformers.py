"""The local transformers engine: a Qwen3-VL model on CPU, MPS or CUDA, no server.

Requests are answered in batches (left padding) by `model.generate`, with xgrammar's logits
processor holding the output to the request's JSON schema. Generation runs in a worker thread
so the caller's event loop stays responsive. A batch that raises is retried one request at a
time, so one bad request fails alone. When a request asks for log-probabilities, `generate`
also returns its scores (the logits after the grammar's mask), and each answer token's
log-probability is the log-softmax of its step's scores at the token chosen.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import DEFAULT_LOCAL_MODEL, EngineConfig
from pipeline.engines.base import (
    EngineBase,
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    EngineResult,
)
from pipeline.engines.weights import fetch_command, hub_weights
from pipeline.errors import EngineUnavailable, ErrorCode

log = logging.getLogger(__name__)

_REQUIRED_PACKAGES = ("torch", "transformers", "xgrammar", "torchvision")


def locate_weights(model: str) -> str:
    """Where `model` will load from: a local folder, or the cached snapshot of a hub id
    (downloaded first when the hub is reachable). Raises EngineUnavailable, in seconds and
    before torch is imported, when the weights are not here and cannot be fetched."""
    missing = [name for name in _REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineUnavailable(
            f"the transformers engine needs {', '.join(missing)}: "
            "pip install 'docextract[local]'"
        )
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise EngineUnavailable(f"{path} holds no model: config.json is missing there")
        return str(path)
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise EngineUnavailable(
            f"model {model!r} is neither a local folder nor a hub id like Org/Name"
        )
    return hub_weights(model)


def pick_device(requested: str) -> str:
    """`auto` -> cuda, else mps, else cpu."""
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    return {"cuda": torch.bfloat16, "mps": torch.float16}.get(device, torch.float32)


class TransformersEngine(EngineBase):
    """Qwen3-VL through Hugging Face transformers, constrained by xgrammar."""

    name = "transformers"
    default_model = DEFAULT_LOCAL_MODEL

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.model = self.model_for(config)
        self.source = locate_weights(self.model)
        self.preferred_batch = config.transformers.batch_size
        self.max_in_flight = config.transformers.batch_size * 2
        self.device = "cpu"
        self._lock = threading.Lock()
        self._loaded: Any = None
        self._grammars: dict[str, Any] = {}

    def start(self) -> None:
        """Load processor, model and grammar compiler; raises EngineUnavailable with advice."""
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()

    def _load(self) -> Any:
        try:
            import xgrammar
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self.device = pick_device(self.config.transformers.device)
            dtype = pick_dtype(self.config.transformers.dtype, self.device)
            processor = AutoProcessor.from_pretrained(self.source)
            model: Any = AutoModelForImageTextToText.from_pretrained(self.source, dtype=dtype)
            model = model.to(self.device).eval()
        except OSError as exc:
            raise EngineUnavailable(
                f"could not load {self.model} ({exc}). {fetch_command(self.model)}"
            ) from exc
        except (ImportError, ValueError, RuntimeError) as exc:
            message = f"could not start transformers with {self.model}: {exc}"
            raise EngineUnavailable(message) from exc
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"
        stop_ids = _stop_token_ids(model, tokenizer)
        vocab_size = model.config.get_text_config().vocab_size
        info = xgrammar.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_ids
        )
        compiler = xgrammar.GrammarCompiler(info, max_threads=1)
        log.info("transformers engine: %s on %s (%s)", self.model, self.device, dtype)
        return _Loaded(processor, model, compiler, stop_ids)

    def build_inputs(self, requests: Sequence[EngineRequest]) -> Any:
        """Processor inputs for a batch: chat-templated prompts, left padded, and every page
        image in request and page order (`image_grid_thw` has one row per image)."""
        self.start()
        processor = self._loaded.processor
        texts = [
            processor.apply_chat_template(
                request.messages(), tokenize=False, add_generation_prompt=True
            )
            for request in requests
        ]
        images = [page.to_pil() for request in requests for page in request.images]
        return processor(
            text=texts, images=images or None, padding=True, return_tensors="pt"
        )

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        """Batches of up to `preferred_batch` requests that share their sampling settings (one
        `generate` call decodes a whole batch one way); outcomes come back in request order."""
        groups: dict[tuple[float, float, int], list[int]] = {}
        for index, request in enumerate(requests):
            sampling = request.sampling
            key = (sampling.temperature, sampling.top_p, sampling.seed)
            groups.setdefault(key, []).append(index)
        outcomes: list[EngineOutcome | None] = [None] * len(requests)
        size = self.preferred_batch
        for indexes in groups.values():
            for first in range(0, len(indexes), size):
                chunk = indexes[first : first + size]
                answers = await asyncio.to_thread(
                    self._generate_isolated, [requests[i] for i in chunk]
                )
                for index, answer in zip(chunk, answers, strict=True):
                    outcomes[index] = answer
        return [outcome for outcome in outcomes if outcome is not None]

    def _generate_isolated(self, requests: list[EngineRequest]) -> list[EngineOutcome]:
        try:
            return self._generate_batch(requests)
        except Exception as exc:  # noqa: BLE001 - retried one by one below
            if len(requests) == 1:
                return [_failure(requests[0], exc)]
            log.warning("batch of %d failed (%s); retrying one by one", len(requests), exc)
        outcomes: list[EngineOutcome] = []
        for request in requests:
            try:
                outcomes += self._generate_batch([request])
            except Exception as exc:  # noqa: BLE001 - isolate the failing request
                outcomes.append(_failure(request, exc))
        return outcomes

    def _generate_batch(self, requests: list[EngineRequest]) -> list[EngineOutcome]:
        import torch
        from xgrammar.contrib.hf import LogitsProcessor

        started = time.perf_counter()
        inputs = self.build_inputs(requests).to(self.device)
        loaded = self._loaded
        grammars = [self._grammar(request.json_schema) for request in requests]
        sampling = requests[0].sampling  # the same for the whole batch, see generate()
        options: dict[str, Any] = {
            "max_new_tokens": max(r.sampling.max_new_tokens for r in requests),
            "logits_processor": [LogitsProcessor(grammars)],
            "eos_token_id": loaded.stop_ids,
            "pad_token_id": loaded.processor.tokenizer.pad_token_id,
        }
        if sampling.temperature > 0:
            options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        scored = any(request.logprobs for request in requests)
        if scored:
            options.update(output_scores=True, return_dict_in_generate=True)
        with self._lock, torch.inference_mode():
            if sampling.temperature > 0:
                torch.manual_seed(sampling.seed)
            output = loaded.model.generate(**inputs, **options)
            sequences = output.sequences if scored else output
            width = inputs["input_ids"].shape[1]
            chosen = _chosen_logprobs(output.scores, sequences[:, width:]) if scored else None
        elapsed = time.perf_counter() - started
        masks = inputs["attention_mask"]
        return [
            self._result(
                request, masks[row], sequences[row, width:], elapsed,
                chosen[row] if chosen is not None and request.logprobs else None,
            )  # fmt: skip
            for row, request in enumerate(requests)
        ]

    def _result(
        self,
        request: EngineRequest,
        mask: Any,
        generated: Any,
        elapsed: float,
        logprobs: list[float] | None = None,
    ) -> Any:
        loaded = self._loaded
        ids = generated.tolist()
        limit = request.sampling.max_new_tokens
        stop_at = next((i for i, token in enumerate(ids) if token in loaded.stop_ids), None)
        if stop_at is not None and stop_at < limit:
            finish, kept, used = "stop", ids[:stop_at], stop_at + 1
        else:  # ran to the limit (a batch may decode past a smaller per-request limit)
            finish, kept = "length", ids[:limit]
            used = len(kept)
        tokenizer = loaded.processor.tokenizer
        text = tokenizer.decode(kept, skip_special_tokens=True)
        tokens = None
        if logprobs is not None:  # the tokens of the text, without the stop token
            logprobs = logprobs[: len(kept)]
            tokens = tuple(tokenizer.batch_decode([[i] for i in kept], skip_special_tokens=True))
        return EngineResult(
            request_id=request.request_id,
            text=text,
            finish_reason=finish,
            prompt_tokens=int(mask.sum()),
            completion_tokens=used,
            latency_s=elapsed,
            logprobs=None if logprobs is None else tuple(logprobs),
            tokens=tokens,
        )

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, separators=(",", ":"))
        if key not in self._grammars:
            self._grammars[key] = self._loaded.compiler.compile_json_schema(
                key, any_whitespace=False, separators=(",", ":"), strict_mode=True
            )
        return self._grammars[key]

    def close(self) -> None:
        """Drop the model; safe to call twice."""
        with self._lock:
            self._loaded = None
            self._grammars.clear()


class _Loaded:
    def __init__(self, processor: Any, model: Any, compiler: Any, stop_ids: list[int]) -> None:
        self.processor = processor
        self.model = model
        self.compiler = compiler
        self.stop_ids = stop_ids


def _chosen_logprobs(scores: tuple[Any, ...], chosen: Any) -> list[list[float]]:
    """Per row, the log-probability of each token generated: `scores` holds one (rows, vocab)
    tensor per step, `chosen` the (rows, steps) tokens picked."""
    import torch

    per_step = [  # step by step: all steps' scores at once would hold steps x vocab floats
        torch.log_softmax(step.float(), dim=-1).gather(-1, chosen[:, k : k + 1]).squeeze(-1)
        for k, step in enumerate(scores)
    ]
    values = torch.stack(per_step, dim=1) if per_step else chosen[:, :0].float()
    return [[float(v) for v in row] for row in values.tolist()]


def _stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    configured = getattr(model.generation_config, "eos_token_id", None)
    for value in configured if isinstance(configured, list) else [configured]:
        if value is not None and value not in ids:
            ids.append(int(value))
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def _failure(request: EngineRequest, exc: BaseException) -> EngineFailure:
    return EngineFailure(request.request_id, ErrorCode.ENGINE_ERROR, f"{type(exc).__name__}: {exc}")
