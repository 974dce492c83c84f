"""docextract: folders of documents in, typed Parquet out."""

__version__ = "0.1.0"
