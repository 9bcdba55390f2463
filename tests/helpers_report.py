"""Helpers for the review and report tests: staff at the CLI, and a scripted week.

Every command runs through the CLI with `CBTRACK_NOW` fixed, as staff would type it.
The week's patients are fictional and distinctive, so the tests can prove that none of
their details leak into a de-identified report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

from cbtrack.cli import app
from tests.conftest import commit_policy

STAFF = {
    "jlee": {"name": "Jamie Lee", "roles": ["front_desk"]},
    "mkhan": {"name": "Mo Khan", "roles": ["scheduling"]},
    "rnpatel": {"name": "Riya Patel RN", "roles": ["clinical"]},
    "lead": {"name": "Lee Lead", "roles": ["front_desk_lead"]},
}

DETAILS = {
    "scheduling": {
        "visit_type": "annual review",
        "availability": "weekday mornings",
        "provider_preference": "any",
    },
    "general": {"topic": "directions"},
    "referral_status": {
        "receipt_status": "not received",
        "missing_documents": "referral letter",
        "next_expected_update": "Friday",
    },
    "billing": {"statement_date": "2026-11-01", "question_type": "copay"},
    "clinical_concern": {"concern_summary": "question about lab results", "onset": "today"},
}


class Staff:
    """Runs cbtrack against one store at fixed times, as one staff member or another."""

    def __init__(self, store: Path, home: Path) -> None:
        self.store = store
        self.home = home
        self.runner = CliRunner()

    def env(self, now: str) -> dict[str, str | None]:
        return {
            "CBTRACK_NOW": now,
            "CBTRACK_STORE": None,
            "CBTRACK_USER": None,
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(self.home / ".gitconfig"),
        }

    def __call__(self, *args: str, now: str, user: str | None = "jlee") -> Result:
        argv = ["--store", str(self.store)]
        if user:
            argv += ["--as", user]
        return self.runner.invoke(app, [*argv, *args], env=self.env(now))

    def ok(self, *args: str, now: str, user: str | None = "jlee") -> Result:
        result = self(*args, now=now, user=user)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str, now: str, user: str | None = None) -> Any:
        return json.loads(self.ok(*args, now=now, user=user).stdout)

    def add(
        self,
        now: str,
        patient: str,
        phone: str,
        category: str,
        reason: str,
        *extra: str,
        details: dict[str, str] | None = None,
        user: str = "jlee",
    ) -> str:
        argv = [
            "add",
            "--patient",
            patient,
            "--phone",
            phone,
            "--category",
            category,
            "--reason",
            reason,
        ]
        for key, value in (details or DETAILS[category]).items():
            argv += ["--detail", f"{key}={value}"]
        return str(self.ok(*argv, *extra, now=now, user=user).stdout.strip())

    def attempt(
        self, cid: str, now: str, method: str, result: str, note: str, user: str = "jlee"
    ) -> None:
        self.ok(
            "attempt",
            cid,
            "--method",
            method,
            "--result",
            result,
            "--note",
            note,
            now=now,
            user=user,
        )

    def close(
        self, cid: str, now: str, reason: str, summary: str, *extra: str, user: str = "jlee"
    ) -> None:
        self.ok("close", cid, "--reason", reason, "--summary", summary, *extra, now=now, user=user)


def init_store(root: Path, staff: dict[str, Any] | None = None) -> Staff:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    store = root / "store"
    cli = Staff(store, home)
    result = cli.runner.invoke(
        app, ["--as", "jlee", "init", str(store)], env=cli.env("2026-10-01T09:00:00-04:00")
    )
    assert result.exit_code == 0, result.stderr
    if staff is not None:
        path = store / "cbtrack.yaml"
        data = yaml.safe_load(path.read_text())
        data["staff"] = staff
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        commit_policy(store)
    return cli


def snapshot(store: Path) -> dict[str, bytes]:
    """Every file under the store, git's objects included: a refused command changes none."""
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*"))
        if p.is_file() and ".cbtrack" not in p.relative_to(store).parts
    }


# --- the scripted week: Monday 2026-11-23 to Friday 2026-11-27, America/New_York -------

# Distinctive fictional patient data: none of it may appear in a de-identified report.
PHI_STRINGS = [
    "Winifred Achterberg",
    "Quillon Farthingale",
    "Perpetua Lindqvist",
    "Thaddeus Okonkwo-Brill",
    "Ignatia Vasquez-Thorne",
    "Bartholomew Eskildsen",
    "Zebulon Kettleworth",
    "+15557310401",
    "5557310401",
    "555-731-0402",
    "5557310402",
    "+1 555 731 0403",
    "5557310403",
    "5557310404",
    "5557310405",
    "5557310407",
    "5557310408",
    "5557310409",
    "MRNQX7781",
    "1961-04-17",
    "Copperfield",
    "Brightwater",
    "tandem bicycle",
    "Halloran",
    "Juniper",
    "Marigold",
    "Saturday lab hours",
    # Detail values: free text, shown only by --include-phi (by_detail's top values).
    "weekday mornings",
    "parking validation",
]
# Free text that no report carries, even with --include-phi: notes and summaries.
NEVER = [
    "Booked the annual review",
    "referring office",
    "portal message explaining",
]


def day(d: int, hm: str) -> str:
    """A November 2026 time in the practice's zone (EST, -05:00)."""
    return f"2026-11-{d:02d}T{hm}:00-05:00"


