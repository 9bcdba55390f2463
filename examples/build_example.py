"""Rebuild examples/maplewood: a fictional practice's week of callbacks.

Run from the project root: python examples/build_example.py
Every patient, phone number and staff member here is invented (555-01xx numbers).
The store is written through the library, so it is exactly what the tool would write.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from cbtrack import service
from cbtrack.model import (
    AttemptMethod,
    AttemptResult,
    CloseReason,
    ContactMethod,
    DependencyKind,
    Source,
    Urgency,
    VoicemailConsent,
)
from cbtrack.store import Store

TZ = ZoneInfo("America/New_York")
OUT = Path(__file__).resolve().parent / "maplewood"

STAFF = {
    "adiaz": {"name": "Alex Diaz", "roles": ["front_desk"]},
    "bnguyen": {"name": "Bao Nguyen", "roles": ["scheduling"]},
    "cokafor": {"name": "Chidi Okafor", "roles": ["referrals"]},
    "dsmith": {"name": "Dana Smith", "roles": ["billing", "records"]},
    "epark": {"name": "Eun Park RN", "roles": ["clinical"]},
    "flead": {"name": "Frankie Lead", "roles": ["front_desk_lead", "front_desk"]},
}


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=TZ)


def main() -> None:
    tmp = Path(tempfile.mkdtemp()) / "maplewood"
    service.init_store(tmp, "flead", at(20, 8))
    policy_path = tmp / "cbtrack.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    policy.update(
        practice="Maplewood Family Medicine (example)",
        callback_number="+15550100100",
        staff=STAFF,
        holidays=["2026-11-26"],
    )
    policy_path.write_text(
        "# Example policy for a fictional practice; every name and number is invented.\n"
        + yaml.safe_dump(policy, sort_keys=False, allow_unicode=True, width=10_000)
    )
    store = Store(tmp)
    n = iter(range(10, 99))

    def add(who: str, when: datetime, name: str, category: str, reason: str,
            details: dict[str, str], **kw: object) -> str:
        out = service.add(store, who, when, patient=name, phone=f"+1555010{next(n):04d}",
                          category=category, reason=reason, details=details, **kw)  # type: ignore[arg-type]
        return out.record.id

    def tried(cid: str, who: str, when: datetime, result: AttemptResult, note: str,
              method: AttemptMethod = AttemptMethod.phone, **kw: object) -> None:
        service.attempt(store, who, when, cid, method=method, result=result, note=note, **kw)  # type: ignore[arg-type]

    R = AttemptResult
    # --- closed earlier in the week -------------------------------------------------
    c1 = add("adiaz", at(23, 8, 40), "Ada Example", "scheduling", "Annual physical",
             {"visit_type": "annual physical", "availability": "Tuesday or Thursday mornings",
              "provider_preference": "Dr. Rivera"}, source=Source.voicemail)
    tried(c1, "bnguyen", at(23, 9, 15), R.reached,
          "Reached patient; scheduled annual physical with Dr. Rivera for Dec 8 at 9:00")
    service.close(store, "bnguyen", at(23, 9, 20), c1, reason=CloseReason.reached,
                  summary="Annual physical booked for Dec 8 at 9:00 with Dr. Rivera")

    c2 = add("adiaz", at(23, 10), "Ben Sample", "cancellation", "Cancel Friday appointment",
             {"appointment": "Nov 27 14:00 with Dr. Lee", "rebook_wanted": "no"})
    tried(c2, "bnguyen", at(23, 11), R.reached,
          "Reached patient; cancelled the Nov 27 visit, does not want to rebook now")
    service.close(store, "bnguyen", at(23, 11, 5), c2, reason=CloseReason.resolved,
                  summary="Appointment cancelled at the patient's request; no rebooking")

    c3 = add("adiaz", at(23, 13), "Cleo Demo", "billing", "Question about October statement",
             {"statement_date": "2026-10-15", "question_type": "copay charged twice"})
    service.close(store, "dsmith", at(23, 15), c3, reason=CloseReason.routed, to="billing",
                  summary="Routed to billing support with the statement date and question")

    c4 = add("adiaz", at(23, 14), "Dan Fictional", "missed_call", "Missed call, no message",
             {"call_time": "2026-11-23 13:52", "left_message": "no"}, source=Source.missed_call)
    tried(c4, "adiaz", at(23, 14, 30), R.no_answer,
          "No answer, no voicemail box set up; next attempt tomorrow morning")
    tried(c4, "adiaz", at(24, 9, 0), R.no_answer,
          "No answer on second try; will try once more after lunch")
    tried(c4, "adiaz", at(24, 13, 30), R.busy, "Line busy on third try; attempt process complete")
    service.close(store, "flead", at(24, 16), c4, reason=CloseReason.attempts_exhausted,
                  summary="Three attempts over two days without reaching the caller")

    c5 = add("adiaz", at(24, 9), "Eve Testcase", "records_request", "Send records to new dentist",
             {"records_requested": "immunization history", "destination": "dental office"})
    service.close(store, "dsmith", at(24, 10), c5, reason=CloseReason.duplicate,
                  summary="Same request already logged from the patient portal")

    # --- open: a spread of statuses and urgencies -----------------------------------
    add("adiaz", at(27, 8, 5), "Finn Mockwell", "general", "Says he has chest pain right now",
        {"topic": "symptoms"}, source=Source.phone)

    o2 = add("adiaz", at(27, 8, 20), "Gia Specimen", "clinical_concern",
             "Rash on both arms after starting new antibiotic",
             {"concern_summary": "rash after new antibiotic", "onset": "two days ago"},
             method=ContactMethod.phone, voicemail=VoicemailConsent.detailed)
    tried(o2, "epark", at(27, 8, 45), R.left_voicemail,
          "Left voicemail with the approved script asking patient to call the nurse line")

    o3 = add("adiaz", at(27, 7, 55), "Hal Dummy", "prescription", "Refill for blood pressure pills",
             {"medication": "lisinopril", "pharmacy": "Main St pharmacy", "request_type": "refill"},
             source=Source.portal, method=ContactMethod.portal)
    service.assign(store, "flead", at(27, 8, 0), o3, owner="epark",
                   note="Eun covers refill requests today")

    o4 = add("adiaz", at(24, 15), "Iris Notreal", "referral_status",
             "Where is my cardiology referral", {
                 "receipt_status": "not received by cardiology",
                 "missing_documents": "recent ECG and visit note",
                 "next_expected_update": "2026-11-30"})
    service.block(store, "cokafor", at(24, 16), o4, kind=DependencyKind.referral_documents,
                  note="Cardiology needs the ECG and last visit note before booking")
    tried(o4, "cokafor", at(25, 10), R.reached,
          "Reached patient; explained referral waits on ECG copy; update by Monday",
          next_action="Send ECG to cardiology, then confirm receipt")

    o5 = add("adiaz", at(25, 9), "Jon Doe-Example", "insurance", "Is my new plan accepted",
             {"plan": "Example Health Silver", "question_type": "in network?",
              "verification_needed": "yes"})
    service.block(store, "dsmith", at(25, 9, 30), o5, kind=DependencyKind.insurance_eligibility,
                  note="Eligibility check submitted to the payer portal")

    o6 = add("adiaz", at(25, 11), "Kay Sampleton", "scheduling", "New patient visit for knee",
             {"visit_type": "new patient, knee", "availability": "after 3pm weekdays",
              "provider_preference": "any", "deadline": "before Dec 15 surgery consult"},
             window="15:00-19:00", urgency=Urgency.deadline)
    tried(o6, "bnguyen", at(25, 15, 10), R.left_voicemail,
          "Left voicemail asking patient to call scheduling line; next attempt tomorrow afternoon")
    tried(o6, "bnguyen", at(27, 15, 5), R.no_answer,
          "No answer at 3pm; will try again Monday after 3pm as she asked")

    o7 = add("adiaz", at(25, 14), "Leo Placeholder", "rescheduling", "Needs to move Tuesday visit",
             {"current_appointment": "Dec 1 10:30 with Dr. Lee",
              "availability": "any morning next week"}, urgency=Urgency.time_sensitive)
    tried(o7, "bnguyen", at(25, 15), R.reached,
          "Reached patient; he will check his work schedule and call back by Friday",
          response="Will call back once he knows his shifts")

    add("adiaz", at(27, 9, 10), "Mia Testwell", "intake_form", "Cannot open the intake form link",
        {"form_name": "new patient intake", "problem": "link expired"},
        source=Source.portal, method=ContactMethod.email)

    o9 = add("adiaz", at(27, 9, 20), "Ned Mockery", "post_visit", "Questions after knee injection",
             {"visit_date": "2026-11-24", "follow_up_topic": "activity after injection"})
    service.set_urgency(store, "epark", at(27, 9, 40), o9, level=Urgency.same_day,
                        why="Nurse wants to reach him before his trip tomorrow")

    o10 = add("adiaz", at(20, 10), "Ola Fakename", "billing", "Payment plan request",
              {"statement_date": "2026-11-01", "question_type": "payment plan"})
    tried(o10, "dsmith", at(20, 14), R.no_answer,
          "No answer; voicemail full; next attempt Monday morning")
    service.apply_triage(store, "flead", at(25, 16), [o10])

    o11 = add("adiaz", at(26, 18, 30), "Pat Imaginary", "missed_call",
              "After-hours missed call, left short message",
              {"call_time": "2026-11-26 18:25", "left_message": "yes, asked for a callback"},
              source=Source.voicemail, voicemail=VoicemailConsent.none)
    tried(o11, "adiaz", at(27, 8, 30), R.no_answer,
          "No answer; no voicemail left per patient preference; try again after 12:30")

    add("adiaz", at(27, 9, 30), "Quin Example", "general", "Asks where to park for the new office",
        {"topic": "parking and directions"}, source=Source.front_desk)

    o13 = add("adiaz", at(27, 9, 35), "Rae Sample", "records_request",
              "Records for disability paperwork",
              {"records_requested": "last two visit notes", "destination": "employer HR"})
    service.block(store, "dsmith", at(27, 9, 50), o13, kind=DependencyKind.patient_form,
                  note="Signed release form not yet returned by patient")

    o14 = add("adiaz", at(27, 9, 45), "Sol Dummyson", "general", "Fever of 102 and cough since Sunday",
              {"topic": "symptoms"}, language="Spanish")
    tried(o14, "epark", at(27, 10, 0), R.reached,
          "Reached patient via interpreter line; nurse advice given, booked sick visit at 14:00",
          method=AttemptMethod.phone)

    o15 = add("adiaz", at(26, 12), "Tia Notperson", "referral_status", "Dermatology referral status",
              {"receipt_status": "received", "missing_documents": "none",
               "next_expected_update": "2026-12-02"})
    service.block(store, "cokafor", at(26, 12, 30), o15, kind=DependencyKind.provider_review,
                  note="Dermatology reviewing before offering a date")
    service.unblock(store, "cokafor", at(27, 9, 0), o15, note="Dermatology offered Dec 9")
    tried(o15, "cokafor", at(27, 9, 5), R.message_sent,
          "Sent portal message with the Dec 9 dermatology offer; waiting for reply",
          method=AttemptMethod.portal)

    add("adiaz", at(27, 9, 50), "Uma Fiction", "scheduling", "Follow-up for thyroid labs",
        {"visit_type": "lab follow-up", "availability": "Fridays", "provider_preference": "Dr. Lee"},
        source=Source.provider)

    o17 = add("adiaz", at(24, 10), "Vic Exemplar", "cancellation", "Cancel and rebook physical",
              {"appointment": "Dec 2 08:00", "rebook_wanted": "yes"})
    tried(o17, "bnguyen", at(24, 11), R.wrong_number,
          "Number on file reaches a business; need a new number from the portal profile")
    service.add_note(store, "bnguyen", at(24, 11, 5), o17,
                     note="Sent portal message asking the patient to update phone number")

    add("adiaz", at(27, 9, 55), "Wes Madeup", "clinical_concern", "Dizzy when standing up",
        {"concern_summary": "dizziness on standing", "onset": "this morning"})

    o19 = add("adiaz", at(23, 16), "Xena Prototype", "insurance", "Prior authorization for MRI",
              {"plan": "Example Care PPO", "question_type": "prior authorization",
               "verification_needed": "yes"}, urgency=Urgency.deadline)
    tried(o19, "dsmith", at(24, 9), R.reached,
          "Reached patient; PA submitted, payer answer expected in 3 business days")
    service.block(store, "dsmith", at(24, 9, 10), o19, kind=DependencyKind.other,
                  note="Payer prior authorization decision pending")

    add("adiaz", at(27, 10, 0), "Yan Testfield", "prescription", "Side effect from new statin",
        {"medication": "atorvastatin", "pharmacy": "Oak Ave pharmacy",
         "request_type": "problem"})

    # copy the store (without its git folder) into examples/
    if OUT.exists():
        shutil.rmtree(OUT)
    shutil.copytree(tmp, OUT, ignore=shutil.ignore_patterns(".git", ".cbtrack", ".gitkeep"))
    for sub in ("callbacks/open", "callbacks/closed"):
        (OUT / sub / ".gitkeep").touch()
    shutil.rmtree(tmp.parent)
    print(f"wrote {sum(1 for _ in OUT.rglob('cb-*.yaml'))} callbacks to {OUT}")


if __name__ == "__main__":
    main()
