"""Extraction: plan the work, build requests, feed the engine, settle and validate answers."""
