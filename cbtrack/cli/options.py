"""The options `add` takes and `edit` corrects (and `attempt`'s --next), declared once;
and `whole_number`, the one reading of every numeric option.

A command names one as its parameter's type: `due: DueOpt = None`. Where `edit` means the
same as `add` but leaves a field alone unless given, the two types share one declaration
(`PatientOpt` is required, `PatientEdit` optional); where `edit` means something more
(an empty value clears the field, a later answer to an intake question), it has its own
help. (`IdArg` and `JsonOpt`, which most commands take, are in `cbtrack.cli.app`.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

import typer

from cbtrack.cli.app import YesNo
from cbtrack.enums import ContactMethod, VoicemailConsent
from cbtrack.errors import Refused, UsageProblem

# --- numbers ------------------------------------------------------------------------

_WHOLE = re.compile(r"[+-]?[0-9]+")


def whole_number(option: str, least: int, example: int) -> Callable[[str], int]:
    """The parser of a numeric option (`typer.Option(..., parser=whole_number(...))`), in
    our words: text that is no whole number is command-line syntax (exit 2); a number
    below `least` parses but breaks the option's rule (exit 1)."""

    def parse(text: str) -> int:
        value = str(text).strip()
        if not _WHOLE.fullmatch(value):
            raise UsageProblem(f"{option} takes a whole number, for example {option} {example}.")
        if int(value) < least:
            raise Refused(f"{option} must be {least} or more, for example {option} {example}.")
        return int(value)

    return parse


# --- the patient --------------------------------------------------------------------

_PATIENT = typer.Option("--patient", help="Patient's name.")
PatientOpt = Annotated[str, _PATIENT]
PatientEdit = Annotated[str | None, _PATIENT]

_PHONE = typer.Option("--phone", help="Phone number, 7 to 15 digits.")
PhoneOpt = Annotated[str, _PHONE]
PhoneEdit = Annotated[str | None, _PHONE]

_METHOD = typer.Option("--method", help="Preferred contact method.")
ContactMethodOpt = Annotated[ContactMethod, _METHOD]
ContactMethodEdit = Annotated[ContactMethod | None, _METHOD]

_VOICEMAIL = typer.Option("--voicemail", help="Voicemail consent.")
VoicemailOpt = Annotated[VoicemailConsent, _VOICEMAIL]
VoicemailEdit = Annotated[VoicemailConsent | None, _VOICEMAIL]

WindowOpt = Annotated[
    str | None,
    typer.Option("--window", metavar="HH:MM-HH:MM", help="When the patient asked to be called."),
]
WindowEdit = Annotated[
    str | None,
    typer.Option("--window", metavar="HH:MM-HH:MM", help="Contact window ('' clears)."),
]

DobOpt = Annotated[str | None, typer.Option("--dob", help="Date of birth, YYYY-MM-DD.")]
DobEdit = Annotated[
    str | None, typer.Option("--dob", help="Date of birth, YYYY-MM-DD ('' clears).")
]

MrnOpt = Annotated[str | None, typer.Option("--mrn", help="Medical record number.")]
MrnEdit = Annotated[str | None, typer.Option("--mrn", help="Medical record number ('' clears).")]

LanguageOpt = Annotated[str | None, typer.Option("--language", help="Preferred language.")]
LanguageEdit = Annotated[
    str | None, typer.Option("--language", help="Preferred language ('' clears).")
]

EmailOpt = Annotated[
    str | None,
    typer.Option("--email", metavar="ADDRESS", help="Email address (needed with --method email)."),
]
EmailEdit = Annotated[
    str | None, typer.Option("--email", metavar="ADDRESS", help="Email address ('' clears).")
]

# --- the request --------------------------------------------------------------------

DetailOpt = Annotated[
    list[str] | None,
    typer.Option("--detail", metavar="KEY=VALUE", help="A category note field (repeatable)."),
]
DetailEdit = Annotated[
    list[str] | None,
    typer.Option(
        "--detail",
        metavar="KEY=VALUE",
        help="Set a detail field; KEY= removes an optional one (repeatable).",
    ),
]

DueOpt = Annotated[
    str | None, typer.Option("--due", help="Due time: ISO 8601, 15:00, 'tomorrow 9:00'.")
]

DeadlineOpt = Annotated[
    str | None,
    typer.Option(
        "--deadline",
        metavar="WHEN",
        help="A procedure date or expiry: due before it by the policy's deadline_lead.",
    ),
]

NextOpt = Annotated[str | None, typer.Option("--next", help="What should happen next.")]

# --- the intake questions: asked on `add`, answered again later with `edit` --------------

SymptomsOpt = Annotated[
    YesNo | None,
    typer.Option(
        "--symptoms",
        help="Is the patient describing new or worsening symptoms, a reaction to a "
        "medicine, or harm? yes makes the callback at least clinical. Asked on a terminal "
        "when left out (no default: y or n).",
    ),
]
SymptomsEdit = Annotated[
    YesNo | None,
    typer.Option(
        "--symptoms",
        help="The patient now describes new or worsening symptoms, a reaction or harm: "
        "yes makes the callback at least clinical.",
    ),
]

RedFlagsOpt = Annotated[
    YesNo | None,
    typer.Option(
        "--red-flags",
        help="Does any sign on the policy's red-flag checklist (triage.red_flags) apply? "
        "yes makes the callback an emergency. Asked on a terminal after a yes to "
        "--symptoms.",
    ),
]
RedFlagsEdit = Annotated[
    YesNo | None,
    typer.Option(
        "--red-flags",
        help="A sign on the policy's red-flag checklist now applies: yes makes the "
        "callback an emergency.",
    ),
]
