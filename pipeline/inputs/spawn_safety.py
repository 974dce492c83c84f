"""Whether render processes may be spawned from the code that is running now.

The "spawn" start method runs the parent's main module again in every child (as
`__mp_main__`). A program that calls docextract at its top level without an
`if __name__ == "__main__":` guard would then call docextract again inside each render process,
which multiprocessing refuses, and every document would fail as a crashed render. This module
finds that case, so the render pool can render in the calling process instead.
"""

from __future__ import annotations

import ast
import functools
import logging
import sys
from types import FrameType, ModuleType


def works_in_this_process(log: logging.Logger, work: str, children: str, guarded: str) -> bool:
    """`spawn_reruns_caller()`, warning on `log` when it is True: `work` ("rendering in this
    process, ...") stays here because `children` ("render processes") would run the main script
    again; under the guard it would `guarded` ("render in parallel")."""
    inline = spawn_reruns_caller()
    if inline:
        log.warning(
            f"{work}: the main script calls docextract outside "
            f"`if __name__ == \"__main__\":`, and {children} would run it again. Put the call "
            f"under that guard to {guarded}."
        )
    return inline


def spawn_reruns_caller() -> bool:
    """True when a spawned child would run, again, the top-level statement of the main module
    that is executing now (in any thread) and that statement is not under a main guard.

    False for programs spawn does not re-run: `python -c`, Jupyter and IPython (no main file),
    `python -m package` (a `__main__` module), and for code called from a function or from
    under the guard. When the main file cannot be read, it answers True (the safe side).
    """
    main = sys.modules.get("__main__")
    path = _rerun_path(main)
    if main is None or path is None:
        return False
    line = _running_main_line(main)
    if line is None:
        return False  # the main module's top level is not running: nothing to re-run
    guarded = _guarded_lines(path)
    return guarded is None or line not in guarded


def _rerun_path(main: ModuleType | None) -> str | None:
    """The file spawn would execute again in a child, or None (mirrors multiprocessing.spawn's
    `get_preparation_data` and `_fixup_main_from_name`)."""
    if main is None:
        return None
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name is not None and (spec_name == "__main__" or spec_name.endswith(".__main__")):
        return None
    path = getattr(main, "__file__", None)
    if not isinstance(path, str):
        return None
    if spec_name is None and path.endswith("ipython"):
        return None
    return path


def _running_main_line(main: ModuleType) -> int | None:
    """The line of the main module's top-level statement being executed, in whatever thread."""
    namespace = vars(main)
    for frame in sys._current_frames().values():
        walker: FrameType | None = frame
        while walker is not None:
            if walker.f_globals is namespace and walker.f_code.co_name == "<module>":
                return walker.f_lineno
            walker = walker.f_back
    return None


@functools.lru_cache(maxsize=8)
def _guarded_lines(path: str) -> frozenset[int] | None:
    """Every line inside an `if __name__ == "__main__":` block of the file, or None when it
    cannot be read or parsed."""
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            for statement in node.body:
                end = statement.end_lineno or statement.lineno
                lines.update(range(statement.lineno, end + 1))
    return frozenset(lines)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1
