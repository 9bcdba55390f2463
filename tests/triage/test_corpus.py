"""The triage matcher measured like a classifier on two corpora of callback reasons.

Each case is a reason as staff type it, the category the desk would file it under, and the
least urgency a safe system must reach (`expect`: emergency, clinical or admin).

- `corpus.yaml`: the first corpus (0.2), written from public phone-triage red-flag lists.
- `corpus2.yaml`: the second, written blind (by someone who had seen neither the rules nor
  the first corpus) in the kinds the first missed: ability, colour, suicide signs, readings,
  classic red flags, review-of-systems complaints, medication problems, and administrative
  requests that share their words.

- `fresh.yaml`: phrasings written for issue 20 by the sessions that widened the vocabulary
  by kind, as an extra check on how far the kinds reach (its `set` says how each was used:
  `dev`, `first_look`, `dev2` and `dev3` were tuned on, `blind` never was; `dev4` and
  `blind4` were written blind by helpers who saw neither the rules nor any corpus, then
  tuned on; `blind5` was written the same way, measured blind before and after the fifth
  round, then tuned on in the sixth, by family; `blind6` was written the same way, measured
  before and after the sixth round, and never tuned on).

Cases marked `holdout` were never used to tune the rules. The issue's bar applies to every
part: emergency recall 95%, clinical-or-higher recall of emergencies 99%, clinical recall
95%, administrative false alarms at most 5%. The tuned parts meet it; the held-out parts do
not yet (README, "Triage"), so their test is a strict expected failure that turns into a
failure the day they pass (remove the mark then), and floors at the figures measured keep
them from slipping meanwhile.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest
import yaml

from cbtrack import triage
from cbtrack.model import Urgency
from cbtrack.policy import Policy

HERE = Path(__file__).parent
CORPORA = ("corpus.yaml", "corpus2.yaml")
CREATED = datetime.fromisoformat("2026-11-27T10:00:00-05:00")
LEVELS = ("emergency", "clinical", "admin")
BAR = {
    "emergency_recall": 0.95,
    "emergency_reaches_clinical": 0.99,
    "clinical_recall": 0.95,
}
BAR_FALSE_ALARMS = 0.05

#: The held-out figures as measured with the 0.3 rules after the second widening by kind
#: (README, "Triage"): a change that makes an unseen part worse fails here; one that makes
#: it better moves a floor up.
FLOORS = {
    "corpus.yaml": {
        "emergency_recall": 0.955,  # 43/45
        "emergency_reaches_clinical": 0.977,  # 44/45
        "clinical_recall": 1.0,  # 24/24
        "admin_false_alarms": 0.0,  # 0/30
    },
    "corpus2.yaml": {
        "emergency_recall": 0.962,  # 26/27 (25/27 before the tenth round)
        "emergency_reaches_clinical": 0.962,  # 26/27
        "clinical_recall": 0.939,  # 31/33
        "admin_false_alarms": 0.04,  # 1/25
    },
}

#: fresh.yaml, per set, as measured: floors only (the blind set is far below the bar, and
#: says so in the README).
FRESH_FLOORS = {
    "dev": {
        "emergency_recall": 1.0,  # 63/63
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.984,  # 63/64
        "admin_false_alarms": 0.01,  # 1/110
    },
    "first_look": {
        "emergency_recall": 1.0,  # 27/27
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 23/23
        "admin_false_alarms": 0.05,  # 1/20
    },
    "blind": {
        "emergency_recall": 0.894,  # 17/19
        "emergency_reaches_clinical": 0.894,  # 17/19
        "clinical_recall": 1.0,  # 8/8
        "admin_false_alarms": 0.154,  # 2/13
    },
    "dev2": {
        "emergency_recall": 1.0,  # 80/80
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 58/58
        "admin_false_alarms": 0.0,  # 0/55
    },
    "dev3": {
        "emergency_recall": 0.972,  # 35/36
        "emergency_reaches_clinical": 0.972,  # 35/36
        "clinical_recall": 1.0,  # 25/25
        "admin_false_alarms": 0.0,  # 0/20
    },
    "dev4": {
        "emergency_recall": 1.0,  # 115/115
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 80/80
        "admin_false_alarms": 0.0,  # 0/65
    },
    "blind4": {
        "emergency_recall": 1.0,  # 39/39
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 27/27
        "admin_false_alarms": 0.0,  # 0/24
    },
    "blind5": {  # tuned on in the sixth round, after being measured blind (README, Triage)
        "emergency_recall": 1.0,  # 51/51
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 37/37
        "admin_false_alarms": 0.0,  # 0/32
    },
    "blind6": {  # never tuned on (README, Triage)
        "emergency_recall": 0.89,  # 57/64
        "emergency_reaches_clinical": 0.937,  # 60/64
        "clinical_recall": 0.975,  # 39/40
        "admin_false_alarms": 0.0,  # 0/26
    },
    "dev7": {  # tuned on in the seventh round, by family
        "emergency_recall": 0.972,  # 36/37
        "emergency_reaches_clinical": 0.972,  # 36/37
        "clinical_recall": 1.0,  # 24/24
        "admin_false_alarms": 0.0,  # 0/19
    },
    "dev8": {  # medicine problems by error type, tuned on
        "emergency_recall": 1.0,  # (none)
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 29/29
        "admin_false_alarms": 0.0,  # 0/8
    },
    "blind8": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.938,  # 61/65
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.981,  # 52/53
        "admin_false_alarms": 0.0,  # 0/32
    },
    "dev9": {  # tuned on in the eighth round, by family
        "emergency_recall": 0.983,  # 59/60
        "emergency_reaches_clinical": 1.0,  # 60/60
        "clinical_recall": 0.98,  # 49/50
        "admin_false_alarms": 0.0,  # 0/50
    },
    "blind9": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.933,  # 56/60
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.98,  # 49/50
        "admin_false_alarms": 0.02,  # 1/50
    },
    "dev10": {  # tuned on late in the eighth round
        "emergency_recall": 1.0,  # 30/30
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 26/26
        "admin_false_alarms": 0.0,  # 0/24
    },
    "blind10": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,  # 30/30
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 24/24
        "admin_false_alarms": 0.039,  # 1/26
    },
    "dev11": {  # tuned on at the end of the eighth round
        "emergency_recall": 1.0,  # 30/30
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 25/25
        "admin_false_alarms": 0.0,  # 0/25
    },
    "blind11": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.966,  # 29/30
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 25/25
        "admin_false_alarms": 0.0,  # 0/25
    },
    "dev12": {  # errands hiding a clinical problem, tuned on in the ninth round
        "emergency_recall": 0.979,  # 48/49
        "emergency_reaches_clinical": 1.0,  # 49/49
        "clinical_recall": 0.95,  # 19/20
        "admin_false_alarms": 0.034,  # 1/30
    },
    "blind12": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.862,  # 44/51
        "emergency_reaches_clinical": 0.882,  # 45/51
        "clinical_recall": 1.0,  # 20/20
        "admin_false_alarms": 0.134,  # 4/30
    },
    "dev13": {  # medicine problems, questions and refills, tuned on in the ninth round
        "emergency_recall": 1.0,  # 20/20
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 50/50
        "admin_false_alarms": 0.0,  # 0/30
    },
    "blind13": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.95,  # 19/20
        "emergency_reaches_clinical": 1.0,  # 20/20
        "clinical_recall": 0.9,  # 45/50
        "admin_false_alarms": 0.034,  # 1/30
    },
    "dev14": {  # every kind, tuned on in the ninth round
        "emergency_recall": 1.0,  # 42/42
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 27/27
        "admin_false_alarms": 0.034,  # 1/30
    },
    "blind14": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.953,  # 41/43
        "emergency_reaches_clinical": 1.0,  # 43/43
        "clinical_recall": 1.0,  # 28/28
        "admin_false_alarms": 0.067,  # 2/30
    },
    "dev15": {  # suicide signs, medicines, missed calls; tuned on in the tenth round
        "emergency_recall": 0.978,  # 45/46
        "emergency_reaches_clinical": 0.978,  # 45/46
        "clinical_recall": 1.0,  # 22/22
        "admin_false_alarms": 0.0,  # 0/30
    },
    "blind15": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.877,  # 43/49
        "emergency_reaches_clinical": 0.897,  # 44/49
        "clinical_recall": 0.956,  # 22/23
        "admin_false_alarms": 0.0,  # 0/30
    },
    "dev16": {  # suicide warning signs inside errands, tuned on in the tenth round
        "emergency_recall": 0.909,  # 50/55
        "emergency_reaches_clinical": 0.909,  # 50/55
        "clinical_recall": 1.0,  # none in the set
        "admin_false_alarms": 0.058,  # 2/35
    },
    "blind16": {  # released and tuned on in the thirteenth round (README, Triage)
        "emergency_recall": 1.0,  # 55/55
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.029,  # 1/35
    },
    "dev17": {  # medicine problems in refill requests, tuned on in the tenth round
        "emergency_recall": 1.0,  # none in the set
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.911,  # 41/45
        "admin_false_alarms": 0.0,  # 0/25
    },
    "blind17": {  # released and tuned on in the thirteenth round (README, Triage)
        "emergency_recall": 1.0,
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 45/45
        "admin_false_alarms": 0.0,  # 0/25
    },
    "dev18": {  # missed-call and voicemail notes, tuned on in the tenth round
        "emergency_recall": 1.0,  # 45/45
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 10/10
        "admin_false_alarms": 0.0,  # 0/20
    },
    "blind18": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.955,  # 43/45
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.9,  # 9/10
        "admin_false_alarms": 0.0,  # 0/20
    },
    "blind7": {  # never tuned on (README, Triage)
        "emergency_recall": 0.968,  # 31/32
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.965,  # 28/29
        "admin_false_alarms": 0.053,  # 1/19
    },
    "dev19": {  # medicine problems told as refills, tuned on in the eleventh round
        "emergency_recall": 1.0,  # 13/13
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.957,  # 45/47
        "admin_false_alarms": 0.0,  # 0/29
    },
    "blind19": {  # released and tuned on in the thirteenth round (README, Triage)
        "emergency_recall": 1.0,  # 12/12
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 38/38
        "admin_false_alarms": 0.033,  # 1/31
    },
    "dev20": {  # clinical problems hidden in errands, tuned on in the eleventh round
        "emergency_recall": 1.0,  # 33/33
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 20/20
        "admin_false_alarms": 0.0,  # 0/26
    },
    "blind20": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.864,  # 32/37
        "emergency_reaches_clinical": 0.864,  # 32/37
        "clinical_recall": 0.96,  # 24/25
        "admin_false_alarms": 0.138,  # 4/29
    },
    "dev21": {  # every kind in diverse voices, tuned on in the eleventh round
        "emergency_recall": 1.0,  # 40/40
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 35/35
        "admin_false_alarms": 0.0,  # 0/25
    },
    "blind21": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.9,  # 36/40
        "emergency_reaches_clinical": 0.975,  # 39/40
        "clinical_recall": 0.942,  # 33/35
        "admin_false_alarms": 0.0,  # 0/25
    },
    "dev22": {  # medicine problems, a second refill set, tuned on in the eleventh round
        "emergency_recall": 0.888,  # 8/9
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.977,  # 44/45
        "admin_false_alarms": 0.118,  # 2/17
    },
    "blind22": {  # released and tuned on in the thirteenth round (README, Triage)
        "emergency_recall": 1.0,  # 11/11
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 45/45
        "admin_false_alarms": 0.044,  # 1/23
    },
    "dev23": {  # warning signs of suicide told softly, tuned on in the eleventh round
        "emergency_recall": 0.978,  # 45/46
        "emergency_reaches_clinical": 0.978,  # 45/46
        "clinical_recall": 1.0,  # 13/13
        "admin_false_alarms": 0.0,  # 0/16
    },
    "blind23": {  # released and tuned on in the thirteenth round (README, Triage)
        "emergency_recall": 1.0,  # 34/34
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 17/17
        "admin_false_alarms": 0.0,  # 0/24
    },
    "dev24": {  # errands that borrow red flags' words, tuned on in the eleventh round
        "emergency_recall": 1.0,  # 9/9
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.928,  # 13/14
        "admin_false_alarms": 0.143,  # 8/56
    },
    "blind24": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,  # 11/11
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 16/16
        "admin_false_alarms": 0.167,  # 9/54
    },
    "dev25": {  # plain-speech emergencies, tuned on in the eleventh round
        "emergency_recall": 1.0,  # 45/45
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 20/20
        "admin_false_alarms": 0.0,  # 0/9
    },
    "blind25": {  # released and tuned on in the thirteenth round (README, Triage)
        "emergency_recall": 1.0,  # 55/55
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 20/20
        "admin_false_alarms": 0.0,  # 0/11
    },
    "dev26": {  # warning signs hidden in errands, tuned on in the twelfth round
        "emergency_recall": 1.0,  # 36/36
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.0,  # 0/27
    },
    "blind26": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.823,  # 28/34
        "emergency_reaches_clinical": 0.882,  # 30/34
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.044,  # 1/23
    },
    "dev27": {  # medicine problems in refill errands, tuned on in the twelfth round
        "emergency_recall": 1.0,  # 3/3
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 36/36
        "admin_false_alarms": 0.0,  # 0/20
    },
    "blind27": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,  # 2/2
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.846,  # 33/39
        "admin_false_alarms": 0.1,  # 2/20
    },
    "dev28": {  # emergencies in everyday words, tuned on in the twelfth round
        "emergency_recall": 1.0,  # 45/45
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.0,  # 0/13
    },
    "blind28": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.933,  # 42/45
        "emergency_reaches_clinical": 0.977,  # 44/45
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.177,  # 3/17
    },
    "dev29": {  # every body system and look-alike errands, tuned on in the twelfth round
        "emergency_recall": 1.0,
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 34/34
        "admin_false_alarms": 0.0,  # 0/27
    },
    "blind29": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.903,  # 28/31
        "admin_false_alarms": 0.143,  # 4/28
    },
    "dev30": {  # warning signs told indirectly, tuned on in the thirteenth round
        "emergency_recall": 1.0,  # 38/38
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.084,  # 2/24
    },
    "blind30": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.714,  # 30/42
        "emergency_reaches_clinical": 0.761,  # 32/42
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.188,  # 3/16
    },
    "dev31": {  # carers, aides, care homes and pharmacists, tuned on in the thirteenth round
        "emergency_recall": 1.0,  # 10/10
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 30/30
        "admin_false_alarms": 0.046,  # 1/22
    },
    "blind31": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.8,  # 8/10
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 0.866,  # 26/30
        "admin_false_alarms": 0.112,  # 2/18
    },
    "dev32": {  # babies, pregnancy and older people, tuned on in the thirteenth round
        "emergency_recall": 1.0,  # 35/35
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 14/14
        "admin_false_alarms": 0.0,  # 0/17
    },
    "blind32": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.76,  # 19/25
        "emergency_reaches_clinical": 0.96,  # 24/25
        "clinical_recall": 0.875,  # 14/16
        "admin_false_alarms": 0.077,  # 1/13
    },
    "dev33": {  # hard look-alike errands, tuned on in the thirteenth round
        "emergency_recall": 1.0,  # 7/7
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 7/7
        "admin_false_alarms": 0.069,  # 3/44
    },
    "blind33": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,  # 8/8
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 8/8
        "admin_false_alarms": 0.283,  # 13/46
    },
    "dev34": {  # plain everyday errands, read in the thirteenth round
        "emergency_recall": 1.0,
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.007,  # 1/150
    },
    "blind34": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.027,  # 4/150
    },
    "dev35": {  # terse staff shorthand, read in the thirteenth round
        "emergency_recall": 1.0,  # 39/39
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 32/32
        "admin_false_alarms": 0.0,  # 0/31
    },
    "blind35": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.975,  # 40/41
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 28/28
        "admin_false_alarms": 0.0,  # 0/29
    },
    "dev36": {  # warning signs inside errands, tuned on in the fourteenth round
        "emergency_recall": 1.0,  # 23/23
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.1,  # 1/10
    },
    "blind36": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.894,  # 17/19
        "emergency_reaches_clinical": 0.894,  # 17/19
        "clinical_recall": 1.0,
        "admin_false_alarms": 0.167,  # 3/18
    },
    "dev37": {  # medicine problems inside refills, tuned on in the fourteenth round
        "emergency_recall": 1.0,  # 5/5
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 17/17
        "admin_false_alarms": 0.0,  # 0/10
    },
    "blind37": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,  # 3/3
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 17/17
        "admin_false_alarms": 0.056,  # 1/18
    },
    "dev38": {  # concerns told by family, tuned on in the fifteenth round
        "emergency_recall": 1.0,  # 22/22
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 6/6
        "admin_false_alarms": 0.084,  # 1/12
    },
    "blind38": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.652,  # 15/23
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 4/4
        "admin_false_alarms": 0.0,  # 0/13
    },
    "dev39": {  # babies, pregnancy and older people, tuned on in the fifteenth round
        "emergency_recall": 1.0,  # 14/14
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 8/8
        "admin_false_alarms": 0.0,  # 0/17
    },
    "blind39": {  # never read or tuned on (README, Triage)
        "emergency_recall": 0.952,  # 20/21
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 12/12
        "admin_false_alarms": 0.0,  # 0/8
    },
    "dev40": {  # hard look-alike errands, tuned on in the fifteenth round
        "emergency_recall": 1.0,  # 4/4
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 4/4
        "admin_false_alarms": 0.0,  # 0/33
    },
    "blind40": {  # never read or tuned on (README, Triage)
        "emergency_recall": 1.0,  # 3/3
        "emergency_reaches_clinical": 1.0,
        "clinical_recall": 1.0,  # 4/4
        "admin_false_alarms": 0.219,  # 7/32
    },
}

Case = dict[str, object]


@cache
def load(name: str) -> list[Case]:
    """A corpus's cases, read once per test process (fresh.yaml is thousands of cases, and
    every set's test reads it)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    cases: list[Case] = yaml.load((HERE / name).read_text(), Loader=loader)["cases"]
    return cases


