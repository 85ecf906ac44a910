"""The application's use cases, one module per family of aggregates.

Each family is a mixin of `opsledger.domain.application.OpsLedger`, which
supplies the plumbing they share (loading, saving, retrying on a lost race);
import the application from there, not these parts.
"""
