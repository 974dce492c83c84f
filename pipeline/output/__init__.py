"""Output: Parquet tables, the ledger, locks, the run report and progress."""