def outcome(policy: Policy, case: Case) -> str:
    """What intake triage makes of the case: emergency, clinical (or above) or admin."""
    category = str(case["category"])
    details = {k: "see reason" for k in policy.categories[category].required_details}
    plan = triage.intake(
        policy, "jlee", category, str(case["text"]), details, None, None, None, CREATED
    )
    got = policy.rank(plan.urgency)
    if got >= policy.rank(Urgency.emergency):
        return "emergency"
    return "clinical" if got >= policy.rank(Urgency.clinical) else "admin"


def figures(policy: Policy, cases: list[Case], title: str) -> dict[str, float]:
    table: Counter[tuple[str, str]] = Counter()
    for case in cases:
        table[(str(case["expect"]), outcome(policy, case))] += 1

    def share(want: str, hits: tuple[str, ...]) -> float:
        total = sum(table[(want, r)] for r in LEVELS)
        return sum(table[(want, r)] for r in hits) / total if total else 1.0

    out = {
        "emergency_recall": share("emergency", ("emergency",)),
        "emergency_reaches_clinical": share("emergency", ("emergency", "clinical")),
        "clinical_recall": share("clinical", ("emergency", "clinical")),
        "admin_false_alarms": share("admin", ("emergency", "clinical")),
    }
    print(f"\n{title} ({len(cases)} cases)")
    print(f"{'expected':<10} | " + " | ".join(f"got {r:<9}" for r in LEVELS))
    for want in LEVELS:
        print(f"{want:<10} | " + " | ".join(f"{table[(want, r)]:>13}" for r in LEVELS))
    print(", ".join(f"{k} {v:.1%}" for k, v in out.items()))
    return out


