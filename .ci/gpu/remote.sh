#!/usr/bin/env bash
# On the GPU machine, from the project root:
#   bash .gpu/remote.sh stash pNN        keep one carried part in /root/parts
#   bash .gpu/remote.sh COMMAND ARGS...  unpack the parts once into /tmp/site, then run COMMAND
#                                        with /tmp/site and the project root on PYTHONPATH
set -uo pipefail
if [ "${1:-}" = stash ]; then
  mkdir -p /root/parts && cp ".gpu/parts/$2" /root/parts/ && echo "stashed: $(ls /root/parts | tr '\n' ' ')"
  exit 0
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
export PYTHONPATH=/tmp/site:$(pwd)${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec "$@"
