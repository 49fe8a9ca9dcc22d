"""Dagster resources: thin configurable wrappers around the framework-free clients and sources."""