def meets_the_bar(got: dict[str, float]) -> list[str]:
    short = [f"{k} {got[k]:.1%} < {v:.0%}" for k, v in BAR.items() if got[k] < v]
    if got["admin_false_alarms"] > BAR_FALSE_ALARMS:
        short.append(f"admin_false_alarms {got['admin_false_alarms']:.1%} > 5%")
    return short


def part(name: str, held: bool) -> list[Case]:
    return [c for c in load(name) if bool(c["holdout"]) is held]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.default()


def test_the_first_corpus_is_large_enough() -> None:
    corpus = load("corpus.yaml")
    expects = Counter(c["expect"] for c in corpus)
    assert expects["emergency"] + expects["clinical"] >= 250
    assert expects["admin"] >= 100
    held = [c for c in corpus if c["holdout"]]
    assert len(held) >= 99 and 0.15 <= len(held) / len(corpus) <= 0.22


def test_the_second_corpus_covers_every_kind_and_keeps_a_fifth_back() -> None:
    corpus = load("corpus2.yaml")
    assert len(corpus) >= 300
    kinds = Counter(c["kind"] for c in corpus)
    for kind in ("ability", "colour", "suicide_signs", "reading_emergency", "classic",
                 "reading_clinical", "systems", "medication", "context_admin"):  # fmt: skip
        assert kinds[kind] >= 20, kind
    held = [c for c in corpus if c["holdout"]]
    assert 0.15 <= len(held) / len(corpus) <= 0.25
    for kind in kinds:
        assert any(c["holdout"] and c["kind"] == kind for c in corpus), kind
    texts = [str(c["text"]).strip().lower() for c in corpus]
    assert len(set(texts)) == len(texts)
    first = {str(c["text"]).strip().lower() for c in load("corpus.yaml")}
    assert len(first & set(texts)) <= 2  # written blind: only a stock phrase may recur


