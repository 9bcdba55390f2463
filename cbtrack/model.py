"""The callback record: pydantic models and enums, the single source of truth.

Every key here is part of the store format (SPEC section 3). Timestamps are
timezone-aware; free text stays text. State changes are methods on `Callback`;
rules that need the practice policy live in `triage`.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cbtrack import enums
from cbtrack.errors import Refused
from cbtrack.facts import CallbackFacts
from cbtrack.ids import ALPHABET, ID_RE, phone_digits

# The vocabularies live in `cbtrack.enums` (cheap to import); they are part of the model.
CLINICAL_URGENCIES = enums.CLINICAL_URGENCIES
AttemptMethod = enums.AttemptMethod
AttemptResult = enums.AttemptResult
CloseReason = enums.CloseReason
ContactMethod = enums.ContactMethod
DependencyKind = enums.DependencyKind
EventType = enums.EventType
Source = enums.Source
Status = enums.Status
Urgency = enums.Urgency
VoicemailConsent = enums.VoicemailConsent
MISSED, FALSE_ALARM = enums.MISSED, enums.FALSE_ALARM

# Crockford-style alphabet: no i, l, o, u, so IDs read aloud without confusion.
ITEM_ID_RE = r"^[0-9a-hjkmnp-tv-z]{6}$"
WINDOW_RE = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

# The years a timestamp may fall in: those git can record as a commit date (it refuses
# dates after 2099 and mangles those before 1970), which also keeps business-time
# arithmetic far from the ends of Python's calendar, where it would overflow.
FIRST_YEAR, LAST_YEAR = 1970, 2099
_EPOCH = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)


def in_years(moment: datetime) -> bool:
    """Whether an aware `moment` falls in FIRST_YEAR to LAST_YEAR."""
    return moment >= _EPOCH and moment.year <= LAST_YEAR


def _in_years(value: datetime) -> datetime:
    if not in_years(value):
        raise ValueError(f"a time must fall in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_years)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
ItemId = Annotated[str, StringConstraints(pattern=ITEM_ID_RE)]
# Where an imported callback came from: `<kind>:<what identifies it there>`, for example
# `missed-call:20261127T131400Z:5550100123` (the call's UTC time and phone digits).
IMPORT_KEY_RE = r"^[a-z][a-z0-9-]{0,19}:[A-Za-z0-9:+._-]{1,100}$"
CallbackId = Annotated[str, StringConstraints(pattern=ID_RE.pattern)]


def new_item_id() -> str:
    """A short random ID for one attempt, event or dependency (unique within a record)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(6))


def new_callback_id(created: datetime) -> str:
    """`cb-YYYYMMDD-xxxxx`: the creation date, then 25 random bits (no coordination)."""
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(5))
    return f"cb-{created:%Y%m%d}-{suffix}"


def id_month(callback_id: str) -> str:
    """The `YYYY-MM` folder of a closed callback, read from its ID."""
    m = ID_RE.match(callback_id)
    if not m:
        raise Refused(
            f"'{callback_id[:40]}' is not a callback ID; IDs look like cb-20261127-k7m2q."
        )
    d = m.group(1)
    return f"{d[:4]}-{d[4:6]}"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def describe_validation(exc: ValidationError, names_ok: bool = False) -> str:
    """`field a.b: reason` for the first problem, and how many more there are."""
    problems = describe_problems(exc, names_ok)
    more = len(problems) - 1
    extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return problems[0] + extra


def describe_problems(exc: ValidationError, names_ok: bool = False) -> list[str]:
    """`field a.b: reason` for each problem, never a value. A key that is not a field name
    of the record (a `details` key, an unknown key) is not repeated, since it may be free
    text; the policy's keys (`names_ok`) are names and are kept."""
    known = _known_fields(Callback, set())
    return [
        _describe_one(err, known, names_ok)
        for err in exc.errors(include_input=False, include_url=False)
    ]


