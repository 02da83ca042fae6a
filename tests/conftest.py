"""Shared test configuration: hypothesis profiles (``HYPOTHESIS_PROFILE=ci|dev``) and the
store fixtures (`_stores`, `_redis_server`, `_postgres_server`).

Helpers shared by test modules live in `_support`; a test module never imports another one.
"""

from __future__ import annotations

import os

from _postgres_server import postgres_dsn
from _redis_server import redis_url
from _stores import open_durable_store, open_store, sqlite
from hypothesis import HealthCheck, settings

__all__ = [
    "open_durable_store",
    "open_store",
    "postgres_dsn",
    "redis_url",
    "sqlite",
]  # fixtures for every test module

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
