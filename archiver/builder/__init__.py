"""Build stages: read the session folder once, write the bag, seal it into a store."""
