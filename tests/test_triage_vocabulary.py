"""The wider vocabulary, kind by kind: what the patient cannot do, colour and circulation,
suicide warning signs, every reading (heart rate too) with clinical bands below the
emergency ones, out-of-range labs, complaints from every body system, and context that is
not a current problem. These phrasings were written for the tests, not taken from the
corpora."""

from __future__ import annotations

from datetime import datetime

import pytest

from cbtrack import triage
from cbtrack.policy import Policy
from cbtrack.readings import readings_in
from cbtrack.words import Token, tokenize

POLICY = Policy.default()
CREATED = datetime.fromisoformat("2026-11-27T10:00:00-05:00")


def level(text: str, category: str = "general") -> str:
    details = {k: "see reason" for k in POLICY.categories[category].required_details}
    plan = triage.intake(POLICY, "jlee", category, text, details, None, None, None, CREATED)
    return plan.urgency.value


def at_least_clinical(text: str) -> bool:
    return level(text) in ("clinical", "emergency")


# --- the phrases quoted in the issue ---------------------------------------------------


def test_blue_lips_and_fingertips_are_an_emergency() -> None:
    assert level("his lips and fingertips look a little blue") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "she is really pale and clammy and sweating a lot",
        "cold and clammy",
        "gray and sweaty",
    ],
)
def test_the_issues_circulation_phrases_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


# --- kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "too winded to finish what she is saying",
        "can only get out two or three words at a time",
        "we cant keep him awake, keeps nodding off",
        "cant feel or move her legs after the fall",
        "grandpa cant swallow his own spit",
        "she doesnt know where she is since lunch",
        "he cant hold his head up",
    ],
)
def test_ability_red_flags_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "lips look purplish",
        "baby went dusky while feeding",
        "looks ashen and is sweating",
        "pale, clammy and cold",
        "skin mottled and cold",
    ],
)
def test_colour_and_circulation_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "he has been giving away all his things",
        "she wrote letters to each of her kids",
        "says everyone would be better off without him",
        "has a plan to overdose on his pills",
        "stockpiling her sleeping pills",
        "posted a goodbye message to all her friends",
    ],
)
def test_suicide_warning_signs_are_emergencies_whatever_the_negation(text: str) -> None:
    assert level(text) == "emergency"
    assert level(f"no fever, {text}") == "emergency"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("pulse 150 and dizzy", "emergency"),
        ("heart rate 38", "emergency"),
        ("hr in the 160s", "emergency"),
        ("pulse 112 at rest", "clinical"),
        ("bp 146/92 at the pharmacy", "clinical"),
        ("bp 205/100", "emergency"),
        ("bp 178/124", "emergency"),
        ("sugar 260 all week", "clinical"),
        ("sugar 62 this morning", "clinical"),
        ("sugar 45 and shaky", "emergency"),
        ("sugar 480", "emergency"),
        ("o2 93 on the home monitor", "clinical"),
        ("temp 94.5", "clinical"),
        ("temp 105.4", "emergency"),
        ("meter just says HI", "emergency"),
    ],
)
def test_readings_have_clinical_bands_below_the_emergency_thresholds(text: str, want: str) -> None:
    assert level(text) == want


def test_a_heart_rate_is_not_read_from_hours_or_a_blood_pressure() -> None:
    def kinds(text: str) -> list[tuple[str, float]]:
        spelling = POLICY.matcher.spelling
        tokens: list[Token] = tokenize(text, spelling)
        return [(m.kind, m.value) for m in readings_in(text, tokens)]

    assert ("heart_rate", 150) not in kinds("bp 150/90 pulse 88")
    assert ("heart_rate", 88) in kinds("bp 150/90 pulse 88")
    assert not [k for k in kinds("bleeding for 24 hr") if k[0] == "heart_rate"]
    assert not [k for k in kinds("rated the pain 8") if k[0] == "heart_rate"]


@pytest.mark.parametrize(
    "text",
    [
        "potassium came back high",
        "a1c 9.1",
        "lab says her sodium is low",
        "pap came back abnormal",
        "mammogram called her back for more pictures",
        "platelets low on mychart",
        "my test came back abnormal, doctor wants a call",
        "ekg was not normal per the urgent care",
    ],
)
def test_out_of_range_labs_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "night sweats for two weeks",  # general
        "mole changed shape",  # skin
        "eyes gritty and red",  # eyes
        "ear feels plugged, cant hear out of it",  # ears, nose, throat
        "heart skipping beats",  # heart and lungs
        "ankles puffy by evening",
        "heartburn every night",  # digestion
        "peeing all the time",  # urinary
        "knee swollen and stiff",  # muscles and joints
        "pins and needles in both hands",  # nerves
        "feeling low and cant sleep",  # mood and sleep
        "new statin making him achy",  # medication
    ],
)
def test_every_body_system_reaches_clinical(text: str) -> None:
    assert at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "wants records of his stroke from 2019 for life insurance",
        "move seizure meds to the new pharmacy",
        "asks if we run suicide prevention talks for schools",
        "wants the heart attack warning signs pamphlet",
        "fmla paperwork for her recovery from heart attack in january",
        "no fever, no rash, wants a school note",
        "cancel tomorrow, her fever broke",
        "asks if dr gray takes new patients",
        "does the office take blue cross",
        "alarm did not wake him up so he missed his appt",
        "she can't wake up that early, please move her to the afternoon",
        "gave us her password, wants a portal reset",
        "he fell behind on his bills, asking for a payment plan",
        "requesting a note for school, was out sick with a cold last week",
        "called to say thanks, the stitches came out fine",
    ],
)
def test_context_that_is_not_a_current_problem_does_not_raise(text: str) -> None:
    assert not at_least_clinical(text)


def test_context_stands_aside_when_the_same_text_has_a_current_symptom() -> None:
    assert level("wants records of his stroke, and now his face is drooping") == "emergency"
    assert at_least_clinical("seizure meds refill, also vomiting since last night")


# --- the seventh round: structure, then families ---------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # a clause that denies the second part of a two-part sign
        ("heart pounds after her espresso, no lightheadedness", "clinical"),
        ("on eliquis and took an extra one, no bleeding at all", "clinical"),
        # "without" inside a sign is part of it, not a denial
        ("grandpa can't get up without falling since lunch", "emergency"),
    ],
)
def test_a_clause_that_denies_the_last_part_of_a_sign_sets_it_aside(text: str, want: str) -> None:
    assert level(text) == want


@pytest.mark.parametrize(
    "text",
    ["he is confused", "wife says he was disoriented this morning", "mom sounds muddled today"],
)
def test_confusion_said_plainly_reaches_clinical(text: str) -> None:
    assert at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "she was confused about why the statement came twice",
        "he is confused by the new portal, wants a call",
        "caller got confused with the parking directions",
        "the new statement is so confusing, wants it explained",
        "numbers on the lab sheet are confusing to her",
        "wants the bill from the er trip back when she had a stroke scare",
        "insurer asks for notes on his prior overdose, release signed",
        "the waiting room wait was killing her, please book an earlier slot",
        "daycare needs the epipen authorization signed, allergy is fine",
        "the drive in was a nightmare, wants a later slot",
        "says the phone menu is a real pain, wants a direct line",
        "asking if the office handles sprained ankles or should she go to ortho",
        "wants to know if weight loss injections are covered",
        "asks whether the practice accepts patients with seizure disorders",
        "last time we talked about the bill she was upset about the charge",
    ],
)
def test_confusion_about_errands_and_past_events_stay_errands(text: str) -> None:
    assert not at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "his hand went pale and cold and he cannot move his fingers",
        "takes lithium, throwing up all day and slurring",
        "on digoxin, seeing yellow halos and feels sick",
        "a week after her tonsillectomy she is coughing up blood",
        "vomiting up bright red clots",
    ],
)
def test_limb_toxicity_and_bleeding_families_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


