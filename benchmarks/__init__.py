"""Developer benchmarks: `make bench` prints every figure next to a baseline from the same run."""
