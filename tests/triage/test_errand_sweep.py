"""Sweeps: everyday errands crossed with medicines, services, papers, past events and
numbers (none is raised); red flags wrapped in errands, said by anyone, denied or typed
with a slip (each is read as it should be).

A sweep, not a corpus: it found rules that read a routine request as a red flag (a rescue
inhaler "refilled again", an epipen needed "before the trip", pills "ready" at the
pharmacy). Each sentence is built from a template, so it reads like a hurried note, not
like prose; what matters is that no errand reaches `emergency`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from tests.test_triage_vocabulary import level

WHO = ["pt", "I", "my mom", "her husband"]
ERRANDS = [
    "needs a refill of {o}",
    "wants to pick up {o}",
    "is asking if {o} is ready",
    "needs to reschedule {o}",
    "wants to cancel {o}",
    "needs a form for {o}",
    "has a question about the bill for {o}",
    "wants records of {o}",
    "wants to transfer {o} to another pharmacy",
    "needs prior auth for {o}",
    "asks if insurance covers {o}",
    "wants to book {o}",
    "says {o} went fine, thanks",
]
OBJECTS = [
    "lisinopril", "metformin", "her insulin", "his inhaler", "the test strips",
    "the blood pressure cuff", "the physical", "the mammogram", "a flu shot", "blood work",
    "the cardiology referral", "allergy shots", "her sertraline", "his adderall",
    "the oxycodone", "a new epipen", "the nebulizer", "his eliquis", "the seizure meds",
    "the heart meds", "her sleeping pills", "the stress test", "the CPR class",
    "the hospice paperwork", "the gun permit form", "the life insurance exam",
]  # fmt: skip
ENDINGS = ["", " again", " every month", " not covered", " before the trip", " for school",
           " ready for pickup", ", thanks", " asap", " for good"]  # fmt: skip


@pytest.mark.slow
def test_no_everyday_errand_is_an_emergency() -> None:
    raised = []
    for who, errand, thing, end in itertools.product(WHO, ERRANDS, OBJECTS, ENDINGS):
        text = f"{who} {errand.format(o=thing)}{end}"
        if level(text) == "emergency":
            raised.append(text)
    assert not raised, f"{len(raised)} errands raised to emergency, e.g. {raised[:5]}"


RED_FLAGS = [
    "he has crushing chest pain going down his left arm",
    "she can't catch her breath even sitting still",
    "his face is drooping on one side and his speech is slurred",
    "her lips and tongue are swelling after the new antibiotic",
    "he passed out and won't wake up properly",
    "the baby is 6 weeks old with a fever of 101",
    "she is 30 weeks pregnant and the baby stopped moving",
    "he says he wants to end his life tonight",
    "his sugar is 40 and he is sweaty and confused",
    "he hit his head and is on eliquis and keeps vomiting",
    "his lips look blue",
    "she is cold, clammy and gray",
    "the toddler swallowed a button battery",
    "she found him unresponsive on the floor",
]
WRAPPERS = [
    "calling to reschedule my physical, also {f}",
    "need a refill of lisinopril, btw {f}",
    "question about my bill. oh and {f}",
    "{f}, can you move my appointment to friday",
    "pls cancel tomorrow's visit because {f}",
    "sorry to bother you, probably nothing, but {f}",
    "no fever or cough, but {f}",
    "it is probably just anxiety but {f}",
    "{f}, he says he is fine",
    "sorry for the long message, the kids are fine, I paid the bill, anyway {f}",
]


@pytest.mark.slow
def test_a_red_flag_wrapped_in_an_errand_stays_an_emergency() -> None:
    lowered = []
    for flag, wrapper in itertools.product(RED_FLAGS, ["{f}", *WRAPPERS]):
        text = wrapper.format(f=flag)
        if level(text) != "emergency":
            lowered.append(text)
    assert not lowered, f"{len(lowered)} red flags lost in an errand, e.g. {lowered[:5]}"


PAST_ERRANDS = [
    "needs copies of records from her {c} last year",
    "question about the bill for the ER visit for his {c} in March",
    "referral status to neurology for the follow up after her {c} in 2019",
    "wants a letter saying she is cleared to drive after the {c} two years ago",
    "disability form for his {c} needs the doctor's signature",
    "can you fax the {c} discharge summary to the specialist",
    "her {c} was years ago, she just needs the yearly physical scheduled",
    "life insurance paperwork asks the date of his last {c}",
]
PAST_EVENTS = ["stroke", "seizure", "heart attack", "asthma attack", "fall", "concussion",
               "blood clot", "pneumonia", "anaphylaxis", "miscarriage", "chest pain",
               "fainting episode"]  # fmt: skip


@pytest.mark.slow
def test_papers_about_a_past_event_are_errands() -> None:
    # (a past overdose or suicide attempt stays an emergency unless the paper is named
    # right next to it: self-harm is set aside only by context that close)
    raised = _raised(e.format(c=c) for e, c in itertools.product(PAST_ERRANDS, PAST_EVENTS))
    assert not raised, f"{len(raised)} papers read as a current problem, e.g. {raised[:5]}"


def _raised(texts: Iterable[str]) -> list[str]:
    """The texts triage does not leave `routine`."""
    return [t for t in texts if level(t) != "routine"]


NUMBER_ERRANDS = [
    "appointment is in room {n}, which floor?",
    "copay was ${n}, why so much",
    "member id ends in {n}",
    "the bill says {n} dollars",
    "he weighs {n} lbs, needs the form",
    "her pharmacy is at {n} Main St",
    "order {n} test strips per month",
    "the referral number is {n}",
    "suite {n} is where?",
    "he takes {n} mg of metformin",
    "we drove {n} miles for the visit",
    "she walked {n} steps today",
    "invoice #{n}",
    "the temp agency called about job {n}",
    "heart rate monitor model {n}, covered?",
    "glucose meter {n} test strips refill",
    "the oxygen supplier account {n}",
]
NUMBERS = ["35", "45", "99", "104", "120", "150", "180", "210", "250", "400", "600"]


@pytest.mark.slow
def test_numbers_in_errands_are_not_readings() -> None:
    raised = _raised(e.format(n=n) for e, n in itertools.product(NUMBER_ERRANDS, NUMBERS))
    assert not raised, f"{len(raised)} numbers read as a reading, e.g. {raised[:5]}"


SIGNS = ["chest pain", "shortness of breath", "trouble breathing", "a fever", "fainting",
         "bleeding", "a seizure", "confusion", "vomiting blood", "a severe headache",
         "facial droop", "suicidal thoughts", "slurred speech",
         "swelling of the throat"]  # fmt: skip
DENIED = ["no {f}, just needs the refill", "denies {f}, wants to reschedule",
          "pt has no {f}, only asking about the bill", "without {f}, she only needs a work note",
          "not having any {f}, needs a form filled", "asked about {f}: none",
          "{f}? no. just the paperwork", "never had {f}, needs the school form"]  # fmt: skip


@pytest.mark.slow
def test_a_denied_sign_never_raises_an_emergency() -> None:
    raised = []
    for template, sign in itertools.product(DENIED, SIGNS):
        text = template.format(f=sign)
        if level(text) == "emergency":
            raised.append(text)
    assert not raised, f"{len(raised)} denied signs raised an emergency, e.g. {raised[:5]}"


SLIPPED = [("he can't breathe", "breathe"), ("she has chest pain", "chest"),
           ("he is unconscious", "unconscious"), ("her face is drooping", "drooping"),
           ("he had a seizure", "seizure"), ("she is bleeding heavily", "bleeding"),
           ("he took an overdose", "overdose"), ("she is suicidal", "suicidal"),
           ("his speech is slurred", "slurred"), ("her throat is swelling shut", "swelling"),
           ("the baby is not breathing", "breathing"), ("he is vomiting blood", "vomiting"),
           ("sudden numbness on one side", "numbness")]  # fmt: skip


def _slips(word: str) -> list[str]:
    """One letter dropped, two swapped, or a vowel (or y, r) typed for a letter."""
    out = {word[:i] + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    out |= {word[:i] + c + word[i + 1 :] for i in range(len(word)) for c in "aeiouyr"}
    return sorted(out - {word})


@pytest.mark.slow
def test_red_flags_typed_with_a_slip_are_mostly_read() -> None:
    # a slip that is itself an English word ("breeding", "cheat", "selling") is never read
    # as the triage word, so not every slip can be: at least 92% (787 of 849 when written)
    texts = [s.replace(w, slip) for s, w in SLIPPED for slip in _slips(w)]
    kept = sum(level(t) == "emergency" for t in texts)
    assert kept / len(texts) >= 0.92, f"{kept} of {len(texts)} slips read"


FILLERS = ["no rush {x}", "no worries {x}", "no problem if not today {x}", "not urgent {x}",
           "no big deal {x}", "never mind the bill {x}", "nothing serious {x}",
           "no need to call back today {x}", "no pressure {x}", "no idea why {x}",
           "no one is home with her {x}", "no answer at home {x}", "without her glasses {x}",
           "never had this before {x}"]  # fmt: skip
RUN_ON = ["he has crushing chest pain", "she cant breathe", "his face is drooping",
          "she is bleeding heavily", "he passed out", "the baby is blue",
          "he took a bottle of pills", "she wants to kill herself"]  # fmt: skip


@pytest.mark.slow
def test_a_red_flag_after_a_negated_filler_stays_an_emergency() -> None:
    texts = [f.format(x=x) for f, x in itertools.product(FILLERS, RUN_ON)]
    lowered = [t for t in texts if level(t) != "emergency"]
    assert not lowered, f"{len(lowered)} red flags read as denied, e.g. {lowered[:5]}"


SURFACES = ["lips", "fingertips", "face", "skin", "toes", "nails", "fingers", "hands and feet"]
COLOURS = ["a little blue", "kind of bluish", "purple", "grey", "gray", "dusky", "ashen",
           "white", "mottled", "greyish blue"]  # fmt: skip
SAID = ["his {s} look {c}", "her {s} are turning {c}", "baby's {s} went {c}", "{s} {c} per mom"]


@pytest.mark.slow
def test_a_colour_of_the_skin_lips_or_nails_is_at_least_clinical() -> None:
    texts = [t.format(s=s, c=c) for t, s, c in itertools.product(SAID, SURFACES, COLOURS)]
    routine = [t for t in texts if level(t) == "routine"]
    assert not routine, f"{len(routine)} colours left routine, e.g. {routine[:5]}"


CANCELLING = ["please cancel all my appointments, {x}", "cxl f/u, pt says {x}",
              "wants to close her account, {x}", "stop the refill reminders, {x}",
              "{x}, so no need to reschedule", "cancel tmrw - {x}"]  # fmt: skip
WARNING_SIGNS = ["I won't be around much longer", "I've made my peace with everything",
                 "I'm giving my cat to my sister", "I won't need them after this week",
                 "I've said my goodbyes", "I'm tired of being a burden",
                 "there's no point anymore", "I've put everything in order",
                 "I'm going away for good", "this is the last time you'll hear from me",
                 "it won't matter soon", "I have the pills saved up",
                 "my family will be better off", "I'm done fighting"]  # fmt: skip


@pytest.mark.slow
def test_a_warning_sign_said_while_cancelling_is_an_emergency() -> None:
    texts = [c.format(x=x) for c, x in itertools.product(CANCELLING, WARNING_SIGNS)]
    lowered = [t for t in texts if level(t, "cancellation") != "emergency"]
    assert not lowered, f"{len(lowered)} warning signs filed as errands, e.g. {lowered[:5]}"
