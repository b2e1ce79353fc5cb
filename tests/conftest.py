import os

from hypothesis import settings

# in-process settings: no hidden gold tasks unless a test asks for them (tests/integration/test_gold.py)
os.environ.setdefault("MERIT_GOLD_EVERY", "0")

# Timings are not asserted in tests: a loaded machine must not fail a property on a deadline.
settings.register_profile("merit", deadline=None)
settings.load_profile("merit")

pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.postgres", "tests.fixtures.stack", "tests.fixtures.models"]
