"""The cheap benchmark figures, checked where they are promises: tokens per page, shared prefix."""

from __future__ import annotations

from benchmarks.__main__ import verdict
from benchmarks.pipeline import bench_tokens_and_prefix


def test_a4_page_costs_at_most_1300_visual_tokens_and_prompts_share_their_prefix() -> None:
    figures = bench_tokens_and_prefix()
    assert figures["A4 page at defaults (px)"] == "960x1344"
    assert figures["visual tokens per A4 page (target <= 1300)"] == 1260
    assert figures["prompt identical up to the first image"] is True
    assert figures["shared prefix characters"] > 1000


def test_each_target_is_judged_met_or_missed() -> None:
    assert verdict("ratio run / raw (target >= 0.6)", 0.61) == "met"
    assert verdict("ratio run / raw (target >= 0.6)", 0.46) == "missed"
    assert verdict("docextract --help (s, target <= 0.3)", 0.35) == "missed"
    assert verdict("visual tokens per A4 page (target <= 1300)", 1260) == "met"
    assert verdict("pages", 40) == ""


def test_the_soak_tells_a_cut_off_worker_start_from_a_defect() -> None:
    from benchmarks.soak import _worker_cut_off

    cut_off = (
        'Traceback (most recent call last):\n  File "/usr/lib/python3.11/multiprocessing/'
        'spawn.py", line 130, in _main\nEOFError: Ran out of input\n'
    )
    defect = 'Traceback (most recent call last):\n  File "pipeline/run.py"\nKeyError: 1\n'
    assert _worker_cut_off(cut_off)
    assert not _worker_cut_off(cut_off + defect)