@pytest.mark.parametrize("name", CORPORA)
def test_the_tuned_part_meets_the_bar(policy: Policy, name: str) -> None:
    got = figures(policy, part(name, held=False), f"{name}, tuned part")
    assert not meets_the_bar(got)


@pytest.mark.parametrize("name", CORPORA)
@pytest.mark.xfail(
    strict=True,
    reason="the held-out parts are below the issue's bar (README, Triage); remove this mark "
    "when they meet it",
)
def test_the_held_out_part_meets_the_bar(policy: Policy, name: str) -> None:
    got = figures(policy, part(name, held=True), f"{name}, held-out part")
    assert not meets_the_bar(got)


@pytest.mark.parametrize("name", CORPORA)
def test_the_held_out_part_does_not_slip(policy: Policy, name: str) -> None:
    got = figures(policy, part(name, held=True), f"{name}, held-out part")
    floor = FLOORS[name]
    for key in ("emergency_recall", "emergency_reaches_clinical", "clinical_recall"):
        assert got[key] >= floor[key], key
    assert got["admin_false_alarms"] <= floor["admin_false_alarms"]


@pytest.mark.parametrize("name", list(FRESH_FLOORS))
def test_the_fresh_phrasings_do_not_slip(policy: Policy, name: str) -> None:
    cases = [c for c in load("fresh.yaml") if c["set"] == name]
    got = figures(policy, cases, f"fresh.yaml, {name}")
    floor = FRESH_FLOORS[name]
    for key in ("emergency_recall", "emergency_reaches_clinical", "clinical_recall"):
        assert got[key] >= floor[key], key
    assert got["admin_false_alarms"] <= floor["admin_false_alarms"]
