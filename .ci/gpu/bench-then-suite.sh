#!/usr/bin/env bash
# On the GPU machine, after the parts are stashed: the full-size model's bench (400 documents,
# three rounds, py-spy profiles), then the GPU suite as `make gpu-test` runs it. In the
# background, so that it outlives one device call:
#   bash .gpu/remote.sh bg all bash .ci/gpu/bench-then-suite.sh [BENCH ARGS...]
#   bash .gpu/remote.sh wait all 560          (again until it says "ended")
# SKIP_BENCH=1 or SKIP_SUITE=1 leaves one out.
cd "$(dirname "$0")/../.." || exit 1
[ -f .gpu/HEAD ] && echo "HEAD $(cat .gpu/HEAD)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ -z "${SKIP_BENCH:-}" ]; then
  python3 -m benchmarks.gpu full --docs 400 --rounds 3 --spy /tmp/spy \
    --save /tmp/jobs/bench.json "$@" 2>&1 | grep -v -i -e 'retract' -e ' IPC ' -e 'Capturing batches'
  echo "bench exit ${PIPESTATUS[0]}"
fi
if [ -z "${SKIP_SUITE:-}" ]; then
  suite=(python3 -m pytest -m gpu -v -o cache_dir=/tmp/jobs/pytest-cache tests/gpu)
  "${suite[@]}" --durations=0 -n "${GPU_WORKERS:-4}" --dist loadgroup
  status=$?
  echo "suite exit $status"
  if [ "$status" = 1 ]; then  # tests failed: those again, one at a time, to tell a clash apart
    "${suite[@]}" --last-failed -n 0
    echo "failed tests again, one at a time: exit $?"
  fi
fi
