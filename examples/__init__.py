"""Runnable examples. A package so that agent specs can name their tools by import path
(`examples.agents.tools:lookup_order`) when run from the repository root."""
