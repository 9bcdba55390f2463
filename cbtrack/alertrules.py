"""The alert rules of the policy (`alerts:` in cbtrack.yaml; SPEC section 8, "Alerts"):
when a callback is alerted on, after how long, and by which way out (a command, mail)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from cbtrack.clock import wall_delta
from cbtrack.model import Name, StrictModel, Text

#: What an alert rule watches for (SPEC section 8, "Alerts").
AlertWhen = Literal["emergency", "clinical_overdue", "overdue", "dependency_late", "no_attempt"]
AlertDelay = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^(0|\d{1,5}(m|h|d|bd))$")
]
MailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s<>,;]{1,64}@[^@\s<>,;]{1,190}$")
]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
SmtpServer = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9.-]{1,253}:\d{1,5}$")
]


class AlertMail(StrictModel):
    """Where an alert is mailed: SMTP, with STARTTLS, and a password read from the
    environment variable `password_env` (never written in the policy)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    to: list[MailAddress] = Field(min_length=1)
    from_: MailAddress = Field(alias="from")
    smtp: SmtpServer
    starttls: bool = True
    user: Text | None = None
    password_env: EnvName | None = None

    @model_validator(mode="after")
    def _login(self) -> AlertMail:
        if (self.user is None) != (self.password_env is None):
            raise ValueError(
                "alerts mail needs user and password_env together (the password is read "
                "from that environment variable), or neither"
            )
        if self.user is not None and not self.starttls:
            raise ValueError(
                "alerts mail with a user needs starttls: true, so the password is never sent "
                "in clear"
            )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.smtp.rpartition(":")
        return host, int(port)


class AlertRule(StrictModel):
    """One alert rule: when a callback meets `when` for `after` (wall-clock time), tell
    someone through `command` (an argv; the payload as JSON on its stdin) and/or `mail`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built with the policy

    name: Name | None = None
    when: AlertWhen
    after: AlertDelay | None = None  # default: 0 for emergency, 15m otherwise
    command: list[Text] | None = Field(default=None, min_length=1)
    timeout: int = Field(default=30, ge=1, le=600)  # seconds a command or a mail may take
    mail: AlertMail | None = None
    include_phi: bool = False

    @model_validator(mode="after")
    def _a_way_out(self) -> AlertRule:
        if not self.command and self.mail is None:
            raise ValueError("needs a command or a mail to send its alerts by")
        return self

    @property
    def key(self) -> str:
        """What the rule is called in `alerted` events: its name, else its `when`."""
        return self.name or self.when

    @property
    def delay(self) -> timedelta:
        after = self.after or ("0" if self.when == "emergency" else "15m")
        return timedelta(0) if after == "0" else wall_delta(after)

    @property
    def channels(self) -> list[str]:
        return [c for c, on in (("command", bool(self.command)), ("mail", bool(self.mail))) if on]
