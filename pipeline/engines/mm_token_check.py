"""transformers' check of a prompt's image-token count, with the ids counted as Python lists.

Every processor call checks that the tokenized prompt holds as many image (and video) tokens
as its text. transformers 5.12, the release sglang 0.5.17 pins, counts them with
`list(ids).count(token_id)` on the torch tensor the call returns: one tensor comparison per
prompt token, for each of the two modalities. Over a page's 2,100 tokens that is a few
milliseconds of the thread that prepares every page in sglang's tokenizer manager, holding the
GIL that docextract's own event loop needs. Later releases turn the ids into lists first.

`count_ids_as_lists` gives the installed release that same first step: the check itself, and
the error it raises on a mismatch, stay transformers' own.
"""

from __future__ import annotations

from typing import Any

_MARK = "_docextract_counts_lists"


def count_ids_as_lists(processor_class: Any = None) -> bool:
    """Make `processor_class._check_special_mm_tokens` (transformers' `ProcessorMixin` by
    default) receive `input_ids` as lists. False where transformers is missing, the class has
    no such check, or it was done already."""
    if processor_class is None:
        try:
            from transformers.processing_utils import ProcessorMixin
        except ImportError:
            return False
        processor_class = ProcessorMixin
    check = getattr(processor_class, "_check_special_mm_tokens", None)
    if check is None or getattr(check, _MARK, False):
        return False

    def check_with_lists(self: Any, text: Any, text_inputs: Any, *args: Any, **kwargs: Any) -> Any:
        ids = text_inputs["input_ids"]
        if hasattr(ids, "tolist"):
            text_inputs = {**text_inputs, "input_ids": ids.tolist()}
        return check(self, text, text_inputs, *args, **kwargs)

    setattr(check_with_lists, _MARK, True)
    check_with_lists.__wrapped__ = check  # type: ignore[attr-defined]
    check_with_lists.__doc__ = check.__doc__
    processor_class._check_special_mm_tokens = check_with_lists
    return True
