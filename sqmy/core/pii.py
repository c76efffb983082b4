"""Personal data in a text: phone numbers and resident ID numbers, found and masked.

``find_contacts(text)`` returns ``(kind, start, end)`` spans; ``mask_pii(text)`` replaces their digits with ``*``
character for character, so the masked text has the same length and every offset into the original stays valid.
Mobile phones keep their first 3 and last 4 digits (``138****5678``), landlines their area code and last 4
(``0571-****6655``), ID numbers their first 3 and last 4 characters (``330***********123X``): enough for an
editor to tell two apart, not enough to call or identify.

Phone candidates come from a pattern (mobile numbers, landlines with area code, 400/800 service numbers,
``+86``/``86``/``0086``, the digits grouped any way by spaces, hyphens or dashes, ``(0571)``, full-width digits, an
extension such as ``转2206``/``分机2031``/``-6012`` as part of the number) and are kept only when ``phonenumbers``
(Google's libphonenumber) says the number without its extension is valid in China (a landline: possible, i.e. of
the right length for its area code); a 7–8 digit local number counts only right after a word such as
电话/手机/座机. Short service numbers (12345, 95598), already masked numbers (138****5678) and digits inside a
grouped card number are no phone numbers. A masked extension stays readable: ``029-****1943转2206``.
18-digit ID numbers must have the right check character (GB 11643), a birth date that exists and a county code of
the national tables (``python-stdnum``'s ``cn/loc.dat``, see ``sqmy.core.divisions``); old 15-digit ones the
date and the county: so order, bank and express numbers of those lengths are not taken for ID numbers.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any, cast

Span = tuple[str, int, int]  # (kind, start, end): kind is "phone" or "id_number"

# Full-width ASCII (！ to ～) and the ideographic space to their ASCII forms: one character for one, so offsets hold.
_HALF = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_DIGIT = re.compile(r"\d")
_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_SEP = "[ \\-\u2013\u2014]?"  # one space, hyphen, en or em dash between digit groups (full-width ones made ASCII)
_PHONE = re.compile(
    r"(?<![\dA-Za-z+])(?<!\d[ \-])(?P<main>(?:(?:\+|00)?86[ \-]?)?"  # not inside a grouped card number
    r"(?:1[3-9]\d(?:" + _SEP + r"\d){8}"  # mobile: 11 digits grouped any way (138 1234 5678, 1595 9212 438)
    r"|(?:\(0\d{2,3}\)|0\d{2,3})" + _SEP + r"[2-9](?:" + _SEP + r"\d){6,7}"  # area code + 7-8 digit local
    r"|[48]00(?:" + _SEP + r"\d){7})"  # 400/800 service numbers (10 digits)
    r"(?!\d))(?:(?:转|分机|ext\.?|-)\d{1,5}(?![\d.]))?")  # an extension: 转2206, 分机2031, -6012
_LOCAL = re.compile(r"(?:电话|手机|座机|联系方式|热线|tel|Tel|TEL)[:： ]{0,2}(?:是|为)?[:： ]{0,2}"
                    r"([2-9]\d{6,7})(?!\d)")


def halfwidth(text: str) -> str:
    """``text`` with full-width digits, letters and signs as ASCII (same length)."""
    return text.translate(_HALF)


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_digit(body: str) -> str:
    """The check character of an 18-digit ID number's first 17 digits (GB 11643, ISO 7064 MOD 11-2)."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _valid_id(number: str) -> bool:
    """An 18-digit number with the right check character, or an old 15-digit one; both with a birth date that
    exists (born 1900 or later) and a county code of the national tables."""
    from sqmy.core.divisions import division_codes

    if len(number) == 15:  # old card: 2-digit year, no check character
        number = number[:6] + "19" + number[6:]
    elif check_digit(number[:17]) != number[17].upper():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today() and number[:6] in division_codes()


@lru_cache(maxsize=4096)
def _valid_phone(raw: str) -> bool:
    import phonenumbers  # imported on first use

    digits = re.sub(r"[^\d+]", "", raw)
    try:
        number = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        return False
    if number.country_code != 86:
        return False
    if phonenumbers.is_valid_number(number):
        return True
    # a landline whose local number the metadata does not list (ranges change faster than it): the length is enough
    national = str(number.national_number)
    return not national.startswith("1") and len(national) >= 10 and phonenumbers.is_possible_number(number)


