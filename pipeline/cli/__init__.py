"""The `docextract` command: one module per command, sharing `common`."""
