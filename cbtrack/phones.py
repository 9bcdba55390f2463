"""Phone numbers for other systems: E.164 where the number is valid for the practice's
country (the policy's `country`), through Google's libphonenumber rules as packaged by
`phonenumbers` (a maintained library: numbering plans change, and we write no rules of our
own). Imported only by export, so other commands do not pay for its metadata."""

from __future__ import annotations

import phonenumbers


def e164(phone: str, country: str) -> str:
    """`+13125550208` for `(312) 555-0208` in the US; the number as written when it is not
    a valid number for `country` (or for the country its own `+` code names)."""
    try:
        parsed = phonenumbers.parse(phone, country)
    except phonenumbers.NumberParseException:
        return phone
    if not phonenumbers.is_valid_number(parsed):
        return phone
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def with_extension(number: str, extension: str | None) -> str:
    """A number and its extension as one value (RFC 3966's `;ext=`), for FHIR's telecom."""
    return f"{number};ext={extension}" if extension else number
