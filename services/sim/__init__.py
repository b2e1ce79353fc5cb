"""The consensus harness: simulated nodes driven through the product\x27s own use cases."""
