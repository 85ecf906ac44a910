"""The composition root: builds the application and adapters from settings.

Commands receive one `Context` through click's `pass_obj` and ask it for what
they need; nothing is built until a command asks, so `--help` and argument
errors never touch a database.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from cli.settings import Settings

if TYPE_CHECKING:
    from domain.application import OpsLedger


class Context:
    def __init__(self, settings: Settings, *, json_output: bool = False) -> None:
        self.settings = settings
        self.json_output = json_output

    @property
    def actor(self) -> str:
        return self.settings.actor

    @cached_property
    def app(self) -> OpsLedger:
        from domain.application import OpsLedger

        if not self.settings.database_url:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        return OpsLedger(env=self.settings.event_store_env())

    # Adapters of other packages (views, archive stores, signing keys) are
    # added below as methods/properties, one per adapter, built lazily.

    def close(self) -> None:
        app = self.__dict__.get("app")
        if app is not None:
            app.close()
