"""Personal data and payment details in a free text: what a message about to leave through a
foreign messenger may not carry when the 584-FZ switch is on (inbox.policy).

The same kinds the cards mask (phones, e-mails) and the identifiers Russian documents carry:
passport series and number, bank cards (Luhn), INN (its check digits), SNILS (its check
number), bank account numbers and BIK. Numbers are checked, not only shaped, so an order
number or a price is not taken for an INN. A detector, not a guarantee: a name with an
address in words, or a scan in a file, is not text it can read (files are refused as such).
"""

import re

from django.utils.translation import gettext_lazy as _

KINDS = {
    "phone": _("a phone number"),
    "email": _("an e-mail address"),
    "passport": _("passport details"),
    "card": _("a bank card number"),
    "inn": _("an INN"),
    "snils": _("a SNILS"),
    "account": _("bank account details"),
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# +7 / 8 and ten digits, with the usual separators; or a bare 10-digit mobile from 9.
_PHONE = re.compile(r"(?<![\w+])(?:(?:\+7|8)[\s(.-]*\d{3}[\s).-]*\d{3}[\s.-]*\d{2}[\s.-]*\d{2}"
                    r"|9\d{2}[\s.-]?\d{3}[\s.-]?\d{2}[\s.-]?\d{2})(?!\d)")
# Series (4 digits, often as 2 + 2) and number (6 digits), next to the word or alone.
_PASSPORT = re.compile(r"(?<!\d)\d{2}\s?\d{2}\s?(?:№\s?)?\d{6}(?!\d)")
_PASSPORT_WORD = re.compile(r"паспорт|серия", re.IGNORECASE)
_DIGIT_RUNS = re.compile(r"(?<![\d-])\d(?:[\d -]*\d)?(?![\d-])")
_SNILS = re.compile(r"(?<!\d)\d{3}-?\d{3}-?\d{3}[\s-]?\d{2}(?!\d)")
_BIK = re.compile(r"бик\D{0,5}04\d{7}(?!\d)", re.IGNORECASE)


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _inn(digits: str) -> bool:
    def check(weights):
        return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10

    if len(digits) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(digits[9])
    if len(digits) == 12:
        return (check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(digits[10])
                and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(digits[11]))
    return False


def _snils(digits: str) -> bool:
    number, control = digits[:9], int(digits[9:])
    total = sum(int(d) * (9 - i) for i, d in enumerate(number))
    while total > 101:
        total %= 101
    return (0 if total in (100, 101) else total) == control


def find(text: str) -> list[str]:
    """The kinds of personal or payment data in `text` (keys of KINDS), in KINDS' order."""
    found = set()
    if _EMAIL.search(text):
        found.add("email")
    if _PHONE.search(text):
        found.add("phone")
    if _PASSPORT_WORD.search(text) and _PASSPORT.search(text):
        found.add("passport")
    if _BIK.search(text):
        found.add("account")
    for match in _SNILS.finditer(text):
        if _snils(re.sub(r"\D", "", match.group(0))):
            found.add("snils")
    for run in _DIGIT_RUNS.finditer(text):
        digits = re.sub(r"\D", "", run.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.add("card")
        elif len(digits) == 20 and digits[:3] in ("407", "408", "405", "406", "423"):
            found.add("account")
        elif len(digits) in (10, 12) and " " not in run.group(0).strip() and _inn(digits):
            found.add("inn")
    return [kind for kind in KINDS if kind in found]


def describe(kinds: list[str]) -> str:
    return ", ".join(str(KINDS[kind]) for kind in kinds)