def test_a_failing_memory_reaches_clinical() -> None:
    assert at_least_clinical("son says her memory is getting worse, wants her checked")
    assert not at_least_clinical("pt forgot his appt, wants a memory jog by text")


def test_a_pattern_may_refuse_a_word_right_after_it() -> None:
    from cbtrack.matcher import Matcher, PatternError, RuleSpec

    m = Matcher({}, [RuleSpec("r", patterns=("tired !(of|from)",))])
    assert [x.rule for x in m.match(["so tired today"])] == ["r"]
    assert m.match(["tired of waiting"]) == []
    with pytest.raises(PatternError, match="must end a pattern"):
        Matcher({}, [RuleSpec("r", patterns=("tired !{x}",))])


@pytest.mark.parametrize(
    "text",
    [
        "chewed up his slow release oxycontin because it was stuck",
        "she wore two of her pain patches at once by mistake",
        "rescue inhaler is empty and he has been wheezing on and off",
        "mixed his iron pill with the antacid, is that a problem",
        "is it safe to give her the allergy syrup with the antibiotic",
        "should he hold his eliquis before the colonoscopy next week",
        "white coating on his tongue since the new steroid puffer",
    ],
)
def test_medicine_errors_and_questions_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "epipen expired, school needs a new prescription",
        "nurse told her to stop aspirin a week before surgery, just confirming the date",
    ],
)
def test_refills_and_instructions_already_given_stay_errands(text: str) -> None:
    assert not at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "pt denies suicidal thoughts, wants her sertraline refilled",
        "says he is not suicidal",
        "suicidal thoughts? denies. wants a therapy referral",
    ],
)
def test_an_explicit_denial_of_self_harm_reaches_clinical_not_emergency(text: str) -> None:
    details = {k: "see reason" for k in POLICY.categories["general"].required_details}
    plan = triage.intake(POLICY, "jlee", "general", text, details, None, None, None, CREATED)
    assert (plan.urgency.value, plan.owner) == ("clinical", "clinical")


@pytest.mark.parametrize(
    "text",
    [
        "no reason to live anymore, she says",
        "has lost the will to live",
        "denies thoughts of suicide but gave his guns to his brother and said goodbye",
    ],
)
def test_despair_said_with_a_negation_and_a_denial_beside_a_sign_stay_emergencies(
    text: str,
) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "chest pain? no. calling for a refill",
        "SOB: none, fever: no, needs the camp form",
        "asked about trouble breathing, he said no",
        "cp - denies. bp med refill",
    ],
)
def test_a_sign_asked_about_and_answered_no_does_not_raise(text: str) -> None:
    assert not at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "chest pain, no relief from antacids",
        "chest pain? yes, since lunch",
        "cant breathe, no inhaler",
    ],
)
def test_a_no_that_does_not_answer_the_sign_leaves_it(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("his skin feels clammy this afternoon", "clinical"),
        ("bloody nose three times since sunday", "clinical"),
        ("fell skating and his wrist is bent the wrong way", "emergency"),
        ("the 3 year old drank a bottle of childrens benadryl", "emergency"),
        ("took his brothers percocet by mistake and is so drowsy", "emergency"),
        ("told her friend this is the last time she will see her", "emergency"),
        ("posted 'im done' on his story last night", "emergency"),
        ("wants to know how much tylenol is too much for her", "clinical"),
        ("the picc line came out at home", "clinical"),
        ("red streaks going up her arm from the cat bite", "clinical"),
        ("she says they would all be better off", "emergency"),
        ("he was looking up how many of his pills it takes", "emergency"),
        ("cant get to the bathroom without stopping to catch her breath", "emergency"),
    ],
)
def test_the_issue_kinds_in_shorter_words(text: str, want: str) -> None:
    assert level(text) == want


def test_others_better_off_with_something_is_an_errand() -> None:
    assert not at_least_clinical("says the kids would be better off with a closer pediatrician")
    assert not at_least_clinical("drank a bottle of water before the blood draw, is that ok")
    assert not at_least_clinical("the tube of lotion leaked in her bag, wants a new sample")
    assert not at_least_clinical("texted that she is done with the intake forms")
    assert level("her finger has been bent from arthritis for years, wants a referral") != (
        "emergency"
    )


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("her knees keep giving out and she cant get up off the couch since noon", "emergency"),
        ("he is unable to stand up from the toilet, legs gave way", "emergency"),
        ("sent a thank you for everything note and says she wont need refills anymore",
         "emergency"),
        ("son googled which of his pills would be lethal combined, has them in his room",
         "emergency"),
        ("the stitches look puffy and tender on day 4", "clinical"),
        ("noticed spots of blood on the pad after the biopsy", "clinical"),
    ],
)  # fmt: skip
def test_weak_legs_goodbyes_to_the_practice_lethal_searches_and_small_wound_signs(
    text: str, want: str
) -> None:
    assert level(text) == want


@pytest.mark.parametrize(
    "text",
    [
        "lol he will die of boredom in that waiting room, is there a tv",
        "we are dying to get in with the new doctor, any openings",
        "does the office hand out narcan kits for families",
        "can i get an epipen for the school nurse office",
        "wants to reschedule his bp follow up to monday",
        "dad was diagnosed with high cholesterol, wants a diet handout",
        "some of the blood test results are missing from the portal",
    ],
)
def test_figures_of_dying_rescue_kits_asked_for_and_named_conditions_stay_errands(
    text: str,
) -> None:
    assert not at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "asked us to find a home for her dog if anything happens to her",
        "after the bowel surgery the wound burst open and something is bulging out",
        "his foot went cold and white after the cath",
        "on lamotrigine two weeks and a rash came up on her chest",
        "nardil patient ate salami, now a pounding headache",
        "took his heart pills twice, pulse is slow and he nearly fainted",
        "stiff as a board all over with a fever since the new injection",
        "mom is on clozapine and running a fever",
        "the rash is blistering and her lips are peeling since the antibiotic",
        "throwing up green bile, belly bloated",
        "he coughs up pink foam when he lies down",
        "cirrhosis patient, wife says he is disoriented today",
        "toddler has not peed since last night and is listless",
        "cleaner splashed in his eyes at work",
        "cant keep fluids down since yesterday and very dizzy when she stands",
    ],
)
def test_medicine_reactions_post_op_and_body_system_emergencies_in_plain_words(
    text: str,
) -> None:
    assert level(text) == "emergency"


