"""`make soak` over hostile inputs: rounds of real runs broken at named points, over an inbox
with the hostile files mixed in, and the soak's own checks of what they left."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import Round, choose_fault, main, make_inbox, soak_round
from benchmarks.soak_hostile import Hostile, hostile_problems, parse_kinds

LATE = ("after-ledger-commit:99:SIGKILL", "SIGKILL")  # never reached: the run ends first


def _round(
    tmp_path: Path, kinds: tuple[str, ...], fault: tuple[str, str], swap: str | None = None
) -> Round:
    inbox = tmp_path / "inbox"
    if not inbox.exists():
        make_inbox(inbox, 3, kinds, bomb_mb=24)
    return soak_round(inbox, tmp_path / "out", kinds, fault, swap)


@pytest.mark.parametrize("fault", [("after-part-rename:2:SIGKILL", "SIGKILL"),
                                   ("after-ledger-commit:1:ENOSPC", "ENOSPC")])  # fmt: skip
def test_hostile_e_invoices_and_a_fifo_in_a_broken_run_are_one_error_row_each(tmp_path, fault):
    """Overflowing amounts (standalone and attached), a total wider than its column and a FIFO
    in the inbox, in a run broken by a kill or a full disk and then resumed: nothing lost or
    doubled, no traceback, and each hostile file is one error row of its documented code."""
    done = _round(tmp_path, ("einvoice", "fifo"), fault)
    assert done.check.problems() == []
    assert done.broken.returncode == {"SIGKILL": -9, "ENOSPC": 7}[fault[1]]
    assert done.check.codes == {"overflow.xml": "einvoice_invalid",
                                "overflow.pdf": "einvoice_invalid",
                                "huge-total.xml": "einvoice_invalid",
                                "fifo.pdf": "not_a_document"}  # fmt: skip


def test_a_file_swapped_for_a_fifo_in_a_killed_run_is_one_error_row(tmp_path):
    """The run is held after discovery while the file it would render is replaced by a FIFO,
    and killed before its rows are committed: the resumed run finds the FIFO, one row."""
    done = _round(tmp_path, (), ("after-ledger-commit:1:SIGKILL", "SIGKILL"), "swap-plain.pdf")
    assert done.broken.swapped and not done.broken.hung
    assert done.check.problems() == []
    assert done.check.codes == {"swap-plain.pdf": "not_a_document"}


@pytest.mark.parametrize("swap", ["swap-einvoice.pdf", "swap-plain.pdf"])
def test_a_file_swapped_for_a_fifo_stays_one_error_row_in_the_next_run(tmp_path, swap):
    done = _round(tmp_path, (), LATE, swap)
    assert done.broken.swapped and not done.broken.hung
    assert done.check.problems() == []


def test_an_attachment_bomb_is_one_einvoice_invalid_row(tmp_path):
    done = _round(tmp_path, ("bomb",), LATE)
    assert done.check.problems() == []


@pytest.mark.slow
def test_a_big_one_colour_rgba_png_is_one_error_row(tmp_path):
    done = _round(tmp_path, ("png",), LATE)
    assert done.check.problems() == []


def test_the_soak_flags_a_hostile_file_that_is_not_one_error_row_of_its_code() -> None:
    inbox = Path("/in")
    hostile = [Hostile(name, frozenset({"einvoice_invalid"})) for name in "abcd"]
    documents = [{"source_path": "/in/a", "also_at": [], "model": "einvoice"},
                 {"source_path": "/x", "also_at": ["/in/d"], "model": "none"}]
    errors = [{"source_path": f"/in/{name}", "also_at": [], "code": code}
              for name, code in [("b", "einvoice_invalid"), ("c", "unreadable"), ("c", "changed")]]
    problems, codes = hostile_problems(documents, errors, inbox, hostile)
    assert problems == ["a: not one error row but ['documents row of model einvoice']",
                        "c: not one error row but ['unreadable', 'changed']",
                        "d: not one error row but ['documents row of model none']"]  # fmt: skip
    assert codes == {"b": "einvoice_invalid"}
    wrong, _ = hostile_problems([], errors[1:2], inbox, [hostile[2]])
    assert wrong == ["c: unreadable, not einvoice_invalid"]


def test_the_soak_reads_its_kinds_and_chooses_faults_it_can_check() -> None:
    import random

    assert parse_kinds("all") == ("einvoice", "bomb", "png", "fifo", "swap")
    assert parse_kinds("swap,einvoice") == ("einvoice", "swap") and parse_kinds("none") == ()
    with pytest.raises(ValueError, match="unknown hostile kinds"):
        parse_kinds("einvoice,zip")
    chooser = random.Random(0)
    for _ in range(50):
        spec, what = choose_fault(chooser)
        assert spec.endswith(":" + what) and not (what == "ENOSPC" and "after-render" in spec)


def test_the_soak_command_prints_a_summary_and_its_exit_status(capsys) -> None:
    assert main(["--rounds", "1", "--documents", "2", "--hostile", "einvoice"]) == 0
    printed = capsys.readouterr().out
    assert "1 rounds in" in printed and "3 of them hostile (einvoice)" in printed
    assert ("documents lost 0, doubled 0, tracebacks 0, runs hung 0, hostile files not one "
            "error row of their code 0, other problems 0: all held") in printed  # fmt: skip
