"""Shared fixtures live in their own modules; pytest loads them here."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["tests.fixtures_documents", "tests.fixtures_model"]
