"""Neon SDK: tracing, evaluation and training-metric tracking for AI agents, built on OpenTelemetry."""

from neon.credentials import Credentials, load_credentials, neon_home

__version__ = "0.1.0"

__all__ = ["Credentials", "__version__", "load_credentials", "neon_home"]
