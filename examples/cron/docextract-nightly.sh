#!/usr/bin/env bash
# Nightly extraction of an inbox. Safe to overlap with itself: a second run waits for the first
# (--wait), skips what is already extracted, and a killed run loses nothing committed.
#
#   INBOX   folder the scanner or mail gateway drops documents into
#   OUT     output folder (Parquet tables, ledger, run summaries)
#   SCHEMA  built-in schema name or path/to/file.py:Model
#   ENGINE_RESTARTS  how many times a run whose engine died starts again (default 2)
#   DOCEXTRACT  the docextract command; by default the one on PATH, else the checkout's .venv
#               (cron's PATH is only /usr/bin:/bin)
set -euo pipefail
INBOX=${INBOX:?set INBOX}
OUT=${OUT:?set OUT}
SCHEMA=${SCHEMA:-invoice}
LOG_DIR=${LOG_DIR:-$OUT/logs}
here=$(cd "$(dirname "$0")" && pwd)
DOCEXTRACT=${DOCEXTRACT:-$(command -v docextract || echo "$here/../../.venv/bin/docextract")}
if [ ! -x "$DOCEXTRACT" ]; then
  echo "docextract: command not found; set DOCEXTRACT=/path/to/venv/bin/docextract" >&2
  exit 127
fi
mkdir -p "$LOG_DIR"

# JSON lines on stderr for the log shipper; the summary (one JSON object) on stdout.
status=0
"$DOCEXTRACT" run "$INBOX" --schema "$SCHEMA" --out "$OUT" --wait --log-format json \
    --max-failure-rate "${MAX_FAILURE_RATE:-0.02}" --engine-restarts "${ENGINE_RESTARTS:-2}" \
    >>"$LOG_DIR/summary.jsonl" 2>>"$LOG_DIR/docextract.jsonl" || status=$?

case $status in
  0) ;;                                               # all done
  1) echo "docextract: failures (new or still standing) above the allowed rate, see $LOG_DIR" >&2 ;;
  3) echo "docextract: the engine could not start, see $LOG_DIR" >&2 ;;
  6) echo "docextract: the engine died during the run (and after each restart); finished work is kept, see $LOG_DIR" >&2 ;;
  7) echo "docextract: $OUT cannot be written (permissions or a full disk), see $LOG_DIR" >&2 ;;
  130|143) echo "docextract: stopped by a signal; the next night takes up the rest" >&2 ;;
  *) echo "docextract: exit $status, see $LOG_DIR" >&2 ;;
esac
exit $status
