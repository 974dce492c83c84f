"""`python -m tests.gpu.choice_lines_cli run ...`: docextract's command line with ChoiceLines
(tests/data/choice_lines.py) standing in for the built-in page_text schema, so that a random
model's `--model-boxes` reading of the choices page holds that page's words, each in a box with
an area."""

from __future__ import annotations


def main() -> None:
    from pipeline.__main__ import main as docextract
    from pipeline.extract.catalog import BUILTIN_SCHEMAS
    from tests.data.choice_lines import ChoiceLines

    BUILTIN_SCHEMAS["page_text"] = ChoiceLines
    docextract()


if __name__ == "__main__":
    main()
