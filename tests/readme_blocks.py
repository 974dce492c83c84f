"""The README's fenced code blocks, and the shell commands in them, as a reader would type them."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from tests.run_helpers import ROOT

SHELL = ("", "bash", "sh", "shell", "console")
_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.M | re.S)
_COMMENT = re.compile(r"\s+#\s.*$", re.M)  # a comment after a command: `make run   # ...`


@dataclass(frozen=True)
class Block:
    """One fenced block: its language (empty when none), its text and the line it starts on."""

    language: str
    text: str
    line: int

    @property
    def name(self) -> str:
        return f"line{self.line}-{self.language or 'text'}"


def readme_blocks() -> list[Block]:
    """Every fenced code block of README.md, read now (not a copy kept with the tests)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        Block(match[1], match[2], readme.count("\n", 0, match.start()) + 1)
        for match in _FENCE.finditer(readme)
    ]


def shell_commands(block: Block) -> list[str]:
    """The commands of a shell block, each whole (continued lines and loops joined). In a
    transcript, where commands follow a `$ ` prompt, only those lines; the rest is output."""
    lines = block.text.splitlines()
    if any(line.startswith("$ ") for line in lines):
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    commands: list[str] = []
    pending = ""
    for line in lines:
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if _complete(pending):
            commands.append(pending)
            pending = ""
    assert not pending, f"README line {block.line}: a command never ends: {pending!r}"
    return commands


def command_key(command: str) -> str:
    """A command as the tables of the README tests name it: no comments, one line, single
    spaces (`make run OUT=out-null ARGS="--engine null"`)."""
    return " ".join(_COMMENT.sub("", command.replace("\\\n", " ")).split())


def _complete(text: str) -> bool:
    """Whether bash would run `text` as it stands (a loop or a `\\` line still open: no)."""
    if text.rstrip().endswith("\\"):
        return False
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    return checked.returncode == 0


def make_errors(block: Block) -> dict[str, list[str]]:
    """In a transcript, the `make: ***` lines the README shows after each command, by the
    command's key: make's own report, with the Makefile line of the recipe that failed."""
    shown: dict[str, list[str]] = {}
    key = ""
    for line in block.text.splitlines():
        if line.startswith("$ "):
            key = command_key(line[2:])
        elif key and line.startswith("make: ***"):
            shown.setdefault(key, []).append(line)
    return shown
