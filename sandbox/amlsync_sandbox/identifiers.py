"""Belgian identifiers: how the services match and validate them (all checks by python-stdnum)."""

from __future__ import annotations

import re

from stdnum.be import bis, nn, vat

# A national register number has 11 digits; a spreadsheet that treats it as a number drops the
# leading zero of people born in 2000-2009, leaving 10.
NRN_LENGTH = 11
# The same happens to an enterprise number, which then has 9 digits (stdnum restores that one).
KBO_LENGTH = 10

# Deliberately plain: one "@", no spaces, a dot in the domain. AMLCare's real rule is unknown.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def vat_match_key(value: str | None) -> str | None:
    """Reduce an enterprise number as typed (`BE 0123.456.749`, `123456749`) to its digits."""
    if not value:
        return None
    return vat.compact(value) or None


def nrn_match_key(value: str | None) -> str | None:
    """Reduce a national register number as typed (`85.07.31-001.45`) to its 11 digits."""
    if not value:
        return None
    digits = "".join(char for char in value if char.isdigit())
    if len(digits) == NRN_LENGTH - 1:
        digits = "0" + digits
    return digits or None


def is_valid_nrn(key: str) -> bool:
    """Whether `key` is 11 digits forming a valid national register or BIS number."""
    return len(key) == NRN_LENGTH and key.isdigit() and (nn.is_valid(key) or bis.is_valid(key))


def is_valid_kbo(key: str) -> bool:
    """Whether `key` is 10 digits forming a valid enterprise (KBO) number."""
    return len(key) == KBO_LENGTH and key.isdigit() and vat.is_valid(key)


def is_valid_email(value: str) -> bool:
    """Whether `value` looks like an e-mail address."""
    return bool(_EMAIL.match(value))


def mask(key: str | None) -> str:
    """Show an identifier in a log or message without giving it away: `85••••••145`."""
    if not key:
        return "-"
    shown = 5  # two digits in front, three at the end
    if len(key) <= shown:
        return "•" * len(key)
    return key[:2] + "•" * (len(key) - shown) + key[-3:]
