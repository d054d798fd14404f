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


def matches(text: str) -> list[tuple[str, int, int]]:
    """Every piece of personal or payment data in `text`: (kind, start, end), kinds of KINDS,
    ordered by where they start. A pseudonymized copy replaces them (security.pseudonyms)."""
    found = [("email", *m.span()) for m in _EMAIL.finditer(text)]
    found += [("phone", *m.span()) for m in _PHONE.finditer(text)]
    if _PASSPORT_WORD.search(text):
        found += [("passport", *m.span()) for m in _PASSPORT.finditer(text)]
    found += [("account", *m.span()) for m in _BIK.finditer(text)]
    found += [("snils", *m.span()) for m in _SNILS.finditer(text)
              if _snils(re.sub(r"\D", "", m.group(0)))]
    for run in _DIGIT_RUNS.finditer(text):
        digits = re.sub(r"\D", "", run.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(("card", *run.span()))
        elif len(digits) == 20 and digits[:3] in ("407", "408", "405", "406", "423"):
            found.append(("account", *run.span()))
        elif len(digits) in (10, 12) and " " not in run.group(0).strip() and _inn(digits):
            found.append(("inn", *run.span()))
    return sorted(found, key=lambda match: (match[1], -match[2]))


def find(text: str) -> list[str]:
    """The kinds of personal or payment data in `text` (keys of KINDS), in KINDS' order."""
    found = {kind for kind, _start, _end in matches(text)}
    return [kind for kind in KINDS if kind in found]


# A postal address: a street (its type: "ул.", "проспект"...) with a house number, and what
# may stand around it (a postcode, the town, the building, the flat). Not a 584-FZ kind: the
# rule refuses identifiers and payment details, not an address; a sandbox replaces them.
_STREET = (r"(?:ул\.|улица|пр-т|просп\.|проспект|пр\.|пер\.|переулок|ш\.|шоссе|наб\.|"
           r"набережная|б-р|бул\.|бульвар|пл\.|площадь|проезд|алл\.|аллея|тупик|мкр\.?|"
           r"микрорайон)")
_ADDRESS = re.compile(
    r"(?:(?<!\d)\d{6},?\s*)?"
    r"(?:(?:г\.|город|с\.|село|пос\.|п\.|пгт|рп|ст\.|ст-ца|дер\.|д\.|клх|к\.|х\.|аул|снт)"
    r"\s*[А-ЯЁ][\w-]*(?:\s[А-ЯЁ(][\w.()-]*)?,\s*)?"
    rf"(?<!\w){_STREET}\s*"
    r"(?:[^\n,;]{1,60}?,?\s*(?:д\.|дом)\s*|[^\W\d_][^\n,;\d]{0,60}?,?\s*)\d+[\w/-]*"
    r"(?:,?\s*(?:к\.|корп\.|корпус|стр\.|строение)\s*\d+[\w/-]*)*"
    r"(?:,?\s*(?:кв\.|квартира|оф\.|офис)\s*\d+\w*)?"
    r"(?:,\s*\d{6}(?!\d))?",
    re.IGNORECASE)


def addresses(text: str) -> list[tuple[int, int]]:
    """Where postal addresses are in `text`: (start, end)."""
    return [m.span() for m in _ADDRESS.finditer(text)]


def describe(kinds: list[str]) -> str:
    return ", ".join(str(KINDS[kind]) for kind in kinds)
