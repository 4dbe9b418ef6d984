"""Belgian identifiers as offices type them, made into AMLCare keys (all checks by python-stdnum).

An office writes a KBO number as `0123.456.749`, `BE0123456749` or, after a spreadsheet, with
nine digits; a national register number as `85.07.31-001.45`. AMLCare keys are bare digits: ten
for a KBO number, eleven for a national register (or BIS) number.
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum.be import bis, nn, vat
from stdnum.exceptions import ValidationError

NRN_LENGTH = 11
KBO_LENGTH = 10


@dataclass(frozen=True)
class Checked:
    """An identifier after checking: the key when valid, else why not."""

    key: str | None
    problem: str | None = None


def check_kbo(value: str | None) -> Checked:
    """Normalise and validate an enterprise (KBO) number; a lost leading zero is restored."""
    if not value or not value.strip():
        return Checked(None, "no KBO number")
    digits = vat.compact(value)  # drops BE, dots, spaces; pads nine digits with a leading 0
    if len(digits) == KBO_LENGTH - 1 and digits.isdigit():
        digits = "0" + digits
    try:
        return Checked(vat.validate(digits))
    except ValidationError as error:
        return Checked(None, f"invalid KBO number ({error})")


def check_nrn(value: str | None, *, allow_bis: bool = True) -> Checked:
    """Normalise and validate a national register number, or a BIS number where allowed."""
    if not value or not value.strip():
        return Checked(None, "no national register number")
    digits = nn.compact(value)
    if len(digits) == NRN_LENGTH - 1 and digits.isdigit():
        digits = "0" + digits  # born 2000-2009, and a spreadsheet dropped the leading zero
    try:
        return Checked(nn.validate(digits))
    except ValidationError as nn_error:
        if allow_bis and bis.is_valid(digits):
            return Checked(bis.compact(digits))
        return Checked(None, f"invalid national register number ({nn_error})")


def mask_nrn(value: str | None) -> str:
    """A national register number as people print it, with the personal part hidden.

    `85073100145` becomes `85.07.31-***.**`: the birth date stays (enough to find the person
    in the file), the counter and check digits, which single the person out, do not.
    """
    digits = "".join(char for char in value or "" if char.isdigit())
    if len(digits) < 6:
        return "***"
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}-***.**"


def mask_key(key: str | None, *, is_person: bool) -> str:
    """A client key fit for a log or report: KBO numbers are public, NRNs are masked."""
    if not key:
        return "-"
    return mask_nrn(key) if is_person else key