def test_sudden_deafness_a_diaper_rash_product_and_a_goodbye_to_staff_keep_their_level() -> None:
    assert level("cant hear out of his right ear since this morning, came on fast") == "clinical"
    assert not at_least_clinical("the heat rash cream prescription went to the wrong pharmacy")
    assert level("2 month old with a rash and a fever") == "emergency"
    assert level("saying her goodbyes to everyone, just wanted the doctor to know") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "she keeps saying it would be so peaceful to just fade away for good",
        "he got his pistol out of the safe and wrote a note for his wife",
        "said he is going to use the shotgun tonight",
        "tell dr lee she did everything she could and it is not her fault",
        "son has been googling the highest bridges near here",
        "she has been sitting by the train tracks alone at night",
        "today is her last day, she says she is at peace",
        "says he will join his late wife soon",
    ],
)
def test_softer_warning_signs_weapons_and_high_places(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "needs a letter for his gun permit signed by the doctor",
        "is the rifle safety course physical form something dr can sign",
        "today is the last day of his antibiotics, does he need a follow up",
        "new address is by the railroad tracks on 5th street",
    ],
)
def test_weapons_papers_and_last_days_of_errands_stay_errands(text: str) -> None:
    assert not at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "the new pill gives her the trots every morning",
        "cant afford his pens so he has been rationing them",
        "her depakote level came back too high",
        "on warfarin, can he take aleve for his knee",
        "up 5 times a night to pee",
        "hasnt been able to poop since saturday",
        "having trouble keeping an erection since the new bp med",
        "her periods have been coming every two weeks",
        "jaw keeps locking when he yawns",
    ],
)
def test_medicine_questions_and_plain_body_complaints_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


def test_medicine_logistics_and_school_notes_stay_errands() -> None:
    assert not at_least_clinical("takes lithium, can the refill go to the mail order pharmacy")
    assert not at_least_clinical("cant afford the copay this month, wants a payment plan")
    assert not at_least_clinical("she cant poop at school, needs a bathroom pass note")


def test_a_sign_named_as_a_referral_still_counts_when_it_goes_on_now() -> None:
    assert not at_least_clinical("any news on the referral for her chest pain from june")
    assert level("waiting on the referral for her chest pain and now it is crushing") == "emergency"
    assert not at_least_clinical("the statement almost gave me a heart attack, payment plan?")
    assert not at_least_clinical("status of the referral dr made in march for my anxiety")


@pytest.mark.parametrize(
    "text",
    [
        "quit using her inhaler on her own since she feels better",
        "the capsules are too large for him to swallow, can they be opened",
        "her insulin was left in the car overnight in the heat",
        "giving the antibiotic twice a day instead of three times",
    ],
)
def test_how_a_medicine_is_taken_stored_or_stopped_reaches_clinical(text: str) -> None:
    assert at_least_clinical(text)


def test_heat_stroke_and_events_dated_before_they_are_told() -> None:
    assert level("mowing in the heat all afternoon and now he is disoriented") == "emergency"
    assert not at_least_clinical("itemized bill for the ambulance last spring when she collapsed")
    assert not at_least_clinical("dmv form asks when, her last seizure was 2019")
    assert level("last month he fainted twice and today he fainted again") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "aching between the shoulder blades and a cold sweat",
        "she is too weak to even turn over in bed",
        "feverish and cant touch his chin to his chest",
        "after the abscessed tooth she cant open her mouth and is drooling",
    ],
)
def test_back_pain_with_sweats_weakness_a_stiff_neck_and_a_locked_jaw(text: str) -> None:
    assert level(text) == "emergency"


def test_a_result_that_moved_reaches_clinical_and_one_sent_elsewhere_does_not() -> None:
    assert at_least_clinical("her tsh jumped from 2 to 9 since spring")
    assert not at_least_clinical("the a1c from march went to the wrong office, please resend")


@pytest.mark.parametrize(
    "text",
    [
        "cvs says the dose on the script is over the max for his kidneys",
        "pharmacist flagged duplicate therapy, two statins on her list",
        "pt is allergic to codeine but the new prescription has codeine in it",
        "group home staff say he refuses his pills at night",
        "the evening and morning pills were swapped in her blister pack",
        "been taking aleve daily for months for his knees",
        "she ran out and has been borrowing her sister's inhaler",
    ],
)
def test_prescription_problems_a_pharmacist_or_carer_raises_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


def test_prescription_errands_stay_errands() -> None:
    assert not at_least_clinical("pharmacy needs clarification on which location gets the rx")
    assert not at_least_clinical("takes tylenol every day as directed, needs a refill")
    assert not at_least_clinical("wants the drug interaction handout for her nursing class")


@pytest.mark.parametrize(
    "text",
    [
        "texted her brother to look after her cat from now on",
        "asked what will happen to his dog if he dies",
        "googled how many of her sleeping pills would be enough",
        "says he is not going to make it to any more visits, thanks for trying with him",
        "keeps saying he knows how to make it all stop",
        "hears voices telling him to walk into traffic",
    ],
)
def test_entrusting_family_asking_amounts_and_commanding_voices(text: str) -> None:
    assert level(text) == "emergency"


def test_help_with_the_kids_and_missed_visits_for_a_trip_stay_errands() -> None:
    assert not at_least_clinical("grandma will look after the kids for her during the visit")
    assert not at_least_clinical("cannot make it to any appointments next month, traveling")


@pytest.mark.parametrize(
    "text",
    [
        "his splint is on too tight and his toes are going numb and blue",
        "stent placed monday, now fever of 102 with shaking chills",
        "day after cataract surgery the vision in that eye is getting worse and it is painful",
        "the swelling at the biopsy site keeps growing and is turning purple",
    ],
)
def test_after_a_procedure_casts_fevers_eyes_and_growing_swellings_are_emergencies(
    text: str,
) -> None:
    assert level(text) == "emergency"


def test_a_bill_for_a_procedure_that_seems_high_is_an_errand() -> None:
    assert not at_least_clinical("the bill for the biopsy last month seems high, please review")


@pytest.mark.parametrize(
    "text",
    [
        "grandpa fell in the kitchen and his right leg looks shorter and turned outward",
        "she fell an hour ago and still cannot get up off the floor",
        "my son was knocked down by a car in the parking lot, says he is ok",
    ],
)
def test_a_broken_hip_no_getting_up_and_a_vehicle_injury_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


def test_records_and_bills_for_a_past_vehicle_injury_stay_errands() -> None:
    assert not at_least_clinical("lawyer wants the records from when she was hit by a car in 2023")


@pytest.mark.parametrize(
    "text",
    [
        "6 week old not interested in her bottles today and sleeping much more",
        "his breath smells like nail polish and he keeps throwing up",
        "the baby's poop looks like red jelly",
    ],
)
def test_a_baby_off_feeds_a_fruity_breath_and_jelly_stools_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


def test_a_murmur_found_and_a_raspy_voice_reach_clinical() -> None:
    assert at_least_clinical("the urgent care doctor heard a murmur, she wants it checked")
    assert at_least_clinical("voice has been raspy for three weeks")
    assert not at_least_clinical("sports form, the murmur was cleared by cardiology in 2022")


@pytest.mark.parametrize(
    "text",
    [
        "LOC twice this morning, hx afib",
        "she just stares and is not responding to us",
        "unable to keep fluids down 3 days, lightheaded",
        "gave birth last week, bad headache and seeing spots",
        "28 wks pregnant, bp 164/112 at the pharmacy",
    ],
)
def test_shorthand_and_pregnancy_pressures_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


def test_a_complaint_noted_with_c_o_reaches_clinical_and_an_address_does_not() -> None:
    assert at_least_clinical("pt c/o L ankle effusion since sunday")
    assert not at_least_clinical("send the statement c/o her son at 4 oak lane")


