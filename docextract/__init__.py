"""docextract: folders of PDFs and scans in, typed tables out.

    import docextract

    results = docextract.extract(["invoice.pdf"], schema="invoice")
    table = docextract.extract_table("inbox/", schema="receipt")
    report = docextract.run("inbox/", "out/", schema="invoice")

See the README's "Python API" section. Importing this package is light: the model libraries
load only when an engine starts.
"""

from pipeline.api import (
    Failure,
    Finding,
    Result,
    build_config,
    extract,
    extract_table,
    open_engine,
    run,
)
from pipeline.config import RunConfig, load_config
from pipeline.errors import DocextractError
from pipeline.inputs.einvoice import read_einvoice, read_embedded_einvoice
from pipeline.output.current import current_table, current_view_sql
from pipeline.output.report import RunReport

__all__ = [
    "DocextractError",
    "Failure",
    "Finding",
    "Result",
    "RunConfig",
    "RunReport",
    "build_config",
    "current_table",
    "current_view_sql",
    "extract",
    "extract_table",
    "load_config",
    "open_engine",
    "read_einvoice",
    "read_embedded_einvoice",
    "run",
]
