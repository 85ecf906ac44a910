"""One gate for the service layer: uvicorn runs the sync routes in a thread
pool, while a `Services` object holds one application, one view store and
their connections, and a read catches the views up (a write) before it
answers. Every call into the services goes through this lock, so recording,
catching up and reading never interleave on those connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

R = TypeVar("R")


class Gate:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.lock = threading.RLock()

    def __call__(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """`work(services, *args, **kwargs)` under the lock."""
        with self.lock:
            return work(self.services, *args, **kwargs)


def call(request: Request, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """From a route: the service function `work`, called with the app's services."""
    gate: Gate = request.app.state.gate
    return gate(work, *args, **kwargs)
