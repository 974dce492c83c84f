#!/usr/bin/env bash
# Nightly extraction of an inbox. Safe to overlap with itself: a second run waits for the first
# (--wait), skips what is already extracted, and a killed run loses nothing committed.
#
#   INBOX   folder the scanner or mail gateway drops documents into
#   OUT     output folder (Parquet tables, ledger, run summaries)
#   SCHEMA  built-in schema name or path/to/file.py:Model
set -euo pipefail
INBOX=${INBOX:?set INBOX}
OUT=${OUT:?set OUT}
SCHEMA=${SCHEMA:-invoice}
LOG_DIR=${LOG_DIR:-$OUT/logs}
mkdir -p "$LOG_DIR"

# JSON lines on stderr for the log shipper; the summary (one JSON object) on stdout.
status=0
docextract run "$INBOX" --schema "$SCHEMA" --out "$OUT" --wait --log-format json \
    --max-failure-rate "${MAX_FAILURE_RATE:-0.02}" \
    >>"$LOG_DIR/summary.jsonl" 2>>"$LOG_DIR/docextract.jsonl" || status=$?

case $status in
  0) ;;                                               # all done
  1) echo "docextract: failures above the allowed rate, see $LOG_DIR" >&2 ;;
  3) echo "docextract: the engine could not start, see $LOG_DIR" >&2 ;;
  *) echo "docextract: exit $status, see $LOG_DIR" >&2 ;;
esac
exit $status
