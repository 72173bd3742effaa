"""Errors the metadata repositories raise (services turn them into 409s and 404s)."""

from __future__ import annotations


class AlreadyExists(ValueError):
    """A unique name, prefix or id is taken."""
