"""Pseudonyms for a sandbox (`manage.py make_sandbox`, security/sandbox.py): each client
person gets one fake Russian identity (Faker's ru_RU), the same in every table, and free texts
lose the names, phones, e-mails, addresses and document numbers in them.

Every fake is seeded from an HMAC of a random salt of the run and what it stands for (a
contact's id, a phone's digits, an e-mail): the same source value gets the same fake
wherever it appears in one run, and without the salt, which is never stored, nothing in the
sandbox leads back to the source. Different source values never share a fake (a collision is
drawn again), so the unique constraints of the copy hold.

Free texts: first what security.personal_data finds (the 584-FZ detector: phones, e-mails,
passport, card, INN, SNILS, bank details) and the postal addresses, then word by word the
names and identifiers the apps taught (`learn_*`, core.holdings: `pseudonym_sources`): a
person's full name, the words of it also when inflected ("Эрасова" for "Эрасов"), their
messenger ids, and their phones written as bare digits.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from faker import Faker

from security import personal_data

_WORD = re.compile(r"[^\W_]+")  # as core.search: letters and digits
# Endings of a Russian name's word that inflect away ("Мария" -> "Марии", "Анна" -> "Анной").
_SOFT_ENDING = "аяйьео"
_MAX_ENDING = 3  # letters an inflected form may add to a word's stem
# A female name, told by its last name or first name: the fake keeps the gender.
_FEMALE_ENDINGS = ("ова", "ева", "ёва", "ина", "ына", "ая", "ская", "цкая")
_MALE_NAMES_IN_A = {"никита", "илья", "кузьма", "фома", "лука", "савва", "данила"}
_LEGAL_FORMS = {"ооо", "оао", "зао", "пао", "ао", "ип", "нко", "ано", "гуп", "муп", "llc",
                "ltd", "inc"}


def fold(word: str) -> str:
    return word.casefold().replace("ё", "е")


def _stem(folded: str) -> str:
    return folded[:-1] if len(folded) > 3 and folded[-1] in _SOFT_ENDING else folded


def _looks_female(words: list[str]) -> bool:
    folded = [fold(word) for word in words]
    return any(word.endswith(_FEMALE_ENDINGS) for word in folded) or any(
        word.endswith(("а", "я")) and word not in _MALE_NAMES_IN_A for word in folded[:1])


def _same_case(fake: str, source: str) -> str:
    if source.isupper() and len(source) > 1:
        return fake.upper()
    if source[:1].isupper():
        return fake
    return fake.lower()


def _reshaped(source: str, digits: str) -> str:
    """`source` with its digits replaced by `digits` from the right (separators, a leading
    +7 or 8 kept): "8 (903) 123-45-67" stays in that shape."""
    out, fake = [], list(digits)
    for char in reversed(source):
        out.append(fake.pop() if char.isdigit() and fake else char)
    return "".join(reversed(out))


def phone_key(value: str) -> str:
    """A phone's identity: its last ten digits (+7 903..., 8 903... and 903... are one)."""
    digits = re.sub(r"\D", "", value)
    return digits[-10:] if len(digits) >= 10 else digits


@dataclass
class FakePerson:
    name: str
    words: list[str]  # the fake's words, one per word of the source name, in its order


