pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.postgres", "tests.fixtures.stack", "tests.fixtures.models"]
