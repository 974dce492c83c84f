"""`python -m benchmarks.grounding [EXAMPLES] [--corpus DIR]`: the text-layer locator scored
against the generator's true boxes, the truth standing in for the model's answer, one table per
schema. A schema whose examples have no text layer (all scans or images) is measured on fresh
PDFs of its generator as well, where it draws PDFs."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from pipeline.bench.grounding import (
    GroundingScore,
    found_in_corpus,
    measure_by_schema,
    measure_documents,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CORPUS = Path("/work/shared/corpus")
GENERATED = 5
"""How many fresh PDFs measure a schema whose examples are all scans."""


def generated_pdfs(schema: str, count: int = GENERATED, seed: int = 0) -> GroundingScore | None:
    """The score on `count` fresh PDFs of the schema's generator (seeded), or None where the
    generator draws no PDF (ID cards are images)."""
    from pipeline.bench.docgen import make_medical_invoice

    makers = {"medical_invoice": make_medical_invoice}
    if schema not in makers:
        return None
    rng = random.Random(seed)
    return measure_documents(makers[schema](rng, f"{schema}_{k}") for k in range(count))


def print_table(title: str, score: GroundingScore) -> None:
    total = score.overall()
    print(f"\n{title}: {score.documents} documents, without a text layer: "
          f"{', '.join(score.without_text) or 'none'}")  # fmt: skip
    if not total.total:
        return
    print(f"{'field':34} {'found':>9} {'page':>6} {'IoU':>6}")
    for kind, s in sorted(score.fields.items()):
        print(f"{kind:34} {s.found:>4}/{s.total:<4} {s.right_page:>6} {s.mean_iou:6.3f}")
    print(
        f"{'all':34} {total.found:>4}/{total.total:<4} {total.right_page:>6} {total.mean_iou:6.3f}"
        f"   found {total.found_share:.1%} (target >= 95%),"
        f" mean IoU {total.mean_iou:.3f} (target >= 0.9)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="?", type=Path, default=EXAMPLES)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    summary = []
    for schema, score in measure_by_schema(args.examples).items():
        print_table(schema, score)
        summary.append((schema, "examples", score))
        if not score.overall().total and (fresh := generated_pdfs(schema)) is not None:
            print_table(f"{schema}, {GENERATED} generated PDFs (seed 0)", fresh)
            summary.append((schema, f"{GENERATED} generated PDFs", fresh))
    print(f"\n{'schema':22} {'measured on':20} {'found':>9} {'page':>6} {'IoU':>6}")
    for schema, where, score in summary:
        t = score.overall()
        if t.total:
            print(f"{schema:22} {where:20} {t.found:>4}/{t.total:<4} {t.right_page:>6} "
                  f"{t.mean_iou:6.3f}")  # fmt: skip
        else:
            print(f"{schema:22} {where:20} {'not measured: no text layer':>23}")
    if (args.corpus / "invoices").is_dir():
        found, total_values, missing = found_in_corpus(args.corpus)
        print(f"\ncorpus e-invoices: {found}/{total_values} values found on their pages")
        for line in missing:
            print(f"  not found: {line}")


if __name__ == "__main__":
    main()
