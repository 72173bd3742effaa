"""Neon server: ingestion, storage, query API, evaluation and durable execution for AI agents."""

__version__ = "0.1.0"
