"""The read-only verifier and its stages: it writes nothing and imports nothing of builder/."""
