"""The policy applied to callbacks: new records, urgency floors, routing, escalation,
attempt limits, closing rules and the queue's ranking. Pure: `now` is passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cbtrack import clock, timing
from cbtrack.errors import Refused
from cbtrack.model import (
    CLINICAL_URGENCIES,
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    EventType,
    Status,
    Urgency,
    VoicemailConsent,
)
from cbtrack.policy import CLINICAL_ROLE, Policy, TriageRule

# --- triage rules --------------------------------------------------------------------


def matching_rule(policy: Policy, texts: list[str]) -> TriageRule | None:
    """The highest-urgency rule that the texts match (the built-in rules first on a tie).
    A negated match ("no fever") is set aside. A denied match of a rule no negation sets
    aside ("denies suicidal thoughts") still reaches `clinical`, routed as the rule routes:
    a clinician looks, without the emergency protocol."""
    rules = {r.name: r for r in policy.triage_rules}
    best: TriageRule | None = None
    for found in policy.matcher.match(texts):
        rule = rules[found.rule]
        if found.denied and policy.rank(rule.urgency) > policy.rank(Urgency.clinical):
            rule = rule.model_copy(
                update={"urgency": Urgency.clinical, "next_action": DENIED_NEXT_ACTION}
            )
        elif found.negated:
            continue
        if best is None or policy.rank(rule.urgency) > policy.rank(best.urgency):
            best = rule
    return best


def triage_texts(reason: str, details: dict[str, str], notes: Iterable[str] = ()) -> list[str]:
    """What triage reads: the reason, every detail value and the notes staff wrote."""
    return [reason, *details.values(), *notes]


def record_texts(cb: Callback) -> list[str]:
    notes = [e.note for e in cb.events if e.type in (EventType.note, EventType.edited) and e.note]
    return triage_texts(cb.reason, cb.details, notes)


def higher(policy: Policy, a: Urgency, b: Urgency) -> Urgency:
    return a if policy.rank(a) >= policy.rank(b) else b


def clinician_set_urgency(policy: Policy, cb: Callback) -> bool:
    """True when staff with the clinical role set this callback's urgency themselves (on
    `add`, or with `urgency`): their judgement stands and triage does not override it."""
    return any(e.type == EventType.urgency_changed and policy.is_clinical(e.by) for e in cb.events)


def triage_floor(policy: Policy, cb: Callback) -> tuple[Urgency, TriageRule | None]:
    """What triage decides: the category's urgency, raised by any matching phrase rule."""
    cat = policy.categories.get(cb.category)
    base = cat.urgency if cat else Urgency.routine
    if cb.deadline_at is not None:
        base = timing.deadline_floor(policy, base)
    rule = matching_rule(policy, record_texts(cb))
    return (higher(policy, base, rule.urgency) if rule else base), rule


@dataclass
class Intake:
    """What triage decides for a new callback."""

    urgency: Urgency
    floor: Urgency  # what the category and the phrase rules call for
    owner: str
    due_at: datetime
    next_action: str
    rule: TriageRule | None
    judged: bool  # a clinician chose an urgency below the floor, and it stands
    triaged: bool  # a rule raised the urgency or routed the callback
    warnings: list[str]
    answered: bool = False  # the rule came from a 'yes' to the symptoms question
    red_flag: bool = False  # the rule came from a 'yes' to the red-flag checklist


def intake(
    policy: Policy,
    actor: str,
    category: str,
    reason: str,
    details: dict[str, str],
    urgency: Urgency | None,
    owner: str | None,
    due: datetime | None,
    created: datetime,
    notes: Iterable[str] = (),
    symptoms: bool | None = None,
    red_flags: bool | None = None,
) -> Intake:
    """Urgency, owner and due time for a new callback: the category's defaults, raised and
    routed by the triage rules (reading the reason, the details and the notes) and by the
    answers to the symptoms question and the red-flag checklist; only clinical staff may
    choose an urgency below that."""
    cat = policy.categories[category]
    rule = matching_rule(policy, triage_texts(reason, details, notes))
    rule, answered, red_flag = _answered_rule(policy, rule, symptoms, red_flags)
    floor = higher(policy, cat.urgency, rule.urgency) if rule else cat.urgency
    warnings: list[str] = []
    chosen = urgency or cat.urgency
    below = policy.rank(chosen) < policy.rank(floor)
    judged = below and urgency is not None and policy.is_clinical(actor)
    if below and not judged:
        if urgency:
            warnings.append(
                f"Triage raised the urgency to {floor.value}; only clinical staff can set it lower."
            )
        chosen = floor
    routed_to = rule.route_to if rule and rule.route_to and not judged else None
    final_owner = _routed_owner(policy, owner, cat.owner, routed_to, warnings)
    rule_due = due_for(policy, chosen, created)
    due_at = rule_due if due is None else due.astimezone(policy.tz)
    if due is not None and rule and due > rule_due:
        warnings.append("Triage moved the due time earlier to match the urgency.")
        due_at = rule_due
    raised = rule is not None and policy.rank(rule.urgency) > policy.rank(cat.urgency)
    return Intake(
        urgency=chosen,
        floor=floor,
        owner=final_owner,
        due_at=due_at,
        next_action=rule.next_action if rule and rule.next_action else cat.next_action,
        rule=rule,
        judged=judged,
        triaged=raised or routed_to is not None,
        warnings=warnings,
        answered=answered,
        red_flag=red_flag,
    )


