#!/usr/bin/env bash
# On the GPU machine, from the project root:
#   bash .gpu/remote.sh stash pNN        keep one carried part in /root/parts
#   bash .gpu/remote.sh COMMAND ARGS...  unpack the parts once into /tmp/site, then run COMMAND
#                                        with /tmp/site and the project root on PYTHONPATH
#   bash .gpu/remote.sh bg NAME COMMAND ARGS...
#                                        the same in the background, in a session of its own, so
#                                        it outlives the call; its output goes to /tmp/jobs/NAME.log
#                                        (a NAME started again begins a fresh log and status)
#   bash .gpu/remote.sh wait NAME SECONDS
#                                        wait up to SECONDS for job NAME, print its log's tail and
#                                        copy its log (and exit status, once ended) and any JSON
#                                        a job saved in /tmp/jobs into $OUT
set -uo pipefail
if [ "${1:-}" = stash ]; then
  mkdir -p /root/parts && cp ".gpu/parts/$2" /root/parts/ && echo "stashed: $(ls /root/parts | tr '\n' ' ')"
  exit 0
fi
if [ "${1:-}" = bg ]; then
  name=$2; shift 2; mkdir -p /tmp/jobs; rm -f "/tmp/jobs/$name.rc" "/tmp/jobs/$name.log"
  setsid nohup bash -c 'bash "$0" "$@" > "/tmp/jobs/'"$name"'.log" 2>&1; echo $? > "/tmp/jobs/'"$name"'.rc"' \
    "$0" "$@" < /dev/null > /dev/null 2>&1 &
  echo "started job $name"
  exit 0
fi
if [ "${1:-}" = wait ]; then
  name=$2; until=$((SECONDS + $3))
  while [ ! -f "/tmp/jobs/$name.rc" ] && [ $SECONDS -lt $until ]; do sleep 5; done
  tail -c 6000 "/tmp/jobs/$name.log"
  [ -n "${OUT:-}" ] && cp /tmp/jobs/"$name".* /tmp/jobs/*.json "$OUT"/ 2>/dev/null
  [ -f "/tmp/jobs/$name.rc" ] && { echo "job $name ended: exit $(cat "/tmp/jobs/$name.rc")"; exit 0; }
  echo "job $name still running"; exit 0
fi
if [ ! -f /tmp/site/.done ]; then
  want=$(wc -l < .gpu/MANIFEST); have=$(ls /root/parts 2>/dev/null | wc -l)
  [ "$have" = "$want" ] || { echo "only $have of $want parts in /root/parts: stash them first"; exit 1; }
  mkdir -p /tmp/zs /tmp/site
  python3 -m pip install -q --no-index --no-deps --target /tmp/zs .gpu/whl/zstandard-*.whl || exit 1
  cat /root/parts/p* | PYTHONPATH=/tmp/zs python3 -c "import sys, zstandard
zstandard.ZstdDecompressor(max_window_size=2**31).copy_stream(sys.stdin.buffer, sys.stdout.buffer)" \
    | tar -x -C /tmp/site || { echo "unpack failed"; exit 1; }
  touch /tmp/site/.done
fi
export PYTHONPATH=/tmp/site:$(pwd)${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
exec "$@"
