"""Stores: the only code that speaks SQL."""
