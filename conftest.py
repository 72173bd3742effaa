"""Shared by every test suite: the test process itself never configures the SDK on first use.

A span made in a test without neon.configure() must not find a developer's own `neon up` credentials (or
NEON_* variables) and export there. Programs the tests start as subprocesses are unaffected.
"""

from neon.tracing.config import disable_autoconfigure

disable_autoconfigure()