def test_a_date_asked_for_and_a_return_to_play_form_are_errands() -> None:
    assert not at_least_clinical("the insurer needs the date of her last stroke, it was 2021")
    assert not at_least_clinical("needs the concussion clearance form, cleared by neuro friday")


def test_acting_drunk_without_drink_and_a_bitten_hand_that_will_not_bend() -> None:
    assert level("mom is acting drunk and slurring, she never drinks") == "emergency"
    assert level("cat bit her hand, now red and swollen, cant straighten her finger") == (
        "emergency"
    )


@pytest.mark.parametrize(
    "text",
    [
        "9 yo told the school nurse her uncle touches her and she is afraid to go home",
        "neighbor says the son locks his mother in her room and has not fed her in days",
        "says she is not safe at home with him tonight",
        "has not slept in four days, talking fast and says he can fly",
    ],
)
def test_someone_not_safe_at_home_is_an_emergency(text: str) -> None:
    assert level(text) == "emergency"


def test_a_ride_after_sedation_and_a_locked_portal_stay_errands() -> None:
    assert not at_least_clinical("scared to go home alone after the sedation, needs a ride")
    assert not at_least_clinical("the portal locked him out of his account again")


@pytest.mark.parametrize(
    "text",
    [
        "elbowed in the eye at soccer and now his vision is blurry",
        "a sliver of metal went into his eye while grinding",
        "one pupil is bigger than the other since she fell",
        "my 3 year old pushed a button battery up her nose",
    ],
)
def test_eye_injuries_unequal_pupils_and_batteries_in_a_nose_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


def test_a_bead_up_a_nose_reaches_clinical() -> None:
    assert at_least_clinical("he pushed a bead up his nose, breathing fine")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("says he has figured out a way out of all this for good", "emergency"),
        ("gave her lantus twice by mistake and now she is sweaty and trembling", "emergency"),
        ("after the endoscopy his stomach is rock hard and he is burning up", "emergency"),
        ("the incision on her knee from last week looks a bit puffy at one end", "clinical"),
    ],
)
def test_the_last_blind_sets_families(text: str, want: str) -> None:
    assert level(text) == want


def test_pain_unchanged_a_scare_that_was_heartburn_and_a_stroke_of_luck_stay_errands() -> None:
    assert not at_least_clinical("early refill of her pain medicine for a trip, pain unchanged")
    assert not at_least_clinical("bill for the ER in may, chest pain turned out to be heartburn")
    assert not at_least_clinical("a stroke of luck, the prior auth went through, book the scan")


def test_a_soft_wish_not_to_be_here_and_ending_the_pain_oneself() -> None:
    assert level("keeps thinking about no longer being here") == "emergency"
    assert level("says if the pain keeps on she will end it herself") == "emergency"
    assert not at_least_clinical("if the refill is late he will stop it himself, call pharmacy")


@pytest.mark.parametrize(
    "text",
    [
        # a future denied, papers or keys left "for after", the act told or threatened
        "told us there is no next week for him, then hung up",
        "she cant picture herself still being here next year",
        "wants copies sent to her brother so he has everything for after",
        "vm at 2am: i took every one of them, im sorry, tell my mum",
        "might as well swallow the whole lot and be done with it he said",
        "left his car keys and a sealed letter with the landlord and wont answer the door",
        "the kids would be better off with their dad she says",
        # indirect goodbyes (gatekeeper-training lists)
        "cancel her refills, she said pretty soon we wont have to worry about her",
        "said this is the last time she will be calling, thanks for everything",
        "records to go to her daughter, she wants everything tidy before she leaves us",
        "cancel my refills, i have enough saved up to finish it",
        "she wants to update her emergency contact to the funeral home",
        "her dog's vet records to the neighbour, who is keeping him now, she sounded empty",
        # the tenth round: the end foreseen, the means gathered "to be sure", letters for all
        "cancel the rest of his visits, he says he has decided when it ends and feels lighter",
        "asked for all of her pain pills at once, wants enough to be sure this time",
        "he has been saving them up for weeks and asked for one more bottle to make sure",
        "send my chart to my sister, i left notes for everybody on the table",
        "tell the doctor i am done fighting, thanks for trying",
        "sorry i let you all down, im tired of it, thank you for everything",
        "update her emergency contact so her son can take all her things",
        "cancel the scans, no point planning for the future now",
        "asked for his records, since his wife died he says he wants to go where she is",
        "she cannot go on living without him, cancel the grief group",
        "pt asked us to stop calling, has cut everyone off and wants to be left alone for good",
        "refill request, says you all would be easier if she just disappeared",
        "paying off the balance, tying things up so his kids are not stuck with the bills",
        "asked whether the policy pays no matter how he dies",
        "keeps her old pain pills in a drawer for when she decides",
    ],
)
def test_warning_signs_inside_an_errand_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "on eliquis, blood in his urine with clots, feels faint and sweaty",
        "bp 78 over 50, dizzy and clammy",
        "he has not been able to pee since last night and is in agony",
        "new loss of bladder control and legs weak, hx prostate ca",
        "carer found her on the bathroom floor, muddled, been there all night",
        "nursing home: new confusion, temp 101, pressure low",
        "cannot finish a sentence w/o stopping for breath",
        "cut my thumb with a knife, blood spurting, towel soaked through",
        # the tenth round: household poisons, a fit in British English, an adult gone limp
        "vm: toddler got into the dishwasher pods, bit one open",
        "answering service: son drank some lamp oil from the garden torch",
        "husband has been fitting for five minutes and is not stopping",
        "missed call, dad suddenly went limp in his chair",
    ],
)
def test_shock_retention_a_long_lie_and_spurting_blood_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "already on sertraline, wants to add melatonin, is that safe",
        "got prednisone from the er, also on ibuprofen daily, should he stop one of them",
        "pressures have been good for a year, wants to come off the amlodipine",
        "pharmacy wants doctor to be aware of the potassium before filling",
        "sugars dropping into the 60s at night on her lantus",
        "how should she time her insulin when flying to australia",
        "can she breastfeed while taking the new antibiotic",
        "pt needs guidance on restarting her warfarin after the dental work",
        "on tamsulosin and just got sildenafil, asking if safe together",
        "new adhd med, son is hardly eating and has lost weight",
        "refill for prednisone, she keeps taking it because her joints flare when she stops",
        "pharmacy says pt picked up two different blood pressure pills from two doctors",
        "refill on warfarin, she missed her inr check and eats a lot more salad now",
        "refill on her birth control, she is 37 and started smoking again",
        "renew his eye drops, eye is redder since he started them",
        # the tenth round: doses, monitoring overdue, a second medicine, a procedure, feeling off
        "refill on her citalopram please, and she wants to ask about a higher dose",
        "friend told him to just double it, asking for an early refill of gabapentin",
        "new script says 0.5 mg, her usual was 0.05 mg, please make sure that is right",
        "refill on lithium, no levels done in over a year according to her",
        "pt on warfarin, also started taking fish oil and turmeric, needs refill",
        "has a colonoscopy friday and takes metformin, should he skip it that morning",
        "refill for valproate, she and her husband are trying to conceive",
        "home sugars keep going up on the metformin, refill due",
    ],
)
def test_medicine_questions_for_a_clinician_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "me llamo Pat, necesito una cita para mi hijo el martes",
        "my blood boils every time i see this bill",
        "at the end of my rope with the insurance, please resend the referral",
        "dropped off a card saying farewell, she is moving to ohio, update address",
        "refill same doses, just switching pharmacy",
        "this copay is killing me, can i split it into two payments",
        "she took all of her antibiotics as told and the cough is gone, cancel the follow up",
        "the copay will not matter soon because her new insurance starts",
        "physical therapy discharged her, cancel the rest of the visits",
        "can she pick up her metformin at the other pharmacy location",
        "please cancel her appointments, she passed away last week, thanks for everything",
        "she is moving to arizona for good, please send her records to her new doctor",
        "cancel the refills, the cardiologist took over all his meds",
        "he wanted to say goodbye to dr sample before she retires, book one last visit",
        "done fighting with the insurance, please just send the appeal form",
        "she is giving away her late mother's walker and shower chair, any charity you know",
        "update her emergency contact to her son, new phone number",
        "saving up for the deductible, can the mri wait until january",
        "divorced in may, needs the beneficiary form for hr signed",
        "lawyer needs a letter that dad is competent to sign his will",
        "cut off by the insurance again, please resend the claim",
        "refill vitamin d 50000 weekly, doing fine",
        "90 day supply of the same dose please, switching to mail order",
        "was ill over the holidays but fine now, needs a school note",
        "hearing aid fitting again next week, it keeps whistling",
    ],
)
def test_errands_that_share_those_words_stay_errands(text: str) -> None:
    assert not at_least_clinical(text)


