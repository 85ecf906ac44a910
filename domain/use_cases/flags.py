"""The feature flags' use cases: `live.enabled` and the like, set with a
reason and read back as recorded."""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError
from opsledger.domain.flag import FeatureFlag, flag_id, validate_flag_name
from opsledger.domain.runbook import ACTION_AUTHORITY, Role
from opsledger.domain.use_cases.base import UseCases


class FlagUseCases(UseCases):
    def set_flag(
        self,
        name: str,
        *,
        value: str,
        actor: str,
        role: Role | None,
        reason: str,
        ticket: str | None = None,
    ) -> tuple[str | None, str, bool]:
        """Returns (old, new, changed)."""
        validate_flag_name(name)
        role = self._authorise(actor, ACTION_AUTHORITY["set_flag"], role, f"setting {name}")[0]
        if ticket is not None:
            self.get_ticket(ticket)  # a trail entry must point at a real ticket

        def load() -> FeatureFlag:
            try:
                return self.repository.get(flag_id(name))
            except AggregateNotFoundError:
                return FeatureFlag.create(name)

        def change(flag: FeatureFlag) -> tuple[str | None, str, bool]:
            old = flag.value
            changed = flag.set(value=value, actor=actor, role=role, reason=reason, ticket=ticket)
            return old, flag.value, changed

        return self._command(load, change)

    def flag_value(self, name: str) -> str | None:
        """The `new` of the flag's last change: what replaying it would give, read
        from its last event alone (a flag flipped every session has a long history)."""
        validate_flag_name(name)
        last = self.recorder.select_events(flag_id(name), desc=True, limit=1)
        if not last:
            return None
        event = self.mapper.to_domain_event(last[0])
        return event.new if isinstance(event, FeatureFlag.Changed) else None

    def flag_changes(self, name: str) -> list[FeatureFlag.Changed]:
        validate_flag_name(name)
        return [
            e
            for e in self.repository.event_store.get(flag_id(name))
            if isinstance(e, FeatureFlag.Changed)
        ]
