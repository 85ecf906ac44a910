"""Exceptions of the SLA packet: every message is one line a desk operator can act on."""

from __future__ import annotations


class SlaError(Exception):
    """Base of every error raised by ``domain.sla``."""


class PolicyError(SlaError):
    """A policy document is unreadable or violates the policy schema."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = _one_line(reason)
        super().__init__(f"{source}: invalid SLA policy: {self.reason}")


class ExportError(SlaError):
    """A Prometheus export or Alertmanager payload cannot be read.

    ``position`` locates the fault inside the document: a JSON path such as
    ``data.result[3].values[17]`` or ``byte 1024`` for syntax and encoding faults.
    """

    def __init__(self, source: str, position: str, reason: str) -> None:
        self.source = source
        self.position = position
        self.reason = _one_line(reason)
        super().__init__(f"{source}: {position}: {self.reason}")


class EvaluationError(SlaError):
    """The evaluation was asked something impossible, such as a range that ends first."""


def _one_line(text: str) -> str:
    # Errors end up in CLI output and ticket events, where a stray newline breaks the layout.
    return " ".join(str(text).split())