# --- the eleventh round ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "nurse noted chest pain and sweating at the front desk",
        "daughter notes his lips look blue this morning",
        "she is noting slurred speech since lunch",
    ],
)
def test_a_word_that_begins_like_not_negates_nothing(text: str) -> None:
    # "noted" and "notes" once stemmed to "not", which negated the sign right after them
    assert level(text) == "emergency"


def test_bleeding_freely_is_not_bleeding_that_is_free() -> None:
    # "free" after a sign says it is over ("pain free"); "freely" says the opposite
    assert level("gash on her shin is bleeding freely through the towel") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "he can't follow anything the family says to him since he woke up",
        "cannot understand simple questions, replies are made up words",
    ],
)
def test_understanding_lost_is_a_stroke_sign(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "lamotrigine refill; the oral surgeon asked her to hold it before the implant, ok?",
        "xarelto refill, asks if ginkgo and garlic pills are ok with it",
        "pharmacist flagged the new clarithromycin with her atorvastatin, please review",
        "wants to know if the pill still works now that she is on rifabutin",
        "oxycodone refill, says the bottle was stolen from his car last week",
        "lithium refill, levels overdue by 8 months per pharmacy",
        "zoloft 50, she wants to cut down to 25 on her own",
        "wants to add his brother's xanax for sleep, is that ok",
        "is sertraline safe while pumping for her 2 month old",
        "hasn't taken his metformin for 3 weeks since the copay went up",
        "on apixaban, lots of unexplained bruising on her legs",
    ],
)
def test_medicine_problems_in_a_refill_reach_clinical_eleventh_round(text: str) -> None:
    assert level(text, "prescription") in ("clinical", "emergency")


@pytest.mark.parametrize(
    "text",
    [
        "cancel - pt's father was admitted for a heart attack, she is driving up tonight",
        "reschedule, she is caring for her husband after his stroke",
        "insurance change after her father's funeral, new card to scan",
        "this statement is giving me a heart attack, why is it so high",
        "almost fainted when I opened the bill, please call about a payment plan",
        "camp form: sprained ankle last season, fully healed",
        "school note: son was off sick last week, he's fine again now",
        "losartan refill, had a cough on lisinopril last yr, gone since the switch",
        "pills look different but the pharmacist confirmed a new generic maker, refill please",
    ],
)
def test_someone_elses_illness_figures_of_speech_and_healed_problems_stay_errands(
    text: str,
) -> None:
    assert level(text, "general") == "routine"


@pytest.mark.parametrize(
    "text",
    [
        "wants all her papers in order before she goes, no trip or move planned",
        "said his son can sort things out after I'm gone, please send records",
        "family says he keeps driving out to the overpass at night",
        "stop mailing statements, I won't be here to read them",
        "said this is the last time we'll talk to her",
        "cancel the refill, she has been stockpiling them",
    ],
)
def test_warning_signs_in_errands_eleventh_round(text: str) -> None:
    assert level(text, "billing") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "asked us to make sure the twins are provided for after.",
        "mentioned she has been counting her sleeping pills to see if there are enough",
        "asked which of her heart pills would be the most dangerous to take all at once",
        "said thanks anyway, no one could have helped him",
        "neighbor saw her on the overpass again last night staring down at the traffic",
        "he told the nurse he has figured out how he'd end it",
        "she has picked the date, right after the holidays",
        "paying off every bill today, does not want to leave the kids with any debts",
        "friend says he told her he has a plan for this weekend and then hung up",
        "asked the chaplain to help plan her own memorial service, she is 30 and well",
        "wife says he took out his revolver and sat with it for hours after the layoff",
    ],
)
def test_more_warning_signs_told_softly(text: str) -> None:
    assert level(text, "general") == "emergency"


def test_a_pattern_may_ask_for_the_end_of_a_clause() -> None:
    assert level("asked that the kids be taken care of after.", "general") == "emergency"
    assert level("asked that the kids be taken care of after school today", "general") == (
        "routine"
    )


@pytest.mark.parametrize(
    "text",
    [
        "lamictal xr tablets too big, he has been crushing them in applesauce",
        "ozempic pen clicked but she is not sure she got the dose, should she take another one",
        "dad has two bottles of lisinopril from two pharmacies, may be taking both",
        "lamotrigine refill, pharmacy switched to another manufacturer this month",
        "lithium refill; she never went for the blood draw this month",
        "on nardil and asking if she can take dayquil",
        "fentanyl patch, uses a heating pad over it at night",
        "isotretinoin refill, not on any birth control right now",
        "cutting her eliquis in half to make the bottle last until payday",
        "took 2 of his metoprolol this morning because the cuff read high",
    ],
)
def test_medicine_problems_from_the_second_refill_set_reach_clinical(text: str) -> None:
    assert level(text, "prescription") in ("clinical", "emergency")


def test_a_drop_off_for_old_medicines_is_an_errand() -> None:
    assert level("where can she drop off expired pills from her late husband", "general") == (
        "routine"
    )


@pytest.mark.parametrize(
    "text",
    [
        "my boy 7 years, very bad pain in his ball since this morning, one side look higher",
        "her belly hurts low on the right side, she has a fever and won't eat supper",
        "the pain in his back comes in waves and now he is shaking with chills",
        "toddler has a barky cough and a squeaky noise when he breathes in even at rest",
        "her calf is twice as big as the other one, she had knee replacement last week",
        "grandma has not drunk anything for 2 days and is not making sense",
        "he cries when he tries to bend his neck forward and he is burning hot",
        "the left side of his mouth is hanging down since lunch",
        "home pregnancy test positive last week, now sharp pain low on one side and dizzy",
    ],
)
def test_emergencies_in_plain_words(text: str) -> None:
    assert level(text, "general") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "does the clinic run first aid classes for parents",
        "VM garbled, something about moving her appointment to friday",
        "her church needs CPR certification for the youth leaders",
        "confirming tuesday for the bleeding test at the anticoagulation clinic",
        "camp wants a note that she has been fever free 24 hours",
        "cancel thursday, neighbor had a stroke and she is driving him to rehab",
        "wants a checkup so she does not end up like her uncle with the heart attack",
        "their dog had a seizure, asking for a vet's number",
        "this estimate is literally giving me a heart attack, can billing call",
        "asthma form for school, has not used his inhaler since the fall",
    ],
)
def test_errands_that_borrow_red_flag_words_stay_errands(text: str) -> None:
    assert level(text, "general") == "routine"


