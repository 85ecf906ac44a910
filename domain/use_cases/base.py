"""What each family of use cases relies on; `OpsLedger` provides all of it.

The families are mixins of one application, so a command of one may ask
another (a flag change names a real ticket; evidence asks the roster).
Everything here is an annotation only: a method defined on a mixin would
come before eventsourcing's `Application` in the order Python looks methods
up, and would hide it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from opsledger.domain.model import Aggregate

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

if TYPE_CHECKING:
    from eventsourcing.application import Repository
    from opsledger.domain.runbook import Role
    from opsledger.domain.ticket import Ticket


class UseCases:
    repository: Repository[UUID]
    mapper: Mapper[UUID]
    recorder: ApplicationRecorder
    save: Callable[..., Any]

    if TYPE_CHECKING:
        # The plumbing (domain.application).
        def _get(self, cls: type[A], aggregate_id: UUID, subject: str) -> A: ...
        def _command(self, load: Callable[[], A], change: Callable[[A], R]) -> R: ...
        def notifications(
            self, *, start: int = 1, topics: list[str] | None = None, batch: int = 1000
        ) -> Iterator[Notification]: ...

        # Asked across families.
        def _authorise(
            self, actor: str, allowed: tuple[Role, ...], role: Role | None, what: str
        ) -> tuple[Role, int]: ...
        def _confirm(self, actor: str, role: Role | None) -> None: ...
        def get_ticket(self, key: str) -> Ticket: ...
        def ticket_keys(self) -> list[str]: ...
        def flag_value(self, name: str) -> str | None: ...
