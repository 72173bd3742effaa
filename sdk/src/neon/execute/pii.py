"""Personal data in text: regexes for candidates, then validation — Luhn for card numbers, ISO 13616 mod 97 for
IBANs, area/group/serial rules for US SSNs, the `ipaddress` module for IPs, digit counts for phone numbers.

Detectors are heuristics, tuned to miss little and flag little: a phone number needs 9–15 digits (8 with a
leading +), dates are not phone numbers, and where two detectors claim the same characters the more specific
one wins (email > iban > credit card > ssn > ip address > phone), even when it was not asked for.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PII_LABELS = {"email": "EMAIL", "phone": "PHONE", "credit_card": "CREDIT_CARD", "ssn": "SSN", "iban": "IBAN",
              "ip_address": "IP_ADDRESS"}
ORDER = ("email", "iban", "credit_card", "ssn", "ip_address", "phone")

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?!\d)")
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                   r"(?!\.?\d)")
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?![\w:])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){0,5}(?!\w)")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


@dataclass(frozen=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    text: str


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of a card number's digits (separators ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 == 1 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: 15–34 characters, and the number formed by moving the first four to the end (letters as
    10–35) is 1 modulo 97."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ssn_valid(match: re.Match[str]) -> bool:
    area, group, serial = match.group(1), match.group(3), match.group(4)
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _ip_valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _phone_valid(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    if _DATE.fullmatch(text.strip()):
        return False
    return (8 if text.startswith("+") else 9) <= digits <= 15


_DETECTORS: dict[str, tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], bool]], ...]] = {
    "email": ((_EMAIL, lambda m: True),),
    "iban": ((_IBAN, lambda m: iban_valid(m.group(0))),),
    "credit_card": ((_CARD, lambda m: 13 <= sum(c.isdigit() for c in m.group(0)) <= 19 and luhn_valid(m.group(0))),),
    "ssn": ((_SSN, _ssn_valid),),
    "ip_address": ((_IPV4, lambda m: True), (_IPV6, lambda m: _ip_valid(m.group(0)))),
    "phone": ((_PHONE, lambda m: _phone_valid(m.group(0))),),
}


def find_pii(text: str, kinds: Iterable[str] = ORDER) -> list[PiiMatch]:
    """The personal data of the asked `kinds` in `text`, in order, never overlapping."""
    wanted = set(kinds)
    starts: list[int] = []  # claimed spans, sorted and never overlapping, so ends are sorted too
    ends: list[int] = []
    found: list[PiiMatch] = []
    for kind in ORDER:  # every detector runs, so an IBAN is never reported as a phone number
        for pattern, valid in _DETECTORS[kind]:
            for match in pattern.finditer(text):
                start, end = match.span()
                at = bisect.bisect_right(starts, start)
                if (at > 0 and ends[at - 1] > start) or (at < len(starts) and starts[at] < end):
                    continue
                if not valid(match):
                    continue
                starts.insert(at, start)
                ends.insert(at, end)
                if kind in wanted:
                    found.append(PiiMatch(kind, start, end, match.group(0)))
    return sorted(found, key=lambda m: m.start)


def redact_pii(text: str, matches: list[PiiMatch]) -> str:
    """`text` with each match replaced by its label, e.g. `[EMAIL]`."""
    out, last = [], 0
    for match in sorted(matches, key=lambda m: m.start):
        out.append(text[last:match.start])
        out.append(f"[{PII_LABELS[match.kind]}]")
        last = match.end
    out.append(text[last:])
    return "".join(out)