@pytest.mark.parametrize(
    "text",
    [
        "please send her shot records to her aunt in case something happens to me this week",
        "this is my final voicemail, no need to reschedule, thank you for everything. goodbye",
        "says he is just waiting to die and would rather speed things up",
        "cancel the follow up in march, she does not see herself being around by then",
        "wants an early pen so he can use the entire pen at once and make it all stop",
        "cancelled tomorrow, said he was heading to the overpass tonight and hung up",
        "asked if the train still runs at 2am, said it would be quick and he is tired of it all",
        "needs bandaids for the cuts from the blade, does not want her dad to find out",
        "daughter found bags of pills hidden in her closet, she keeps asking for early refills",
        "mi papa dice que quiere morirse, necesita una cita",
    ],
)
def test_warning_signs_in_errands_twelfth_round(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "ran out of her xarelto 3 days ago, waiting for the new insurance card",
        "down to his last insulin pen, the plan wants a prior authorization first",
        "pharmacy called: pt also on warfarin, prescriber to call before they fill fluconazole",
        "wants to start turmeric from the vitamin store, ok with my eliquis?",
        "drinking grapefruit juice every day now, on atorvastatin, refill please",
        "has been taking the metoprolol twice a day instead of once",
        "skipped three pills in a row on vacation, needs her next birth control pack",
        "third albuterol inhaler this month, needs another",
        "the sleep med does not work like it used to",
        "quit taking it on her own about two weeks ago, wants it removed from the list",
        "a coworker gave her some of his xanax for the flight",
        "pharmacy handed him the wrong bag and he took them all weekend",
    ],
)
def test_medicine_problems_in_refills_twelfth_round(text: str) -> None:
    assert level(text) == "clinical"


@pytest.mark.parametrize(
    "text",
    [
        "my dad on home oxygen is more drowsy and mixed up today, breathing faster",
        "she put a coin battery in her mouth and swallowed it",
        "mom has been mixed up since this morning, picking at the sheets",
        "grandpa could not say what year it is and did not recognize his wife",
        "found her slumped in the recliner, sweating, does not answer properly",
        "two seizures back to back and he has not come round properly",
        "left side of her mouth will not move when she tries to smile",
        "keeps leaning to one side in the wheelchair since lunch",
        "toddler fell off the bed, big lump on the back of his head, throwing up",
        "gave birth ten days ago, pounding headache and seeing spots",
        "teen says one of his balls is killing him and he threw up",
    ],
)
def test_emergencies_in_everyday_words_twelfth_round(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "hunting and firearm license form needs the doctor's signature",
        "discharged from physical therapy today, cancel the rest of my visits",
        "I'll come early, killing time at the library next door",
        "are my records ready to go? I'll be by at noon",
        "he could sleep forever after practice, can you email the camp form",
        "can the pharmacy give me 3 packs of my pill at once for the year abroad",
        "does the first aid class teach what to do when someone faints?",
        "bp was a bit high at the physical, nurse said white coat, normal at home since",
        "cannot take another early appointment, work keeps writing me up",
    ],
)
def test_errands_with_borrowed_words_twelfth_round(text: str) -> None:
    assert level(text) == "routine"


def test_contractions_and_early_are_read_as_meant() -> None:
    # "I'll" once read as "ill" (a symptom) and "early" as "ear" (a body part)
    assert level("I'll drop the form off early tomorrow") == "routine"
    assert level("she feels ill since this morning, fever 101") != "routine"


@pytest.mark.parametrize(
    "text",
    [
        "says the family would be better off not having to deal with him anymore",
        "grandma says there is nothing left for her, she is just waiting to go",
        "after last year's overdose he said next time he will take more",
        "told the nurse she'll get it right this time",
        "drove into the guardrail on purpose, wishes it had finished the job",
        "his last post says don't look for me, logging off for good",
        "she keeps a few pills back each week so she will have enough before the weekend",
        "found a jar of pills in his closet, he said he is keeping them in case he decides",
        "says she can't keep living like this and knows how to get out now",
        "has written his goodbye letters and made the arrangements, cancel everything",
    ],
)
def test_warning_signs_told_indirectly_thirteenth_round(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "aide: resident not drinking since tuesday, little dark urine, nearly falls on standing",
        "my 7 mo grabbed the hot pan, the skin on his palm is blistered and white",
        "rash of tiny purple dots that does not fade when I press a glass on it",
        "two weeks postpartum, she is hearing voices and says the baby is possessed",
        "I'm 31 weeks and my waters broke, it is a greenish trickle",
        "at her 36 week appointment tomorrow but bleeding now and her belly is hard and painful",
        "the neighbour's dog bit him on the cheek, the cut is gaping open",
    ],
)
def test_babies_pregnancy_and_older_people_thirteenth_round(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "are my meds ready for pickup yet?",
        "calling to see if her pills are ready at the pharmacy",
        "the out of pocket cost has been a burden this year, payment plan please",
        "sports physical for the climbing team, ropes course starts in May",
        "stuck in your garage, there is no way out without a validated ticket",
        "giving away her baby clothes and the crib, does the clinic take donations",
        "hospice needs the certification of terminal illness signed",
        "overdosed 8 years ago and clean since, the new job wants a letter",
        "condolences card: the stroke took him so fast, please cancel his visits",
        "I'm blue in the face from calling the pharmacy, please resend it",
        "life insurance wants the date of my heart attack for the form",
        "please remove the fall risk flag from my chart",
        "her horse fell and broke his leg, she needs to reschedule",
        "our dog is pregnant, your reminder must be for someone else",
        "monthly meds to line up with the pharmacy cycle fill, no changes",
        "wants a bigger pill organizer for her vitamins",
    ],
)
def test_errands_with_borrowed_words_thirteenth_round(text: str) -> None:
    assert level(text) == "routine"


@pytest.mark.parametrize(
    "text",
    [
        "second fall this month, got up without help, no injury",
        "dad has been wobblier lately, wondering about therapy",
    ],
)
def test_repeated_falls_and_unsteadiness_reach_clinical(text: str) -> None:
    assert level(text) == "clinical"


def test_an_age_or_a_week_typed_against_its_number_is_read() -> None:
    # "2mo" and "34wk" are two months old and 34 weeks pregnant, as "10mg" is a dose
    assert level("2mo fever 101 not feeding") == "emergency"
    assert level("34wk spotting and cramps since noon") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "needs his inhaler refilled again",
        "her inhaler is not covered by insurance anymore",
        "she picks up a new inhaler every month, send the refill",
        "my husband needs the epipen before the trip",
        "needs 2 epipens for school, the old ones expired",
        "signed up for the suicide prevention training, last time it was full",
        "she wants to come off her sleeping pills for good",
    ],
)
def test_rescue_medicine_errands_are_not_emergencies(text: str) -> None:
    # found by running every errand template with every medicine through triage
    assert level(text) in ("routine", "clinical")