def build_week(cli: Staff) -> dict[str, str]:
    """Adds, attempts and closes at fixed times; returns the IDs by letter.

    H was created in October (filed under callbacks/closed/2026-10/) and closes on Monday.
    K is created on Saturday, after the period the tests report on.
    """
    ids: dict[str, str] = {}
    h = cli.add(
        "2026-10-30T16:00:00-04:00",
        "Winifred Achterberg",
        "+15557310408",
        "general",
        "Asks whether the Copperfield lot validates tickets",
        details={"topic": "parking validation"},
    )
    ids["H"] = h
    cli.attempt(
        h,
        "2026-10-30T16:30:00-04:00",
        "phone",
        "no_answer",
        "No answer on the mobile; will try again next week",
    )
    cli.attempt(
        h,
        day(23, "08:30"),
        "phone",
        "reached",
        "Reached patient; answered the parking validation question",
    )
    cli.close(h, day(23, "08:45"), "reached", "Explained parking validation at the desk")

    a = ids["A"] = cli.add(
        day(23, "09:00"),
        "Quillon Farthingale",
        "+15557310401",
        "scheduling",
        "Wants a slot before the Brightwater fair",
        "--mrn",
        "MRNQX7781",
        "--dob",
        "1961-04-17",
    )
    cli.attempt(
        a,
        day(23, "11:00"),
        "phone",
        "left_voicemail",
        "Left minimal voicemail asking for a call back; next try this afternoon",
    )
    cli.attempt(
        a,
        day(23, "15:00"),
        "phone",
        "reached",
        "Reached patient; booked the annual review for December 3",
    )
    cli.close(a, day(23, "15:30"), "reached", "Booked the annual review")

    b = ids["B"] = cli.add(
        day(23, "10:00"),
        "Perpetua Lindqvist",
        "555-731-0402",
        "scheduling",
        "Needs to move the visit after the tandem bicycle race",
    )
    cli.attempt(
        b,
        day(24, "10:00"),
        "phone",
        "no_answer",
        "No answer and no voicemail box; try again this afternoon",
    )
    cli.attempt(
        b,
        day(24, "15:00"),
        "phone",
        "reached",
        "Reached patient; offered Thursday slots, patient will confirm",
    )
    cli.close(b, day(25, "09:00"), "reached", "Patient confirmed the Thursday slot")

    c = ids["C"] = cli.add(
        day(23, "13:00"),
        "Thaddeus Okonkwo-Brill",
        "+1 555 731 0403",
        "referral_status",
        "Asks if the Halloran referral arrived",
        "--source",
        "front_desk",
    )
    cli.ok(
        "block",
        c,
        "--on",
        "referral_documents",
        "--note",
        "Waiting on the referral letter from the referring office",
        now=day(23, "14:00"),
    )

    d = ids["D"] = cli.add(
        day(24, "09:00"),
        "Ignatia Vasquez-Thorne",
        "5557310404",
        "billing",
        "Questions the Juniper statement copay",
    )
    cli.attempt(
        d,
        day(26, "11:00"),
        "phone",
        "no_answer",
        "No answer at the home number; try again later today",
    )
    cli.attempt(
        d,
        day(26, "16:00"),
        "phone",
        "left_voicemail",
        "Left minimal voicemail with the billing line; last try tomorrow",
    )
    cli.attempt(
        d,
        day(27, "09:00"),
        "phone",
        "no_answer",
        "No answer on the third attempt; closing per policy",
    )
    cli.close(d, day(27, "10:00"), "attempts_exhausted", "Three attempts made, none reached")

    e = ids["E"] = cli.add(
        day(25, "10:00"),
        "Bartholomew Eskildsen",
        "5557310405",
        "general",
        "Where to send the Marigold school form",
        "--method",
        "portal",
        "--source",
        "portal",
        details={"topic": "school form"},
    )
    cli.attempt(
        e,
        day(25, "10:30"),
        "portal",
        "message_sent",
        "Sent a portal message explaining where to fax the form",
    )

    f = ids["F"] = cli.add(
        day(26, "09:00"),
        "Perpetua Lindqvist",
        "+1 (555) 731-0402",
        "scheduling",
        "Calling again about the tandem bicycle race visit",
        "--source",
        "voicemail",
    )
    cli.attempt(
        f,
        day(26, "09:30"),
        "phone",
        "reached",
        "Reached patient; confirmed the new visit time again",
    )
    cli.close(f, day(26, "09:45"), "resolved", "Confirmed the visit time")

    g = ids["G"] = cli.add(
        day(27, "09:00"),
        "Quillon Farthingale",
        "5557310407",
        "general",
        "Duplicate entry of the Brightwater request",
        "--mrn",
        "MRNQX7781",
        details={"topic": "duplicate"},
    )
    cli.close(g, day(27, "09:10"), "duplicate", "Duplicate of an earlier callback", "--of", a)

    ids["K"] = cli.add(
        day(28, "08:00"),
        "Zebulon Kettleworth",
        "5557310409",
        "general",
        "Asks about Saturday lab hours",
        details={"topic": "hours"},
    )
    return ids


AFTER_WEEK = day(28, "09:00")  # Saturday morning: the nightly report runs
WEEK = ("--since", "2026-11-23", "--until", "2026-11-27")