def _describe_one(err: Any, known: set[str], names_ok: bool) -> str:
    parts: list[str] = []
    hidden = False
    for part in err["loc"]:
        text = str(part)
        if isinstance(part, int) or text in known or (names_ok and _is_name(text)):
            parts.append(text)
        else:
            hidden = True
            break
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "string_pattern_mismatch":  # (never the pattern itself)
        field = str(err["loc"][-1]) if err["loc"] else ""
        msg = _PATTERN_WORDS.get(field, "is not in the form this field takes; check it")
    if kind == "extra_forbidden":
        msg = "holds a key that is not allowed here"
    elif kind == "string_too_long":
        msg = f"is longer than {err['ctx']['max_length']} characters; shorten it"
    elif kind == "string_too_short":
        msg = "is empty; write some text"
    elif kind == "string_unicode":
        msg = "is not valid UTF-8 text; retype it (check the terminal's encoding)"
    elif hidden:
        msg = f"a key in it is not valid ({msg})"
    where = ".".join(parts)
    return f"field {where}: {msg}" if where else msg


_PATTERN_WORDS = {
    "email": "is not an email address; write it like name@example.com",
    "extension": "is not a phone extension; use digits only (up to 10)",
    "mrn": "is not a record number; use letters, digits and dashes (up to 30)",
}


def _is_name(text: str) -> bool:
    return len(text) <= 40 and all(c.isalnum() or c in "_.-" for c in text) and text.isascii()


def _known_fields(model: type[BaseModel], out: set[str]) -> set[str]:
    """Every field name in `model` and the models it holds."""
    for name, info in model.model_fields.items():
        if name not in out:
            out.add(name)
            for arg in _model_args(info.annotation):
                _known_fields(arg, out)
    return out


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _model_args(arg)]


# An extension after a number: `x123`, `ext. 123`, `ext 123`, `extension 123`, `#123`.
EXTENSION_RE = re.compile(
    r"^(?P<number>.*?\d[^a-z#]*?)[\s,;]*(?:x|ext\.?|extn?\.?|extension|#)\s*(?P<ext>\d{1,10})\s*$",
    re.IGNORECASE,
)


EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def split_extension(text: str) -> tuple[str, str | None]:
    """A phone as typed -> (the number, its extension or None)."""
    m = EXTENSION_RE.match(text.strip())
    if m is None:
        return text, None
    return m["number"].strip(), m["ext"]