class Pseudonyms:
    def __init__(self, salt: bytes | None = None):
        self._salt = salt or secrets.token_bytes(32)
        self._faker = Faker("ru_RU")
        self._people: dict[int, FakePerson] = {}
        self._fakes: dict[tuple[str, str], str] = {}  # (kind, source) -> fake
        self._taken: dict[str, set[str]] = {}  # kind -> fakes given
        self._words: dict[str, str] = {}  # a folded name word (or its stem) -> its fake
        self._own_words: dict[int, dict[str, str]] = {}  # the same, one person's
        self._identifiers: set[str] = set()  # messenger ids and the like, as written
        self._phones: set[str] = set()  # phone_key of every known phone

    # --- Seeding ----------------------------------------------------------------------------

    def _seeded(self, *what) -> Faker:
        digest = hmac.new(self._salt, "\x00".join(map(str, what)).encode(),
                          hashlib.sha256).digest()
        self._faker.seed_instance(int.from_bytes(digest[:8], "big"))
        return self._faker

    def _fake(self, kind: str, source: str, make) -> str:
        """The fake of `source` as `make(seeded faker)` draws it, unique within `kind`."""
        known = self._fakes.get((kind, source))
        if known is not None:
            return known
        taken = self._taken.setdefault(kind, set())
        for attempt in range(100):
            fake = make(self._seeded(kind, source, attempt))
            if fake not in taken and fake != source:
                break
        taken.add(fake)
        self._fakes[(kind, source)] = fake
        return fake

    def _digits(self, faker: Faker, count: int) -> str:
        return "".join(str(faker.random_digit()) for _ in range(count))

    # --- People -----------------------------------------------------------------------------

    def person(self, contact_id: int, source_name: str = "") -> FakePerson:
        """The fake of the client whose contact is `contact_id`: a name of as many words as
        the source's (first name; first and last; last, first and patronymic)."""
        known = self._people.get(contact_id)
        if known is not None:
            return known
        words = _WORD.findall(source_name)
        faker = self._seeded("person", contact_id)
        if _looks_female(words):
            first, last, middle = (faker.first_name_female(), faker.last_name_female(),
                                   faker.middle_name_female())
        else:
            first, last, middle = (faker.first_name_male(), faker.last_name_male(),
                                   faker.middle_name_male())
        if len(words) <= 1:
            fake_words = [first]
        elif len(words) == 2:
            fake_words = [first, last]
        else:
            fake_words = [last, first, middle] + [last] * (len(words) - 3)
        person = FakePerson(" ".join(fake_words), fake_words)
        self._people[contact_id] = person
        return person

    def learn_person(self, contact_id: int, name: str) -> FakePerson:
        """A client's name as their card has it: its words (and inflected forms of them)
        become the fake's words in every text."""
        person = self.person(contact_id, name)
        for word, fake in zip(_WORD.findall(name), person.words, strict=False):
            self._learn_word(word, fake, contact_id)
        return person

    def learn_alias(self, contact_id: int, name: str) -> None:
        """Another name the client goes by (a messenger's display name, a mail's sender
        name): its words unknown so far become fake first names, theirs from now on."""
        own = self._own_words.setdefault(contact_id, {})
        for word in _WORD.findall(name or ""):
            folded = fold(word)
            # Names are written capitalized; "TG" or "(work)" beside them are not names.
            if (folded in own or len(word) < 3 or not word[0].isupper()
                    or not word.isalpha()):
                continue
            self._learn_word(word, self._seeded("alias", folded).first_name(), contact_id)

    def _learn_word(self, word: str, fake: str, contact_id: int | None) -> None:
        folded = fold(word)
        if len(folded) < 2 or not word.isalpha():
            return
        if contact_id is not None:
            own = self._own_words.setdefault(contact_id, {})
            own.setdefault(folded, fake)
            own.setdefault(_stem(folded), fake)
        if len(folded) >= 3:  # "Ян" alone would rewrite too much of everyone's texts
            self._words.setdefault(folded, fake)
            self._words.setdefault(_stem(folded), fake)

    def learn_company(self, company_id: int, name: str) -> str:
        """A client company's name: its fake, and its words (not the legal form) replaced in
        every text."""
        fake = self.company(company_id)
        fake_words = [w for w in _WORD.findall(fake) if fold(w) not in _LEGAL_FORMS]
        words = [w for w in _WORD.findall(name) if fold(w) not in _LEGAL_FORMS]
        for position, word in enumerate(words):
            if word[:1].isupper():
                self._learn_word(word, fake_words[min(position, len(fake_words) - 1)]
                                 if fake_words else "Компания", None)
        return fake

    def company(self, company_id: int) -> str:
        return self._fake("company", str(company_id), lambda f: f.company())

    # --- Values -----------------------------------------------------------------------------

    def learn_phone(self, value: str) -> None:
        if value:
            self._phones.add(phone_key(value))

    def learn_email(self, value: str) -> None:
        """Found in texts by their shape anyway; known so that an identity's id that is an
        address is one."""
        if value:
            self._identifiers.add(value)

    def learn_identifier(self, value: str) -> None:
        """What a messenger knows a client by (a chat id): replaced wherever it is written
        alone, as itself or as each of its long parts ("-100123" or "123:45")."""
        if not value:
            return
        self._identifiers.add(str(value))
        self._identifiers.update(part for part in _WORD.findall(str(value)) if len(part) >= 5)

    def phone(self, value: str) -> str:
        """A fake number in the source's shape, the same for every way of writing it."""
        if not value:
            return value
        key = phone_key(value)
        fake = self._fake("phone", key, lambda f: (
            "9" + self._digits(f, 9) if len(key) == 10 else self._digits(f, len(key))))
        return _reshaped(value, fake)

    def email(self, value: str) -> str:
        if not value:
            return value
        return self._fake("email", value.lower(), lambda f: (
            f"{f.user_name()}{f.random_int(1, 999)}@{f.safe_domain_name()}"))

    def identifier(self, value: str) -> str:
        """A messenger id's fake, of its shape: digits for digits, hex for hex (a website
        visitor's hash), an address for an address, a phone for a known phone."""
        value = str(value)
        if not value:
            return value
        if "@" in value:
            return self.email(value)
        digits = re.sub(r"\D", "", value)
        if digits == value.lstrip("+") and phone_key(value) in self._phones:
            return self.phone(value)
        if re.fullmatch(r"-?\d+", value):
            return self._fake("identifier", value, lambda f: (
                ("-" if value.startswith("-") else "") + str(f.random_int(1, 9))
                + self._digits(f, len(digits) - 1)))
        if re.fullmatch(r"[0-9a-f]+", value):
            return self._fake("identifier", value, lambda f: f.hexify("^" * len(value)))
        return self._fake("identifier", value, lambda f: f.lexify("?" * len(value),
                                                                 "abcdefghijklmnopqrstuvwxyz"
                                                                 "0123456789"))

    def domain(self, value: str) -> str:
        """A fake site or mail domain, for a company's website."""
        return self._fake("domain", value.lower(), lambda f: f.domain_name())

    def address(self, value: str) -> str:
        return self._fake("address", fold(value), lambda f: f.address().replace("\n", ", "))

    def _document(self, kind: str, value: str) -> str:
        """A fake of a document number in the source's shape (a valid INN, SNILS or card
        number where Faker draws one)."""
        digits = re.sub(r"\D", "", value)
        draw = {
            "inn": lambda f: f.businesses_inn() if len(digits) == 10 else f.individuals_inn(),
            "snils": lambda f: f.snils(),
            "card": lambda f: f.credit_card_number(),
        }.get(kind)

        def make(f):
            drawn = re.sub(r"\D", "", draw(f)) if draw else ""
            if len(drawn) != len(digits):
                drawn = self._digits(f, len(digits))
            return drawn

        return _reshaped(value, self._fake(kind, digits, make))

    def inn(self, value: str) -> str:
        return self._document("inn", value) if value else value

    # --- Texts ------------------------------------------------------------------------------

    def text(self, value: str, *, person: int | None = None) -> str:
        """`value` with every piece of personal data in it replaced by its fake; `person`, the
        contact the text is about, whose names win over a namesake's."""
        if not value:
            return value
        return self._words_replaced(self._data_replaced(value), person)

    def json(self, value, *, person: int | None = None):
        if isinstance(value, str):
            return self.text(value, person=person)
        if isinstance(value, list):
            return [self.json(item, person=person) for item in value]
        if isinstance(value, dict):
            return {key: self.json(item, person=person) for key, item in value.items()}
        return value

    def _data_replaced(self, value: str) -> str:
        found = personal_data.matches(value) + [
            ("address", start, end) for start, end in personal_data.addresses(value)]
        found.sort(key=lambda match: (match[1], -match[2]))
        out, position = [], 0
        for kind, start, end in found:
            if start < position:
                continue  # inside one replaced already
            source = value[start:end]
            if kind == "email":
                fake = self.email(source)
            elif kind == "phone":
                fake = self.phone(source)
            elif kind == "address":
                fake = self.address(source)
            else:
                fake = self._document(kind, source)
            out += [value[position:start], fake]
            position = end
        out.append(value[position:])
        return "".join(out)

    def _words_replaced(self, value: str, person: int | None) -> str:
        own = self._own_words.get(person, {}) if person is not None else {}
        out, position = [], 0
        for match in _WORD.finditer(value):
            fake = self._word(match.group(0), own)
            if fake is not None:
                out += [value[position:match.start()], fake]
                position = match.end()
        out.append(value[position:])
        return "".join(out)

    def _word(self, word: str, own: dict[str, str]) -> str | None:
        if word in self._identifiers:
            return self.identifier(word)
        if word.isdigit():
            if len(word) in (10, 11) and phone_key(word) in self._phones:
                return self.phone(word)
            return None
        folded = fold(word)
        for cut in range(min(_MAX_ENDING, len(folded) - 3) + 1):
            stem = folded[:len(folded) - cut]
            fake = own.get(stem) or self._words.get(stem)
            if fake is not None:
                return _same_case(fake, word)
        return None