def _routed_owner(
    policy: Policy, owner: str | None, default: str, routed_to: str | None, warnings: list[str]
) -> str:
    """The owner after triage's routing: the one given (or the category's), unless a rule
    routes the callback to a role that owner does not hold."""
    chosen = owner or default
    if routed_to and chosen != routed_to and not _owned_by_role(policy, chosen, routed_to):
        if owner:
            warnings.append(f"Triage routed this callback to {routed_to}, not {owner}.")
        return routed_to
    return chosen


def _answered_rule(
    policy: Policy, rule: TriageRule | None, symptoms: bool | None, red_flags: bool | None
) -> tuple[TriageRule | None, bool, bool]:
    """The rule the answers apply when they ask for more than the words: (rule, whether it
    came from an answer, whether from the red-flag checklist)."""
    if red_flags and (rule is None or rule.urgency != Urgency.emergency):
        return red_flags_rule(), True, True
    if symptoms and (rule is None or policy.rank(rule.urgency) < policy.rank(Urgency.clinical)):
        return symptoms_rule(policy), True, False
    return rule, False, False


SYMPTOMS_RULE = "symptoms"
DENIED_NEXT_ACTION = "Clinician reviews today: the patient denied it, but it was raised"


def symptoms_rule(policy: Policy) -> TriageRule:
    """The rule a 'yes' to the symptoms question applies: at least clinical, to clinical."""
    return next(r for r in policy.triage_rules if r.name == SYMPTOMS_RULE)


RED_FLAGS_RULE = "red_flags"


def red_flags_rule() -> TriageRule:
    """The rule a 'yes' to the red-flag checklist applies: emergency, to clinical."""
    return TriageRule.model_construct(
        name=RED_FLAGS_RULE,
        label="A sign on the practice's red-flag checklist",
        urgency=Urgency.emergency,
        route_to=CLINICAL_ROLE,
        next_action="Clinician calls now; emergency script",
        patterns=[],
        phrases=[],
        readings=[],
        requires=[],
        negatable=False,
    )


def intake_level(
    policy: Policy, category: str, reason: str, details: dict[str, str], notes: Iterable[str]
) -> Urgency:
    """What the category and the words alone make a new callback (before any question)."""
    cat = policy.categories.get(category)
    rule = matching_rule(policy, triage_texts(reason, details, notes))
    level = cat.urgency if cat else Urgency.routine
    return higher(policy, level, rule.urgency) if rule else level


def due_for(policy: Policy, urgency: Urgency, start: datetime) -> datetime:
    return policy.calendar.add_duration(start, policy.urgencies[urgency].due)


# --- checks shared by commands ------------------------------------------------------


def check_category(policy: Policy, category: str) -> None:
    if category not in policy.categories:
        names = ", ".join(sorted(policy.categories))
        raise Refused(f"Unknown category '{category[:40]}'; use one of: {names}.")


def check_details(policy: Policy, category: str, details: dict[str, str]) -> list[str]:
    """Refuse missing required details; return a warning for fields the policy does not name."""
    cat = policy.categories[category]
    missing = [k for k in cat.required_details if not details.get(k, "").strip()]
    if missing:
        flags = " ".join(f"--detail {k}=..." for k in missing)
        raise Refused(f"A {category} callback needs {', '.join(missing)}; add {flags}.")
    allowed = set(cat.required_details) | set(cat.optional_details)
    extra = sorted(set(details) - allowed)
    if not extra:
        return []
    import difflib

    known = [*cat.required_details, *cat.optional_details]
    warnings = []
    unnamed = 0
    for key in extra:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", key):
            unnamed += 1  # not a field name: may be free text, so it is not repeated
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        warnings.append(
            f"detail {key} is not one of the {category} fields ({', '.join(known)}); "
            f"kept as given.{hint}"
        )
    if unnamed:
        warnings.append(
            f"{unnamed} detail field(s) given are not among the {category} fields "
            f"({', '.join(known)}); kept as given."
        )
    return warnings