class Patient(StrictModel):
    name: Text
    phone: str
    # an extension to dial after the number; `phone` given as `312-555-0208 x123` is split
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")] | None = None
    # where a patient who prefers email is written to
    email: Annotated[str, StringConstraints(pattern=EMAIL_RE, max_length=254)] | None = None
    preferred_method: ContactMethod = ContactMethod.phone
    contact_window: str | None = None
    voicemail: VoicemailConsent = VoicemailConsent.minimal
    dob: date | None = None
    mrn: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,30}$")] | None = None
    language: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _extension_apart(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("phone"), str):
            number, ext = split_extension(data["phone"])
            if ext is not None:
                data = {**data, "phone": number, "extension": ext}
        return data

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        v = v.strip()
        if not re.fullmatch(r"\+?[0-9 ().-]+", v) or not 7 <= len(phone_digits(v)) <= 15:
            raise ValueError(
                "a phone number needs 7 to 15 digits (spaces, dashes, dots, brackets and a "
                "leading + are allowed)"
            )
        return v

    @field_validator("contact_window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(WINDOW_RE, v):
            raise ValueError("a contact window is written HH:MM-HH:MM, like 09:00-12:00")
        return v

    @field_validator("dob", mode="before")
    @classmethod
    def _dob(cls, v: object) -> object:
        if isinstance(v, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
            raise ValueError("a date of birth is written YYYY-MM-DD")
        if isinstance(v, str):
            try:
                date.fromisoformat(v.strip())
            except ValueError:
                raise ValueError("the date of birth is not a real date (YYYY-MM-DD)") from None
        return v


class Attempt(StrictModel):
    id: ItemId = Field(default_factory=new_item_id)
    at: Moment
    by: Name
    method: AttemptMethod
    result: AttemptResult
    message_left: bool = False
    patient_response: Text | None = None
    note: Text
    next_action: Text | None = None
    script: Name | None = None
    forced: Text | None = None


class Event(StrictModel):
    id: ItemId = Field(default_factory=new_item_id)
    at: Moment
    by: Name
    type: EventType
    note: Text | None = None
    was: dict[str, str] | None = None
    set: dict[str, str] | None = None
    # On urgency_changed (or triaged, for a later answer given with `edit`): staff raised a
    # callback to clinical or emergency above what intake triage gave (a miss), or a
    # clinician lowered one that triage raised (a false alarm).
    triage_missed: bool | None = None
    triage_false_alarm: bool | None = None

    def correction(self) -> str | None:
        """MISSED or FALSE_ALARM when this change of urgency is marked as correcting triage
        (`cbtrack.corrections` decides and explains), else None."""
        if self.type not in (EventType.urgency_changed, EventType.triaged):
            return None
        if self.triage_missed:
            return MISSED
        return FALSE_ALARM if self.triage_false_alarm else None


class Dependency(StrictModel):
    id: ItemId = Field(default_factory=new_item_id)
    kind: DependencyKind
    note: Text
    since: Moment
    until: Moment | None = None  # when it is expected; late after that
    resolved_at: Moment | None = None


class Closure(StrictModel):
    at: Moment
    by: Name
    reason: CloseReason
    summary: Text
    to: Name | None = None
    duplicate_of: CallbackId | None = None  # with reason duplicate: the original

    @model_validator(mode="after")
    def _duplicate(self) -> Closure:
        if self.duplicate_of and self.reason != CloseReason.duplicate:
            raise ValueError("duplicate_of goes only with the close reason duplicate")
        return self


class Callback(StrictModel, CallbackFacts):
    id: str = Field(pattern=ID_RE.pattern)
    created_at: Moment
    created_by: Name
    source: Source = Source.phone
    import_key: Annotated[str, StringConstraints(pattern=IMPORT_KEY_RE)] | None = None
    patient: Patient
    category: Name
    reason: Text
    details: dict[Name, Text] = Field(default_factory=dict)
    urgency: Urgency
    status: Status = Status.new
    owner: Name
    due_at: Moment
    deadline_at: Moment | None = None  # a procedure date, an authorization expiry
    related_to: CallbackId | None = None  # an earlier callback this one follows up
    next_action: Text
    next_attempt_at: Moment | None = None
    depends_on: list[Dependency] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    closure: Closure | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Callback:
        if (self.status == Status.closed) != (self.closure is not None):
            raise ValueError("status 'closed' and a closure go together")
        for name, items in (("attempts", self.attempts), ("events", self.events)):
            ids = [i.id for i in items]
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name} have a repeated id")
        return self

    # (derived facts: cbtrack/facts.py, shared with the read-only views)

    # --- state changes (append-only histories) ------------------------------------

    def log(
        self,
        at: datetime,
        by: str,
        type: EventType,
        note: str | None = None,
        was: dict[str, str] | None = None,
        set: dict[str, str] | None = None,
    ) -> Event:
        try:
            event = Event(at=at, by=by, type=type, note=note, was=was, set=set)
        except ValidationError as exc:  # the note or a value typed for the change
            raise Refused(f"Invalid input, {describe_validation(exc)}.") from None
        while any(e.id == event.id for e in self.events):
            event.id = new_item_id()
        self.events = [*self.events, event]
        return event

    def change(self, at: datetime, by: str, type: EventType, note: str | None, **new: Any) -> bool:
        """Set fields and log one event naming old and new values; False if nothing changed."""
        was: dict[str, str] = {}
        now_set: dict[str, str] = {}
        for key, value in new.items():
            old = getattr(self, key)
            if old == value:
                continue
            was[key] = _text(old)
            now_set[key] = _text(value)
            setattr(self, key, value)
        if not now_set:
            return False
        self.log(at, by, type, note=note, was=was, set=now_set)
        return True

    def add_attempt(self, attempt: Attempt) -> None:
        if not self.is_open:
            raise Refused(f"{self.id} is closed; reopen it with 'cbtrack reopen {self.id} --why'.")
        while any(a.id == attempt.id for a in self.attempts):
            attempt.id = new_item_id()
        self.attempts = [*self.attempts, attempt]
        self.status = self.status_after_attempt(attempt.result)

    def status_after_attempt(self, result: AttemptResult) -> Status:
        if self.open_dependencies:
            return Status.waiting_internal
        if result in (AttemptResult.left_voicemail, AttemptResult.message_sent):
            return Status.waiting_patient
        return Status.in_progress

    def resting_status(self) -> Status:
        """The status an open callback returns to when nothing holds it elsewhere."""
        if self.open_dependencies:
            return Status.waiting_internal
        last = self.last_attempt
        if last is None:
            return Status.new
        return self.status_after_attempt(last.result)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
