"""Is a certificate of analysis for this lot? Its printed lot number against the lot's (pure).

Certificates and vial labels print the same lot number differently: "UC-2609-A",
"uc 2609 a", "UC2609A", "ＵＣ－２６０９－Ａ" (full width). Two numbers are the same lot when
they are equal after :func:`lot_number_key`: Unicode compatibility form (NFKC, as lot numbers
are stored), surrounding and internal whitespace removed, hyphens and dashes removed, any
case. Other characters (dots, slashes, letters O and digit 0) count: "UC.2609" is not
"UC2609", as a certificate of a lot "UC-26/09" is not one of "UC-2609".
"""

from __future__ import annotations

import re
import unicodedata

# Hyphen-minus, the Unicode hyphens and dashes (U+2010–U+2015), minus sign, small and
# full-width hyphen-minus (NFKC turns the last two into "-" already), and every whitespace.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+")


def lot_number_key(text: str) -> str:
    """The lot number as it is compared: "UC-2609-A", "uc 2609 a" and "UC2609A" → "uc2609a"."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).casefold()


def same_lot_number(certificate: str, lot: str) -> bool:
    """Whether a certificate stating ``certificate`` is for the lot numbered ``lot``."""
    key = lot_number_key(certificate)
    return bool(key) and key == lot_number_key(lot)


def mismatch_message(certificate: str, lot: str) -> str:
    """The refusal of a certificate for another lot, naming both numbers."""
    return f"The certificate is for lot {certificate.strip()}; this is lot {lot}."


NOT_RECORDED_MESSAGE = (
    "The certificate's lot number was not recorded (the CoA was entered before it was asked "
    "for): enter it on the CoA, as the certificate states it, before the lot is released."
)
