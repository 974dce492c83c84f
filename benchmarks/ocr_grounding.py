"""An OCR package as the text source of scans, scored as `--model-boxes` would use it.

RapidOCR (`rapidocr_onnxruntime`, PP-OCRv4 models inside its wheel, ONNX Runtime on the CPU)
reads every page of the bundled scanned examples; each line it finds becomes words with boxes
(`extract.model_lines.line_words`, as a model-read line does), the truth stands in for the
answer, and `locate_fields` places each value. Scored against the generator's true boxes,
normalised to the page: the share of true values found on their page, and the mean IoU (0 for a
value not found). The true boxes are those of the page before the scan's simulated tilt (up to
about 2 degrees), which costs the IoU a little whatever reads the page.

RapidOCR is not a dependency of docextract (it brings OpenCV and ONNX Runtime, about 500 MB):

    pip install rapidocr_onnxruntime==1.4.4 && python -m benchmarks.ocr_grounding
    python -m benchmarks.ocr_grounding --ocr-python OTHER_VENV/bin/python   # OCR run there
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCANS = (
    "invoice/en_scanned_invoice.jpg",
    "receipt/scanned_receipt.tif",
    "medical_invoice/medical_invoice_scan.jpg",
    "id_card/id_card_specimen.jpg",
)


def read_scans() -> dict[str, Any]:
    """RapidOCR over every page of SCANS: per page its size in pixels, seconds, and lines
    (text and axis-aligned box in pixels). Runs where rapidocr_onnxruntime is installed."""
    from importlib.metadata import version

    from PIL import Image, ImageSequence
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    found: dict[str, Any] = {"version": version("rapidocr_onnxruntime"), "documents": {}}
    for name in SCANS:
        pages = []
        for frame in ImageSequence.Iterator(Image.open(ROOT / "examples" / "documents" / name)):
            image = frame.convert("RGB")
            started = time.perf_counter()
            result, _ = engine(image)
            seconds = time.perf_counter() - started
            lines = [
                {"text": text, "box": [min(x for x, _ in quad), min(y for _, y in quad),
                                       max(x for x, _ in quad), max(y for _, y in quad)]}
                for quad, text, _score in (result or [])
            ]  # fmt: skip
            pages.append({"size": list(image.size), "seconds": seconds, "lines": lines})
        found["documents"][name] = pages
    return found


def score(ocr: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scan: true values, found on their page, mean IoU, OCR seconds a page."""
    from pipeline.eval.grounding import iou
    from pipeline.extract.model_lines import line_words
    from pipeline.grounding import locate_fields
    from pipeline.grounding.textlayer import PageText
    from schemas import BUILTIN_SCHEMAS

    rows = []
    for name, pages in ocr["documents"].items():
        schema, stem = name.split("/")[0], Path(name).stem
        truth_dir = ROOT / "examples" / "truth" / schema
        truth = json.loads((truth_dir / f"{stem}.json").read_text(encoding="utf-8"))
        boxes = json.loads((truth_dir / "boxes" / f"{stem}.json").read_text(encoding="utf-8"))
        texts = []
        for number, page in enumerate(pages, start=1):
            width, height = page["size"]
            words = [w for k, line in enumerate(page["lines"])
                     for w in line_words(line["text"], tuple(line["box"]), k)]  # fmt: skip
            texts.append(PageText(number, width, height, tuple(words), source="model_box"))
        answer = BUILTIN_SCHEMAS[schema].model_validate(truth)
        placed = {g.path: g for g in locate_fields(answer, texts)}
        found, overlap = 0, 0.0
        for path, true in boxes.items():
            grounding = placed.get(path)
            if grounding is None or grounding.page != true["page"] or grounding.box_norm is None:
                continue
            found += 1
            width, height = true["page_size"]
            x0, y0, x1, y1 = true["box"]
            overlap += iou(grounding.box_norm, (x0 / width, y0 / height, x1 / width, y1 / height))
        rows.append({
            "scan": name, "true values": len(boxes), "found": found,
            "mean IoU": round(overlap / max(1, len(boxes)), 3),
            "OCR s a page": round(sum(p["seconds"] for p in pages) / len(pages), 2),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ocr-python", help="an interpreter with rapidocr_onnxruntime")
    parser.add_argument("--read", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_scans()))
        return
    if args.ocr_python:
        done = subprocess.run(
            [args.ocr_python, str(Path(__file__).resolve()), "--read"],
            cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        ocr = json.loads(done.stdout.strip().splitlines()[-1])
    else:
        ocr = read_scans()
    rows = score(ocr)
    print(f"rapidocr_onnxruntime {ocr['version']}")
    for row in rows:
        print(" | ".join(f"{key} {value}" for key, value in row.items()))
    true, found = sum(r["true values"] for r in rows), sum(r["found"] for r in rows)
    mean = sum(r["mean IoU"] * r["true values"] for r in rows) / max(1, true)
    print(f"all scans: {found} of {true} true values found ({found / max(1, true):.0%}), "
          f"mean IoU {mean:.3f}")


if __name__ == "__main__":
    sys.exit(main())
