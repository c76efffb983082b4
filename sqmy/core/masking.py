"""Phone and ID numbers masked before text leaves the service in an export (``138****5678``)."""

from __future__ import annotations

import re

# an 18-character resident ID (17 digits and a digit or X), a mainland mobile number, a landline with area code
_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)\d{3,4}(\d{4})(?!\d)")


def mask_numbers(text: str) -> str:
    """``text`` with ID numbers (``110101********1234``), mobile (``138****5678``) and landline numbers
    (``010-****5678``) masked; everything else unchanged."""
    text = _ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    text = _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    return _LANDLINE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
