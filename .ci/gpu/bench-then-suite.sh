#!/usr/bin/env bash
# On the GPU machine, after the parts are stashed: the full-size model's bench (400 documents,
# three rounds, py-spy profiles), then the GPU suite as `make gpu-test` runs it. In the
# background, so that it outlives one device call (both through the Make targets):
#   bash .gpu/remote.sh bg all bash .ci/gpu/bench-then-suite.sh [BENCH ARGS...]
#   bash .gpu/remote.sh wait all 560          (again until it says "ended")
# SKIP_BENCH=1 or SKIP_SUITE=1 leaves one out.
cd "$(dirname "$0")/../.." || exit 1
[ -f .gpu/HEAD ] && echo "HEAD $(cat .gpu/HEAD)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ -z "${SKIP_BENCH:-}" ]; then
  make gpu-bench MODEL=full ARGS="--docs 400 --rounds 3 --spy /tmp/spy --save /tmp/jobs/bench.json $*" \
    2>&1 | grep -v -i -e 'retract' -e ' IPC ' -e 'Capturing batches'
  echo "bench exit ${PIPESTATUS[0]}"
fi
if [ -z "${SKIP_SUITE:-}" ]; then
  make gpu-test
  status=$?
  echo "suite exit $status"
  if [ "$status" != 0 ]; then  # the tests that failed again, one at a time, to tell a clash apart
    make gpu-test GPU_WORKERS=0 ARGS="--last-failed --last-failed-no-failures none"
    echo "failed tests again, one at a time: exit $?"
  fi
fi