def find_contacts(text: str) -> list[Span]:
    """Phone and ID numbers in ``text``, sorted by position, not overlapping."""
    if not _DIGIT.search(text):
        return []
    plain = halfwidth(text)
    found: list[Span] = [("id_number", m.start(1), m.end(1)) for m in _ID.finditer(plain) if _valid_id(m.group(1))]
    taken = [(s, e) for _, s, e in found]

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in _PHONE.finditer(plain):
        if free(m.start(), m.end()) and _valid_phone(m.group("main")):
            found.append(("phone", m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for m in _LOCAL.finditer(plain):
        if free(m.start(1), m.end(1)):
            found.append(("phone", m.start(1), m.end(1)))
    return sorted(found, key=lambda f: f[1])


_EXTENSION = re.compile(r"(?:转|分机|ext\.?|-)\d{1,5}$")


def mask_value(kind: str, value: str) -> str:
    """One phone or ID number with its middle digits as ``*`` (same length; separators kept; a phone's extension,
    ``转2206``, is kept as it is and the number before it masked)."""
    extension = _EXTENSION.search(value) if kind == "phone" else None
    if extension and sum(c.isdigit() for c in halfwidth(value[:extension.start()])) >= 10:
        return mask_value(kind, value[:extension.start()]) + extension.group()
    digits = [i for i, c in enumerate(value) if c.isdigit() or c in "Xx"]
    head = 3  # mobile and ID numbers: the first 3; landlines: the area code; local numbers: nothing
    if kind == "phone":  # the country code is no part of the number
        number = "".join(halfwidth(value[i]) for i in digits)
        digits = digits[4 if number.startswith("0086") else 2 if number.startswith("86") and len(number) > 11 else 0:]
        number = "".join(halfwidth(value[i]) for i in digits)
        head = 0 if len(number) <= 8 else (3 if number[1] in "12" else 4) if number[0] == "0" else 3
    keep = set(digits[:head] + digits[-4:])
    return "".join("*" if i in digits and i not in keep else c for i, c in enumerate(value))


def mask_spans(text: str, spans: list[Span]) -> str:
    """``text`` with the given phone/ID spans masked."""
    if not spans:
        return text
    out, pos = [], 0
    for kind, start, end in spans:
        out += [text[pos:start], mask_value(kind, text[start:end])]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_pii(text: str) -> str:
    """``text`` with every phone and ID number masked (same length, so offsets into it stay valid)."""
    return mask_spans(text, find_contacts(text)) if text else text


def mask_values(value: Any) -> Any:
    """``value`` with every string inside it (lists, dicts, nested) masked; an integer that is a phone or ID number
    (a spreadsheet cell) becomes its masked string."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_values(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**6:
        masked = mask_pii(str(value))
        return value if masked == str(value) else masked
    return value


def contains_pii(text: str) -> bool:
    return bool(find_contacts(text))


_installed = False


def _plain_arguments(args: object) -> bool:
    """Whether a log record's arguments are a tuple of strings and numbers that can be masked in place (an integer
    that looks like a phone or ID number cannot: the record is then formatted and masked whole)."""
    return isinstance(args, tuple) and all(
        isinstance(a, str | float | None) or (isinstance(a, int) and mask_pii(str(a)) == str(a)) for a in args)


def install_log_masking() -> None:
    """Mask phone and ID numbers in every log record this process makes from now on (message, arguments and a
    formatted exception), whichever logger or handler it goes to. Idempotent."""
    global _installed
    if _installed:
        return
    import logging

    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _plain_arguments(record.args):  # masked one by one: formatters that unpack them (uvicorn's access
            record.msg = mask_pii(record.msg) if isinstance(record.msg, str) else record.msg  # log) still can
            record.args = tuple(mask_pii(a) if isinstance(a, str) else a for a in cast(tuple[Any, ...], record.args))
        else:
            try:
                message = record.getMessage()
            except Exception:  # a record whose arguments do not fit its format: leave it to logging's own report
                return record
            record.msg, record.args = mask_pii(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = mask_pii(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