@pytest.mark.parametrize(
    "text",
    [
        "used his inhaler 6 times since lunch and still wheezing",
        "the inhaler is not helping at all",
        "doing the neb every hour tonight",
        "keeps reaching for her inhaler, can't finish a sentence",
        "gave her the epipen 10 minutes ago",
        "should I give him the epipen, his lips are puffy",
        "she needed her epipen at lunch today",
    ],
)
def test_a_rescue_medicine_used_over_and_over_is_an_emergency(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "asked how many of her heart pills it would take to stop her heart, then laughed it off",
        "emergency contact change, says the kids can find out after",
        "suddenly rewrote his will last night and moved the life insurance to his daughter",
        "brought his father's rifle down from the attic, says he won't need his follow up",
        "thanked us for putting up with him all these years, no need to rebook",
        "since she decided she says it's like a weight lifted off her shoulders",
        "closed his accounts and ended the lease but he is not moving anywhere",
        "says once the funeral is over she will go be with him",
        "told his brother to stop checking on him and won't answer the door",
        "wants to give the money to the grandkids while he is still here",
        "says he has no use for any of his tools now",
        "told the kids to get used to her not being around",
        "found letters he wrote to each of the kids in a drawer",
        "wants to be wherever his wife is now",
        "wants her thanks passed to the doctor while she still can",
        "says nobody needs to hear from her again",
        "checking out, done with all of it, cancel the rest",
        "has been putting some of the sleeping pills aside, needs an early refill",
        "says it wouldn't matter if he crashed the car",
        "looked up which bridge around here is the tallest",
    ],
)
def test_warning_signs_from_a_released_set(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "his belly pain started at the belly button and moved down to the right",
        "sharp pain low on the right and she won't let me touch her tummy",
        "voice sounds like a hot potato in his mouth, drooling, with a fever",
        "drinking water nonstop and peeing all the time, now vomiting and sleepy",
        "ran out of insulin two days ago and keeps throwing up",
        "calf is swollen, red and sore after the long flight home",
        "her eyes look sunken after a day of diarrhea",
        "kidney stone and now a fever with chills",
        "seven months along with pain under her ribs and blurry vision",
    ],
)
def test_emergencies_from_a_released_plain_speech_set(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "downsizing to assisted living, giving away the dining set",
        "the handout on safe storage for the gun safe he bought",
        "moving to Denver for a new job, tell everyone goodbye",
        "returning the call about my kidney stone results, I feel fine",
        "needs to move his follow up from his stroke to another day",
    ],
)
def test_errands_from_the_released_sets(text: str) -> None:
    assert level(text) == "routine"


@pytest.mark.parametrize(
    "text",
    [
        "since starting the gabapentin he feels drunk, wants to lower the dose",
        "bottle says hydroxyzine but she thought she was on hydralazine",
        "told she has kidney disease, is her metformin dose still ok",
        "nursing, is the migraine med safe for the baby",
        "putting on a new patch without taking the old one off",
        "switched to the generic and she has felt sluggish since",
        "pharmacy filled 10 mg instead of 5 mg",
        "pharmacy asked if he should hold the metformin for the scan",
        "found several of his warfarin tablets on the floor",
        "on plaquenil 5 years, no eye exam since 2020",
        "not sure how much of the tylenol went in, used the motrin cup",
        "stopped the prednisone yesterday, no taper",
    ],
)
def test_medicine_problems_from_released_sets(text: str) -> None:
    assert level(text, "prescription") == "clinical"


def test_a_week_of_pills_at_once_is_an_emergency() -> None:
    assert level("took the whole week of her pill pack at once this morning") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "how much will my ozempic cost on the new plan, the number seems off",
        "school form so the nurse can give her son's inhaler at school",
        "confirming dr said to stop aspirin 5 days before the procedure",
    ],
)
def test_medicine_errands_from_released_sets(text: str) -> None:
    assert level(text) == "routine"


# --- fourteenth round: warning signs inside errands, medicine problems in refills -------


@pytest.mark.parametrize(
    "text",
    [
        "wants to cancel, said the bill can be paid out of my estate next month",
        "pt on the phone about the balance: 'you'll be paid from my life insurance'",
        "cxl friday, he said he's written his note and found a home for the cats",
        "she gave her dog to the neighbor and said she left a letter for her son",
        "take me off the reminder list, soon no one will need to call me",
        "grandson says we can't get her to wake up, she is breathing funny",
    ],
)
def test_warning_signs_said_inside_an_errand_are_emergencies(text: str) -> None:
    assert level(text, "cancellation") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "pt took two of the new tablets thinking they were the weaker ones",
        "mail order sent 10 mg but dr ordered 5 mg, she has been taking them all week",
        "INR checked at the anticoagulation clinic came back 5.2, refill question",
        "pharm says pt was given the 50 mcg but the prescription was 25",
    ],
)
def test_medicine_problems_told_inside_a_refill_reach_clinical(text: str) -> None:
    assert at_least_clinical(text)


@pytest.mark.parametrize(
    "text",
    [
        "won't need my physio appointments anymore, my shoulder is fine now",
        "we can't get him to wake up for school on time, any tips for a sleep consult",
        "the medication information sheet for her new inhaler was not in the bag",
        "needs more of the ointment for his eczema, same tube as before",
        "pharm called, the refill is ready for pickup",
        "dr ordered an x-ray of the knee, where do we go",
    ],
)
def test_errands_with_borrowed_words_fourteenth_round(text: str) -> None:
    assert level(text) == "routine"


# --- fifteenth round: told by family, babies and older people, hard look-alikes ---------


@pytest.mark.parametrize(
    "text",
    [
        "her husband says she has been searching the highest bridges in the county online",
        "dad found a stash of painkillers hidden in his daughter's closet",
        "she keeps buying paracetamol from several different supermarkets",
        "he handed his brother his guitar and camera, said you can have them, I'm done",
    ],
)
def test_warning_signs_told_by_family_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "my late father's cupboard has bags of old pills, how do we dispose of them",
        "the copay on this inhaler is killing her, any cheaper option?",
        "he says he'll have a stroke if the invoice goes to collections again",
        "mum has her affairs in order and we are now her power of attorney, what forms do you need",
        "the cpap mask is worn out, needs a new prescription",
        "her 'high' cholesterol result was already discussed with the doctor, please mail a copy",
        "school wants the vomiting policy form signed",
        "records from her knee surgery in 2004 for the new orthopedist",
        "did her bloods come back yet? just checking on the iron",
    ],
)
def test_errands_with_borrowed_words_fifteenth_round(text: str) -> None:
    assert level(text) == "routine"


def test_a_threat_is_not_read_as_a_figure_of_speech() -> None:
    # the bills-and-deadlines figures of speech name the thing that is 'killing' someone
    assert level("after work he said he is going to kill her") == "emergency"
    assert level("I'll have a heart attack if this chest pain keeps up") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "please send the seizure discharge summary to her neurologist",
        "fax the suicide attempt discharge summary to the new psychiatrist",
        "needs the chest pain workup records for the cardiologist",
    ],
)
def test_a_document_named_right_after_a_sign_is_an_errand(text: str) -> None:
    # found by crossing papers about past events with the events themselves; a suicide
    # note or a goodbye letter is never read as a paper
    assert level(text) == "routine"