def check_owner(policy: Policy, owner: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", owner) or not policy.accepts_owner(owner):
        raise Refused(
            f"'{owner[:40]}' is not a role or staff user in the policy; use one of: "
            f"{', '.join(sorted(set(policy.roles) | set(policy.staff)))}."
        )


def check_role(policy: Policy, role: str) -> None:
    if role not in policy.roles:
        raise Refused(
            f"'{role[:40]}' is not a role in the policy; "
            f"use one of: {', '.join(sorted(policy.roles))}."
        )


def check_user(policy: Policy, user: str | None) -> str:
    """The acting user: required for changes, and on the roster where there is one, as
    the roster spells it (`Policy.staff_key`: a name matches in any case)."""
    if not user:
        raise Refused("Say who you are with --as USER or by setting CBTRACK_USER.")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", user):
        raise Refused("A user name may hold only letters, digits, '.', '_' and '-'.")
    user = policy.staff_key(user)
    if policy.roster_enforced and user not in policy.staff:
        raise Refused(
            f"'{user}' is not on the practice's staff list; ask the lead to add you to "
            "staff in cbtrack.yaml."
        )
    return user


def check_open(cb: Callback) -> None:
    if not cb.is_open:
        raise Refused(
            f"{cb.id} is closed; reopen it first with 'cbtrack reopen {cb.id} --why ...'."
        )


# --- clinical guardrails -------------------------------------------------------------


def is_clinical_owner(policy: Policy, owner: str) -> bool:
    return owner == CLINICAL_ROLE or policy.is_clinical(owner)


def check_clinical_handover(
    policy: Policy, cb: Callback, actor: str, new_owner: str | None = None, closing: bool = False
) -> None:
    """With a roster, only clinical staff may close a clinical or emergency callback or hand
    it to an owner outside the clinical role."""
    if cb.urgency not in CLINICAL_URGENCIES or not policy.roster_enforced:
        return
    if policy.is_clinical(actor):
        return
    if closing:
        raise Refused(
            f"{cb.id} is {cb.urgency.value}: only staff with the {CLINICAL_ROLE} role can close "
            "it; ask a clinician to close it."
        )
    if new_owner not in (None, cb.owner) and not is_clinical_owner(policy, str(new_owner)):
        raise Refused(
            f"{cb.id} is {cb.urgency.value}: only staff with the {CLINICAL_ROLE} role can hand it "
            f"to {new_owner}; give it to {CLINICAL_ROLE} or ask a clinician."
        )


# --- urgency -----------------------------------------------------------------------


def check_urgency_change(policy: Policy, cb: Callback, level: Urgency, user: str) -> None:
    """Anyone may raise; lowering clinical or emergency, or below triage, needs a clinical role."""
    if policy.rank(level) >= policy.rank(cb.urgency) or policy.is_clinical(user):
        return
    if cb.urgency in CLINICAL_URGENCIES:
        raise Refused(
            f"Only staff with the clinical role can lower {cb.urgency.value} urgency; "
            "ask a clinician to review it."
        )
    floor, _ = triage_floor(policy, cb)
    if policy.rank(level) < policy.rank(floor):
        raise Refused(
            f"Triage set this callback to at least {floor.value}; only staff with the "
            "clinical role can set it lower."
        )


# --- attempts ----------------------------------------------------------------------


@dataclass
class AttemptCheck:
    """Limits an attempt passes (allowed only with --force) and warnings to show."""

    limits: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    script: str | None = None


SPECIFIC_NOTE_MIN_WORDS = 3
VAGUE_NOTES = {
    "called",
    "call",
    "tried",
    "done",
    "lvm",
    "vm",
    "left vm",
    "left voicemail",
    "no answer",
    "na",
    "n/a",
    "ok",
    "busy",
    "called patient",
    "called pt",
    "attempted",
    "texted",
    "emailed",
}


VOICEMAIL_SCRIPTS = {
    VoicemailConsent.minimal: ("voicemail_minimal",),
    VoicemailConsent.detailed: ("voicemail_detailed", "voicemail_minimal"),
}


def check_attempt(
    policy: Policy, cb: Callback, attempt: Attempt, now: datetime, script: str | None = None
) -> AttemptCheck:
    """Refuse what no force can pass; list the policy limits that --force may pass."""
    check_open(cb)
    note = attempt.note.strip().lower().rstrip(".!")
    if note in VAGUE_NOTES or len(note.split()) < SPECIFIC_NOTE_MIN_WORDS:
        raise Refused(
            "The note must say what happened and what comes next (for example 'Left voicemail "
            "asking patient to call scheduling line; next attempt tomorrow morning')."
        )
    result = AttemptResult(attempt.result)
    method = AttemptMethod(attempt.method)
    out = AttemptCheck()
    if result == AttemptResult.left_voicemail:
        if method != AttemptMethod.phone:
            raise Refused("A voicemail can only be left on a phone attempt; use --method phone.")
        if cb.patient.voicemail == VoicemailConsent.none:
            raise Refused(
                "This patient has not agreed to voicemail; record the attempt as no_answer "
                "and try another method."
            )
        allowed = VOICEMAIL_SCRIPTS[cb.patient.voicemail]
        if script and script not in allowed:
            raise Refused(
                f"With {cb.patient.voicemail.value} voicemail consent only the "
                f"{' or '.join(allowed)} script may be left; nothing else goes in the message."
            )
        out.script = script or allowed[0]
    elif script:
        raise Refused("--script names the voicemail script; use it with --result left_voicemail.")
    if result == AttemptResult.message_sent and method == AttemptMethod.phone:
        raise Refused("On a phone attempt a message left is left_voicemail, not message_sent.")
    if cb.open_dependencies:
        kinds = ", ".join(d.kind.value for d in cb.open_dependencies)
        out.warnings.append(f"This callback still waits on {kinds}; the answer may not be ready.")
    if not method.outbound:
        return out
    if result != AttemptResult.reached:  # a call the patient answered breached no timing rule
        out.limits.extend(_timing_limits(policy, cb, method, now))
    if len(cb.outbound_attempts) >= policy.attempts.max:
        out.limits.append(f"the policy's {policy.attempts.max} attempts are already made")
    return out


def _timing_limits(policy: Policy, cb: Callback, method: AttemptMethod, now: datetime) -> list[str]:
    """Call hours, the patient's window, and the spacing since the last attempt to the
    number on file (a corrected phone starts the spacing afresh)."""
    limits = []
    local = now.astimezone(policy.tz)
    if not clock.in_window(local, policy.call_hours):
        limits.append(f"it is outside the practice's call hours ({policy.call_hours})")
    window = cb.patient.contact_window
    if window and method == AttemptMethod.phone and not clock.in_window(local, window):
        limits.append(f"it is outside the patient's contact window ({window})")
    corrected = cb.phone_corrected_at
    previous = [a.at for a in cb.outbound_attempts if corrected is None or a.at > corrected]
    if previous:
        spacing = policy.spacing(cb.urgency)
        if now - max(previous) < clock.wall_delta(spacing):
            limits.append(f"the last attempt was less than {spacing} ago")
    return limits


def next_attempt_time(policy: Policy, cb: Callback, now: datetime) -> datetime | None:
    """When the callback should next be tried: after the minimum spacing, within call hours
    and the patient's window; None once reached or the attempt process is complete."""
    if cb.was_reached or attempts_complete(policy, cb) or cb.number_is_wrong:
        return None
    return callable_time(
        policy, cb, now.astimezone(policy.tz) + clock.wall_delta(policy.spacing(cb.urgency))
    )


def callable_time(policy: Policy, cb: Callback, moment: datetime) -> datetime:
    """`moment`, or the first time after it on a business day, inside the call hours and
    the patient's window (a suggestion: staff may still call on other days)."""
    cal = policy.calendar
    for _ in range(8):
        if not cal.is_business_day(moment.date()):
            start = clock.parse_window(policy.call_hours)[0]
            moment = datetime.combine(cal.next_business_day(moment.date()), start, moment.tzinfo)
        moment = clock.next_in_window(moment, policy.call_hours)
        if cb.patient.contact_window:
            moment = clock.next_in_window(moment, cb.patient.contact_window)
        if clock.in_window(moment, policy.call_hours) and cal.is_business_day(moment.date()):
            break
    return moment


def attempts_complete(policy: Policy, cb: Callback) -> bool:
    return len(cb.outbound_attempts) >= policy.attempts.max


# --- closing -----------------------------------------------------------------------


def check_close(policy: Policy, cb: Callback, reason: CloseReason, to: str | None) -> None:
    check_open(cb)
    if reason == CloseReason.reached and not cb.reached_since_reopen:
        raise Refused(
            "Close as reached needs an attempt whose result is reached; record it with "
            "'cbtrack attempt ... --result reached' first."
        )
    if reason == CloseReason.attempts_exhausted and not attempts_complete(policy, cb):
        made = len(cb.outbound_attempts)
        raise Refused(
            f"Close as attempts_exhausted needs {policy.attempts.max} outbound attempts and "
            f"{made} {'is' if made == 1 else 'are'} recorded; keep trying or pick another reason."
        )
    if reason == CloseReason.routed:
        if not to:
            raise Refused("Close as routed needs the role it went to; add --to ROLE.")
        check_role(policy, to)
    elif to:
        raise Refused("--to is only for --reason routed.")


# --- triage of existing callbacks ---------------------------------------------------


@dataclass
class Change:
    """One planned change to one callback, applied by `apply_change`."""

    type: EventType
    note: str
    fields: dict[str, object]


def plan_triage(policy: Policy, cb: Callback, now: datetime) -> list[Change]:
    """Raise urgency and route per the rules; escalate when overdue."""
    plan: list[Change] = []
    if not cb.is_open:
        return plan
    floor, rule = triage_floor(policy, cb)
    if clinician_set_urgency(policy, cb):
        floor, rule = cb.urgency, None
    urgency = cb.urgency
    fields: dict[str, object] = {}
    if policy.rank(floor) > policy.rank(cb.urgency):
        urgency = floor
        fields["urgency"] = floor
        fields["due_at"] = min(cb.due_at, due_for(policy, floor, cb.created_at))
    if rule and rule.next_action and "urgency" in fields:
        fields["next_action"] = rule.next_action
    if (
        rule
        and rule.route_to
        and cb.owner != rule.route_to
        and not _owned_by_role(policy, cb.owner, rule.route_to)
    ):
        fields["owner"] = rule.route_to
    if fields:
        why = f"rule {rule.name}" if rule else f"category {cb.category} default"
        plan.append(Change(EventType.triaged, f"Triage by {why}", fields))
    due = fields.get("due_at", cb.due_at)
    assert isinstance(due, datetime)
    late = timing.lateness_note(policy, cb, now)
    if cb.status != Status.escalated and (
        late or (due < now and not timing.paused(policy, cb, now))
    ):
        owner = str(fields.get("owner", cb.owner))
        esc: dict[str, object] = {"status": Status.escalated}
        clinical_owner = owner == CLINICAL_ROLE or policy.is_clinical(owner)
        note = late or f"Overdue since {due.astimezone(policy.tz):%a %Y-%m-%d %H:%M}"
        if owner in policy.staff and owner != policy.escalation_owner:
            # A person owns it: they keep it, and the escalation owner is told.
            note += f"; {policy.escalation_owner} notified, {owner} keeps it"
        elif (
            urgency not in CLINICAL_URGENCIES
            and not clinical_owner
            and (owner != policy.escalation_owner)
        ):
            esc["owner"] = policy.escalation_owner
        plan.append(Change(EventType.escalated, note, esc))
    return plan


def plan_answers(
    policy: Policy, cb: Callback, symptoms: bool | None, red_flags: bool | None
) -> Change | None:
    """What a later 'yes' to the symptoms question or the red-flag checklist changes (on
    `edit`, when the patient says more): at least clinical, or emergency, to clinical."""
    if red_flags:
        rule, why = red_flags_rule(), "staff answered yes to the red-flag checklist"
    elif symptoms:
        rule, why = symptoms_rule(policy), "staff answered yes to the symptoms question"
    else:
        return None
    fields: dict[str, object] = {}
    if policy.rank(rule.urgency) > policy.rank(cb.urgency):
        fields["urgency"] = rule.urgency
        fields["due_at"] = min(cb.due_at, due_for(policy, rule.urgency, cb.created_at))
        if rule.next_action:
            fields["next_action"] = rule.next_action
    route = rule.route_to
    if route and cb.owner != route and not _owned_by_role(policy, cb.owner, route):
        fields["owner"] = route
    return Change(EventType.triaged, f"Triage by {why}", fields) if fields else None


def _owned_by_role(policy: Policy, owner: str, role: str) -> bool:
    """A staff user who holds `role` already satisfies routing to that role."""
    return role in policy.roles_of(owner)


def apply_change(cb: Callback, change: Change, now: datetime, user: str) -> None:
    cb.change(now, user, change.type, change.note, **change.fields)


# --- the queue ---------------------------------------------------------------------


def rank_queue(policy: Policy, records: list[Callback]) -> list[Callback]:
    """The records in the queue's order (`indexrow.rank_key`)."""
    from cbtrack.indexrow import rank_key

    ranks = {u.value: policy.rank(u) for u in Urgency}
    return sorted(
        records,
        key=lambda cb: rank_key(
            ranks, cb.urgency.value, cb.due_at.timestamp(), cb.created_at.timestamp()
        ),
    )
