"""Text a record can keep: no NUL (PostgreSQL's text refuses it, so a view
could never catch up past such an event) and no unpaired surrogate (not
UTF-8: it cannot be encoded, signed or stored). Every reader of outside text
that would be recorded (the screening of a command's arguments, the alert
and export readers) refuses it with these words."""

from __future__ import annotations

import re

UNKEEPABLE = re.compile("[\x00\ud800-\udfff]")
UNKEEPABLE_WHY = "holds a NUL character or an unpaired surrogate, which no record can keep"
