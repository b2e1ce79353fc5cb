from hypothesis import settings

# Timings are not asserted in tests: a loaded machine must not fail a property on a deadline.
settings.register_profile("merit", deadline=None)
settings.load_profile("merit")

pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.postgres", "tests.fixtures.stack", "tests.fixtures.models"]
