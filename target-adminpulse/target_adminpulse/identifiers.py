"""Belgian identifiers as AMLCare keys them and AdminPulse is searched by (checks by stdnum)."""

from __future__ import annotations

from stdnum.be import bis, nn, vat
from stdnum.exceptions import ValidationError

# A national register number has 11 digits; a spreadsheet drops the leading zero of people born
# in 2000-2009, leaving 10.
NRN_LENGTH = 11


class InvalidIdentifier(ValueError):
    """An identifier that no relation can be matched on, with the reason."""


def normalise_kbo(value: str) -> str:
    """The 10 digits of an enterprise number typed as `BE 0123.456.749`, `123456749`, ..."""
    digits = vat.compact(value)
    try:
        return str(vat.validate(digits))
    except ValidationError as error:
        msg = f"KBO number {value!r} is not valid: {error}"
        raise InvalidIdentifier(msg) from None


def normalise_nrn(value: str) -> str:
    """The 11 digits of a national register or BIS number typed as `85.07.31-001.45`, ..."""
    digits = nn.compact(value)
    if len(digits) == NRN_LENGTH - 1 and digits.isdigit():
        digits = "0" + digits
    if nn.is_valid(digits) or bis.is_valid(digits):
        return digits
    msg = f"national register number {mask_nrn(digits)} is not valid (checked as NRN and BIS)"
    raise InvalidIdentifier(msg)


def mask_nrn(value: str | None) -> str:
    """A national register number shown as its birth date only: `85.07.31-***.**`."""
    digits = "".join(char for char in value or "" if char.isdigit())
    if len(digits) < 6:  # the birth date part
        return "***"
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}-***.**"


def business_key(client_type: str | None, key: str | None) -> str:
    """How a report names a client: its KBO number in full, a person's number masked."""
    if not key:
        return "(no key)"
    if client_type == "company":
        return f"KBO {key}"
    return f"NRN {mask_nrn(key)}"
