"""Write the example documents and their truth: `python -m examples.generate [DIR] [--seed N]`.

DIR is the examples folder (default: this folder). Documents land in
DIR/documents/<schema>/<name>.<ext>, truth in DIR/truth/<schema>/<name>.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.bench.docgen import generate_examples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=Path(__file__).parent)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in generate_examples(args.dir, seed=args.seed):
        print(path)


if __name__ == "__main__":
    main()
