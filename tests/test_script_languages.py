"""Approved scripts in the patient's language (`scripts.languages.<code>` in the policy)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, set_policy

SPANISH = {
    "opening": "Hola, le llama {caller} de {practice}. Confirme su nombre y fecha de nacimiento.",
    "voicemail_minimal": "Hola, le llamamos de {practice}. Llame al {callback_number}. Gracias.",
    "outcomes": {"routed_clinical": "Paso su mensaje a nuestro equipo clínico hoy."},
}


def with_spanish(store_dir: Path, **extra: str) -> None:
    set_policy(
        store_dir,
        practice="Maple Test Clinic",
        callback_number="+15550100999",
        scripts={"languages": {"es": {**SPANISH, **extra}}},
    )


def test_script_uses_the_approved_translation_and_says_so(cli: Cli, store_dir: Path) -> None:
    with_spanish(store_dir)
    cid = cli.add("--language", "ES-mx")
    data = json.loads(cli.ok("script", cid, "--json").stdout)
    assert data["language"] == "es" and data["approved_translation"] is True
    assert data["opening"].startswith("Hola, le llama jlee de Maple Test Clinic.")
    assert (
        data["voicemail"]
        == "Hola, le llamamos de Maple Test Clinic. Llame al +15550100999. Gracias."
    )
    assert data["outcomes"]["routed_clinical"].startswith("Paso su mensaje")
    # Parts without a translation stay in the default language, and the note says which.
    assert data["outcomes"]["left_voicemail"].startswith("Left voicemail")
    assert "clinical_handoff" in data["language_note"]
    text = cli.ok("script", cid).stdout
    assert text.splitlines()[0].startswith("Language: es, the practice's approved translation")


def test_no_translation_says_none_is_approved(cli: Cli, store_dir: Path) -> None:
    with_spanish(store_dir)
    cid = cli.add("--language", "fr")
    data = json.loads(cli.ok("script", cid, "--json").stdout)
    assert data["language"] is None and data["approved_translation"] is False
    assert "no approved translation for 'fr'" in data["language_note"]
    assert data["opening"].startswith("Hello")
    assert cli.ok("script", cid).stdout.startswith("Language: no approved translation for 'fr'")
    plain = cli.add()
    assert "Language:" not in cli.ok("script", plain).stdout
    assert "not recorded" in json.loads(cli.ok("script", plain, "--json").stdout)["language_note"]


def test_translations_follow_the_placeholder_rules(cli: Cli, store_dir: Path) -> None:
    with_spanish(store_dir, voicemail_minimal="Hola {patient_first}, llame al {callback_number}.")
    err = cli.refused("queue", code=3)
    assert "scripts.languages.es.voicemail_minimal may not use {patient_first}" in err