def test_a_blood_clot_is_a_symptom_and_a_past_one_is_history() -> None:
    assert level("she thinks she has a blood clot in her calf, it is warm and sore") != "routine"
    assert level("had a DVT last year, needs the records sent") == "routine"
    assert level("she left a suicide note on the kitchen table") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "the temp agency called about job 104 for her",
        "is the heart rate monitor model 150 covered?",
        "glucose meter 45 test strips refill please",
        "the oxygen supplier account 88, billing question",
        "her a1c class starts at 2 pm",
    ],
)
def test_a_number_that_names_or_counts_is_not_a_reading(text: str) -> None:
    # found by crossing errands with numbers: an ID, a model, a count or a time
    assert level(text) == "routine"


def test_a_reading_beside_such_words_is_still_read() -> None:
    assert level("her sugar number was 45 and she is shaky") == "emergency"
    assert level("temp 104 and he is in room 12 at the nursing home") != "routine"


@pytest.mark.parametrize(
    "text",
    [
        "denies suicidal thoughts but says she wants to die",
        "no SI before, but now he has been saying goodbye to everyone",
        "she never had suicidal thoughts until now she wants to die",
    ],
)
def test_a_denial_ends_at_but_or_now(text: str) -> None:
    # found by crossing negations with red flags: a denial used to govern the next five
    # words whatever stood between, so a sign after "but" was read as denied too
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "pt denies SI",
        "denies SI/HI, needs a refill",
        "without suicidal thoughts, she only needs a work note",
        "never had suicidal thoughts, needs the school form",
        "denies thoughts of suicide and self harm",
    ],
)
def test_a_denial_said_another_way_reaches_clinical_not_emergency(text: str) -> None:
    assert level(text) == "clinical"


@pytest.mark.parametrize(
    "text",
    [
        "what should we do if he ever gets chest pain?",
        "when should I worry about a seizure in a child?",
        "when do we bring her in for trouble breathing, asking for the future",
    ],
)
def test_a_question_about_a_sign_that_may_come_is_not_an_emergency(text: str) -> None:
    assert level(text) != "emergency"


@pytest.mark.parametrize(
    ("text", "least"),
    [
        ("AMS since this morning per daughter", "emergency"),
        ("pt is more altered than yesterday", "emergency"),
        ("HA worst of her life, came on suddenly", "emergency"),
        ("TIA sx this am, resolved after 10 minutes", "emergency"),
        ("mini stroke an hour ago, symptoms went away", "emergency"),
        ("RR 34, can't finish a sentence", "emergency"),
        ("RR 40 in a 2 yo", "emergency"),
        ("T 38.4 in a 5 wk old", "emergency"),
        ("pt c/o HA x2 days", "clinical"),
    ],
)
def test_staff_shorthand_for_red_flags_is_read(text: str, least: str) -> None:
    # found by a sweep of the abbreviations a front desk or a nurse types
    rank = {"routine": 0, "clinical": 1, "emergency": 2}
    assert rank[level(text)] >= rank[least]


@pytest.mark.parametrize(
    "text",
    [
        "ha ha very funny, just need my records",
        "had a TIA last year, needs the records sent",
        "she altered the form, is that ok?",
        "rr 16 and t 98.2 at the visit, needs the school form",
    ],
)
def test_staff_shorthand_look_alikes_are_errands(text: str) -> None:
    assert level(text) == "routine"


@pytest.mark.parametrize(
    "text",
    [
        "he took an ovedose of his pills",
        "she says she is feeling suicdal",
        "his speech is slirred since lunch",
        "the baby is vomitting and floppy and won't wake",
        "he had a siezure and is not responding",
    ],
)
def test_a_slip_of_a_word_written_with_a_star_is_read(text: str) -> None:
    # a slip was read as the triage word it is near, but rules written as a prefix
    # ("overdos*", "suicid*", "slurr*") compared what was typed, so never saw it
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "la señora dice que su esposo no puede respirar",
        "le duele el pecho desde la mañana",
        "se desmayó y no responde",
        "sangrado abundante después del parto",
        "el bebé tiene los labios morados",
        "tiene la cara caída y habla arrastrada",
        "se le cierra la garganta después del cacahuate",
    ],
)
def test_red_flags_said_in_spanish_are_emergencies(text: str) -> None:
    assert level(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    ["muchas gracias, solo necesita su receta", "quiere cambiar su cita, no tiene dolor"],
)
def test_errands_said_in_spanish_stay_errands(text: str) -> None:
    assert level(text) == "routine"


def test_thanks_so_much_is_not_a_measure_of_bleeding() -> None:
    assert level("thanks so much, the bleeding stopped after the stitches") != "emergency"
    assert level("thank you so much for the refill, the nosebleed is gone") != "emergency"
    assert level("he is bleeding so much the towel is soaked") == "emergency"
    assert level("thanks a lot, she is bleeding a lot and it won't stop") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "no rush he has crushing chest pain",
        "never had this before she cant breathe",
        "no idea why his face is drooping",
        "no answer at home the baby is blue",
        "without her glasses she fell and now she is slurring",
        "denies SI she wants to die tonight",
    ],
)
def test_a_negation_does_not_reach_past_a_new_subject(text: str) -> None:
    # found by crossing fillers ("no rush", "no idea why", "never had this before") with red
    # flags typed without a comma: the "no" governed the next five words, the sign included
    assert level(text) == "emergency"


def test_a_negation_still_governs_its_own_words() -> None:
    assert level("no chest pain, just needs the refill") == "routine"
    assert level("denies any shortness of breath, needs a form") == "routine"
    assert level("work note please, seen Monday for a stomach bug, I'm all better now") == "routine"


def test_pallor_and_clammy_skin_in_other_words() -> None:
    # found by crossing skin, lips and nails with colour words: white was never read as pale
    assert level("his lips look white") == "clinical"
    assert level("her fingertips are so white, per mom") == "clinical"
    assert level("his skin is cold and wet") == "emergency"
    assert level("it is cold and wet outside, can we move the visit") == "routine"
    assert level("left her purple jacket in exam room 3") == "routine"


def test_a_new_mother_hearing_voices_is_an_emergency_however_the_birth_is_named() -> None:
    assert level("new mom hearing voices, not sleeping for days") == "emergency"
    assert level("delivered two weeks ago, now she is seeing things at night") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "dad fell last night, now more confused than usual",
        "grandma had a fall in the bathroom and has been drowsy since",
        "nana has not peed all day and is confused",
        "dad is seeing bugs on the wall that aren't there, started today",
    ],
)
def test_red_flags_in_older_people_said_plainly(text: str) -> None:
    # found by a sweep of older people's red flags: a fall with new confusion and no word
    # for the head, no urine with confusion, things seen that are not there
    assert level(text) == "emergency"


def test_a_fall_behind_is_not_a_fall() -> None:
    assert level("she fell behind on bills and is confused by the statement") == "routine"


@pytest.mark.parametrize(
    "text",
    [
        "cancel all my visits, I won't need them after friday",
        "stop the refill texts, I've put everything in order",
        "cxl appt, pt says she is going away for good",
    ],
)
def test_warning_signs_said_while_cancelling(text: str) -> None:
    # found by crossing cancellations with the published warning signs: each was routine
    assert level(text, "cancellation") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "won't need appointments after this week, we are moving to Ohio",
        "won't need the reminders after friday, switching to a new doctor",
        "I'm putting everything in order for the move, cancel my visits",
        "going away for good to my daughter's in Oregon, need a last refill",
    ],
)
def test_cancelling_for_an_everyday_reason_is_an_errand(text: str) -> None:
    assert level(text, "cancellation") == "routine"
