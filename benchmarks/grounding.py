"""`python -m benchmarks.grounding [EXAMPLES] [--corpus DIR]`: the text-layer locator scored
against the generator's true boxes, the truth standing in for the model's answer."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.bench.grounding import found_in_corpus, measure_examples

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CORPUS = Path("/work/shared/corpus")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="?", type=Path, default=EXAMPLES)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    score = measure_examples(args.examples)
    print(f"{'field':34} {'found':>9} {'page':>6} {'IoU':>6}")
    for kind, s in sorted(score.fields.items()):
        print(f"{kind:34} {s.found:>4}/{s.total:<4} {s.right_page:>6} {s.mean_iou:6.3f}")
    total = score.overall()
    print(
        f"{'all':34} {total.found:>4}/{total.total:<4} {total.right_page:>6} {total.mean_iou:6.3f}"
        f"   found {total.found / max(1, total.total):.1%} (target >= 95%),"
        f" mean IoU {total.mean_iou:.3f} (target >= 0.9)"
    )
    print(f"documents {score.documents}, without a text layer: {', '.join(score.without_text)}")
    if (args.corpus / "invoices").is_dir():
        found, total_values, missing = found_in_corpus(args.corpus)
        print(f"corpus e-invoices: {found}/{total_values} values found on their pages")
        for line in missing:
            print(f"  not found: {line}")


if __name__ == "__main__":
    main()
