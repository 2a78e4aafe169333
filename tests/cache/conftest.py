"""The cache's end-to-end tests use the e2e harness: the real router, the real SDKs over real
HTTP to the emulator served on loopback, a real SQLite file (tests/e2e/conftest.py)."""

from __future__ import annotations

from tests.e2e.conftest import e2e, emulator

__all__ = ["e2e", "emulator"]
