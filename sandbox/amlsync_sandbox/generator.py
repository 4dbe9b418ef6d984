"""Generated seed worlds: a Belgian accounting office, with the defects real offices have.

`generate_world(clients, seed)` returns a whole world (the format `world.py` names and the
sandbox README describes): the office's AdminPulse (users, relations, tasks, e-mails, identity
documents) and its AMLCare (internal users and the clients it already holds). The same
arguments always give the same world: nothing reads the clock, "now" is `REFERENCE_NOW`.

The office
----------
- N client relations: 45 % companies (BV, NV, CommV, VZW for Dutch-speaking ones; SRL, SA,
  SComm, ASBL for French-speaking ones), 40 % persons, 15 % sole proprietors, who carry both a
  national register number (NRN) and a KBO number. 60 % speak Dutch, 40 % French; names come
  from Faker's `nl_BE` / `fr_BE` locales, matching the language.
- Linked persons, not part of N: every company's directors (link type 4) and UBOs (2), some
  contacts (1) and shareholders (6), as relations of type person with status `other`. One
  person often holds several roles in one company (a director who is also the UBO; every
  board member of a VZW / ASBL is both). Up to three role slots in ten are filled by one of
  the person clients (an owner who is also a client for their own taxes), each serving one
  company at most; the rest are new linked persons, whose identifiers are always valid
  (sometimes formatted, sometimes a BIS number): the defects below concern the N clients only.
- Responsibles: most relations have one responsible office user (profile `Dossierbeheerder`),
  some a second one (`Vennoot`); linked persons share their company's.
- Tasks: besides `AML-onboarding`, half the clients have a task of another template
  (`Jaarrekening`, `Vennootschapsbelasting`, `BTW-aangifte`, `Personenbelasting`).
- One relation with status `ownCompany`: the office itself.
- 8 office users, 7 active; 5 of the active ones have an AMLCare internal user with the same
  e-mail (one written in other letter case); AMLCare also has an external compliance officer
  who is not an AdminPulse user.
- Persons and sole proprietors (clients and linked persons) have an `eID` document in 85 % of
  cases and, of those, an `eID Foto` in 80 %: a few hundred deterministic bytes that start and
  end like a JPEG, named `eid-front-<code>.jpg` and `eid-foto-<code>.jpg`.
- Dates: relations were created over the six years before `REFERENCE_NOW`, ids ascending with
  creation; `modifiedDate` is never before `createdDate` nor after `REFERENCE_NOW`.

Defects
-------
Each rate in `DEFECT_RATES` is a fraction of the N clients, except `identity_document_not_public`
(a fraction of all identity documents). The generator marks exactly `round(rate * base)`
records, chosen at random among those that can carry the defect (fewer when there are not
enough of them), and records the count it actually made in `meta["defects"]`.

- `company_without_kbo`: a company client whose `vatNumber` is null.
- `company_invalid_kbo`: a company client whose `vatNumber` is ten digits with wrong check
  digits (`stdnum.be.vat` rejects it). Disjoint from the previous one.
- `person_without_nrn`: a person client (type person) whose `nationalRegisterNumber` is null.
- `person_invalid_nrn`: a person client whose NRN is eleven digits with wrong check digits
  (neither `stdnum.be.nn` nor `stdnum.be.bis` accepts it). Disjoint from the previous one.
- `bis_number`: a person client whose NRN field holds a valid BIS number (month + 20 or + 40).
  Disjoint from the two previous ones.
- `identifier_formatted`: a client whose valid identifier (for a sole proprietor, at least one
  of the two) is written as people type it: `0123.456.749`, `BE0123456749`,
  `BE 0123.456.749`, `0123 456 749`, nine digits with the leading zero lost, `85.07.30-033.28`,
  `850730-033-28` or `85 07 30 033 28`. Each still validates once stdnum compacts it.
  Unformatted identifiers are bare digits.
- `identity_document_not_public`: an `eID` or `eID Foto` document with `publicOnPortal` false.
- `responsible_without_amlcare_user`: a client whose responsible is an active office user with
  no AMLCare internal user.
- `client_without_responsible`: a client with no responsible at all. Disjoint from the
  previous one; every other client has one responsible, one in twenty a second one.
- `shared_person`: a linked person who is director or UBO of two or more companies (the count,
  as a fraction of N).
- `already_in_amlcare`: a client whose key (NRN or KBO, normalised to digits) is already an
  AMLCare client. Two in three of those were made by an earlier import (`external_ref` = the
  relation's `uniqueIdentifier`, `import_status` complete, identity cards copied as
  `adminpulse_import` documents); the rest were entered by hand in AMLCare. They carry their
  own responsible, CAP, risk level and a few documents in every status, each with the file of
  every version. A pre-existing
  company's role holders are in AMLCare too, with their roles, so a few more clients than the
  rate (person clients who hold a role there) end up already in AMLCare.
- `amlcare_import_pending`: a client whose earlier import died half-way (`import_status`
  pending, only its first identity card copied). Chosen among the import-made ones above.
- `prospect`: a client with status `prospect` instead of `customer`.
- `inactive`: a client with an `endDate` in the past. Disjoint from the prospects.
- `aml_onboarding_task`: a client linked to a task of template `AML-onboarding` (not an error:
  the import may be limited to those). Clients also get tasks of other templates.

World-level defects, recorded in `meta["defects"]` as counts:
- `document_type_not_public_by_default`: the `eID Foto` document type lacks the
  public-on-portal default, except when `seed % 4 == 3` (for example seed 3), where both
  identity types have it. Seeds 0 and 1, the defaults of this function and of the sandbox
  CLI, have the defect. `meta["documentTypesWithoutPublicDefault"]` names the types.
- `amlcare_user_email_case_differs`: AMLCare users whose e-mail matches an office user's only
  when letter case is ignored (always 1).

Shapes follow sandbox/API.md; every key of a record is present, `null` when empty (lists are
`[]`). AdminPulse timestamps are ISO-8601 without offset, AMLCare ones UTC with microseconds and
`Z`. AMLCare addresses use the client's snake_case: `street, postal_code, city, country`.
E-mails (`GET /emails`) are `{id, relationIdentifier, subject, from, to, sentDate,
modifiedDate}`. Office companies (`GET /companies`) are `{id, name, vatNumber}`.
"""

from __future__ import annotations

import base64
import itertools
import random
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from faker import Faker
from faker.providers.address.nl_BE import Provider as BelgianAddresses
from faker.providers.person.fr_BE import Provider as FrenchBelgianNames
from faker.providers.person.nl_BE import Provider as DutchBelgianNames
from stdnum.be import bis, nn, vat

from amlsync_sandbox.world import base_world, next_version_file

# "Now" for every generated world, so that a seed gives the same world on any day.
REFERENCE_NOW = datetime(2026, 11, 30, 17, 0, 0)
# How far back relations were created.
HISTORY_DAYS = 6 * 365

# What each defect is, and what its rate is a share of: the module docstring.
DEFECT_RATES: Mapping[str, float] = MappingProxyType(
    {
        "company_without_kbo": 0.03,
        "company_invalid_kbo": 0.02,
        "person_without_nrn": 0.03,
        "person_invalid_nrn": 0.02,
        "bis_number": 0.02,
        "identifier_formatted": 0.25,
        "identity_document_not_public": 0.08,
        "responsible_without_amlcare_user": 0.08,
        "client_without_responsible": 0.05,
        "shared_person": 0.02,
        "already_in_amlcare": 0.15,
        "amlcare_import_pending": 0.005,
        "prospect": 0.05,
        "inactive": 0.04,
        "aml_onboarding_task": 0.30,
    }
)

# The mix of clients of a typical office.
COMPANY_SHARE = 0.45
SOLE_PROPRIETOR_SHARE = 0.15
FRENCH_SHARE = 0.40
LEGAL_FORMS = {
    "nl": (("BV", 60), ("NV", 18), ("CommV", 12), ("VZW", 10)),
    "fr": (("SRL", 60), ("SA", 18), ("SComm", 12), ("ASBL", 10)),
}
# Non-profit associations: the board members are the UBOs.
NON_PROFIT_FORMS = frozenset({"VZW", "ASBL"})

# AdminPulse link types (DOMAIN.md) and the AMLCare roles two of them become.
LINK_CONTACT, LINK_UBO, LINK_DIRECTOR, LINK_SHAREHOLDER = 1, 2, 4, 6
AMLCARE_ROLE_OF_LINK = {LINK_UBO: "ubo", LINK_DIRECTOR: "director"}
# Share of role slots filled by a person client (the owner of a BV is often a client for their
# own taxes too) instead of a new linked person.
CLIENT_AS_ROLE_HOLDER_SHARE = 0.3
# Directors of a company: most small companies have one, who is also its UBO.
DIRECTOR_COUNTS = (1, 1, 1, 1, 1, 2, 2, 3)
BOARD_SIZES = (3, 3, 4)  # a VZW / ASBL board
DIRECTOR_IS_UBO_SHARE = 0.8

OFFICE_USER_COUNT = 8
ACTIVE_USERS_WITHOUT_AMLCARE = 2
SECOND_RESPONSIBLE_SHARE = 0.05

EID_SHARE = 0.85
EID_FOTO_SHARE_OF_EID = 0.80
EID_TYPE, EID_FOTO_TYPE = 1, 2  # ids of the two identity document types in world.py
IDENTITY_TYPE_NAMES = {EID_TYPE: "eID", EID_FOTO_TYPE: "eID Foto"}
# A small JFIF header and the end-of-image marker, so the bytes look like a JPEG.
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_TAIL = b"\xff\xd9"

AML_ONBOARDING_TEMPLATE = "AML-onboarding"
OTHER_TEMPLATES = {
    "company": ("Jaarrekening", "Vennootschapsbelasting", "BTW-aangifte"),
    "person": ("Personenbelasting",),
    "soleProprietor": ("Personenbelasting", "BTW-aangifte"),
}
OTHER_TASK_SHARE = 0.5
EMAIL_SHARE = 0.2

# Where Belgian households have their private e-mail (Faker has no Belgian internet provider).
PRIVATE_EMAIL_DOMAINS = (
    "gmail.com",
    "gmail.com",
    "hotmail.com",
    "outlook.be",
    "telenet.be",
    "skynet.be",
    "proximus.be",
)
# Postcode ranges by language: Flanders, and Brussels with Wallonia.
POSTCODE_RANGES = {"nl": ((1500, 3999), (8000, 9999)), "fr": ((1000, 1499), (4000, 7999))}
FRENCH_STREET_KINDS = ("Rue", "Rue", "Avenue", "Chaussée", "Place", "Boulevard")

# AMLCare: CAP statuses (weights) and risk levels of clients that are already there.
CAP_STATUS_WEIGHTS = (
    ("accepted", 50),
    ("ongoing", 15),
    ("not_started", 10),
    ("expiring", 7),
    ("expired", 10),
    ("not_accepted", 8),
)
RISK_LEVEL_WEIGHTS = (("low", 10), ("standard", 70), ("high", 20))
ADMINPULSE_RISK = {"low": "low", "standard": "normal", "high": "high"}
BY_HAND_SHARE = 1 / 3  # of the clients already in AMLCare, those not made by the import
SYNCED_BACK_SHARE = 0.6  # of the import-made ones, those whose CAP already reached AdminPulse
SIGNED_KINDS = ("identification_form", "cap_report")  # the kinds that get submitted and signed
DOCUMENT_VERSION = {"created": 1, "submitted": 2, "signed": 3}
# Seeds with this remainder modulo 4 keep the public-on-portal default on both identity types.
CLEAN_TYPES_SEED_REMAINDER = 3


def generate_world(clients: int, seed: int = 0) -> dict[str, Any]:
    """Build a whole world of `clients` client relations, the same for the same seed.

    Args:
        clients: how many AdminPulse client relations (N); linked persons come on top.
        seed: selects one of many possible offices.

    Returns:
        A world dict in the `amlsync-world/1` format, with `meta` describing how it was made.

    Raises:
        ValueError: when `clients` is negative.
    """
    if clients < 0:
        raise ValueError(f"clients must be zero or more, not {clients}")
    return _OfficeBuilder(clients, seed).build()


def adminpulse_timestamp(moment: datetime) -> str:
    """Write a moment as AdminPulse does: ISO-8601, seconds, no offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def amlcare_timestamp(moment: datetime) -> str:
    """Write a moment as AMLCare does: ISO-8601 UTC with microseconds and `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _document_versions(
    file_name: str, encoded: str, size: int, status: str, created: datetime, updated: datetime
) -> list[dict[str, Any]]:
    """Every version of an AMLCare document up to `status`, each with its file.

    As AMLCare makes them: the created file, then the previous file with a marker per step. A
    signed document was submitted half-way between its creation and its signature: taking that
    moment without a random draw leaves the rest of the world as earlier generators made it.
    """
    versions = [(1, "created", created, encoded, size)]
    steps = {"submitted": [("submitted", updated)]}.get(status, [])
    if status == "signed":
        steps = [("submitted", created + (updated - created) / 2), ("signed", updated)]
    file = base64.b64decode(encoded)
    for number, (step, moment) in enumerate(steps, start=2):
        file = next_version_file(file, number, step, amlcare_timestamp(moment))
        versions.append((number, step, moment, base64.b64encode(file).decode("ascii"), len(file)))
    return [
        {
            "version": number,
            "status": step,
            "file_name": file_name,
            "size": length,
            "created_at": amlcare_timestamp(moment),
            "content": content,
        }
        for number, step, moment, content, length in versions
    ]


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    values = [value for value, _ in choices]
    weights = [weight for _, weight in choices]
    return rng.choices(values, weights)[0]


def _pick(rng: random.Random, candidates: Sequence[int], rate: float, base: int) -> set[int]:
    """Choose exactly round(rate * base) of the candidates, or all when there are fewer."""
    wanted = min(len(candidates), round(rate * base))
    return set(rng.sample(candidates, wanted))


def _with_check_digits(body: str, accepts: Callable[[str], bool]) -> str:
    """Append the two check digits that stdnum accepts to `body`.

    stdnum has no function that computes Belgian check digits, so every two-digit ending is
    tried and the first one stdnum accepts is kept. For national register numbers this is
    most of the generator's run time.
    """
    for ending in range(100):
        candidate = f"{body}{ending:02d}"
        if accepts(candidate):
            return candidate
    raise ValueError(f"no check digits make {body[:4]}... valid")


def _with_wrong_check_digits(
    rng: random.Random, number: str, accepts: Callable[[str], bool]
) -> str:
    """Replace the check digits of a valid number with others that stdnum rejects."""
    for ending in rng.sample(range(100), 100):
        candidate = f"{number[:-2]}{ending:02d}"
        if candidate != number and not accepts(candidate):
            return candidate
    raise ValueError("every ending is valid")  # impossible with a mod-97 check


def _kbo_valid(number: str) -> bool:
    # stdnum's checksum is a cheap first sieve; its validator has the last word.
    return vat.checksum(number) == 0 and vat.is_valid(number)


def _nrn_or_bis_valid(number: str) -> bool:
    return nn.is_valid(number) or bis.is_valid(number)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


class _NameBook:
    """The names of one Faker locale, drawn with Faker's frequency weights from our generator.

    Faker's own name methods rebuild a weight table of several hundred names on every call,
    which was a third of the run time at 10,000 clients; the data drawn from is the same.
    """

    def __init__(self, rng: random.Random, names: type) -> None:
        self._rng = rng
        self._male = self._table(names.first_names_male)  # type: ignore[attr-defined]
        self._female = self._table(names.first_names_female)  # type: ignore[attr-defined]
        self._last = self._table(names.last_names)  # type: ignore[attr-defined]

    @staticmethod
    def _table(names: Mapping[str, float] | Sequence[str]) -> tuple[list[str], list[float]]:
        if isinstance(names, Mapping):
            return list(names), list(itertools.accumulate(names.values()))
        return list(names), list(itertools.accumulate(1.0 for _ in names))

    def _draw(self, table: tuple[list[str], list[float]]) -> str:
        return self._rng.choices(table[0], cum_weights=table[1])[0]

    def first_name(self, *, male: bool) -> str:
        return self._draw(self._male if male else self._female)

    def last_name(self) -> str:
        return self._draw(self._last)


class _IdFactory:
    """Random-looking, unique, deterministic ids for AMLCare (`cl_…`, `us_…`, …)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def new(self, prefix: str) -> str:
        while True:
            candidate = f"{prefix}_{self._rng.getrandbits(64):016x}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate


class _OfficeBuilder:
    """Builds one world; a fresh builder per world, since it keeps the world's state."""

    def __init__(self, clients: int, seed: int) -> None:
        self.client_count = clients
        self.seed = seed
        self.world = base_world()
        # Not for security: a seeded generator is what makes worlds reproducible.
        self.rng = random.Random(seed)  # noqa: S311
        self.names = {
            "nl": _NameBook(self.rng, DutchBelgianNames),
            "fr": _NameBook(self.rng, FrenchBelgianNames),
        }
        # Belgian phone numbers for everyone: fr_BE has no phone numbers of its own.
        self.faker = Faker("nl_BE")
        self.faker.seed_instance(self.rng.getrandbits(64))
        self.ids = _IdFactory(self.rng)
        self.used_keys: set[str] = set()
        self.defects: dict[str, int] = {}

        self.relations: list[dict[str, Any]] = []  # every AdminPulse relation, in id order
        self.client_relations: list[dict[str, Any]] = []  # the N clients
        self.linked_persons: list[dict[str, Any]] = []
        self.valid_key: dict[int, str] = {}  # relation id → its valid key, digits only
        self.enterprise_number: dict[int, str] = {}  # sole proprietor id → valid KBO
        self.birth_date: dict[int, date] = {}
        self.is_male: dict[int, bool] = {}
        self.companies_of: dict[int, list[int]] = {}  # person id → ids of companies they serve
        self.slot_of: dict[int, int] = {}  # client relation id → its place among the N clients
        self.picks: dict[str, set[int]] = {}  # defect → the client slots chosen to carry it
        self.available_client_persons: list[dict[str, Any]] = []  # may still take a role
        self.available_existing_persons: list[dict[str, Any]] = []  # same, already in AMLCare
        self.identity_documents_of: dict[int, list[dict[str, Any]]] = {}
        self.relation_by_uid: dict[str, dict[str, Any]] = {}

        self.office_name = self.office_domain = ""
        self.users_with_amlcare: list[int] = []
        self.users_without_amlcare: list[int] = []
        self.amlcare_user_by_email: dict[str, dict[str, Any]] = {}
        self.amlcare_client_of: dict[int, dict[str, Any]] = {}  # relation id → AMLCare client
        self.amlcare_documents: list[dict[str, Any]] = []
        self.amlcare_relations: list[dict[str, Any]] = []
        self.types_without_default: list[str] = []

    # -- the whole world ------------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        self._build_office_users()
        self._build_relations()
        self._share_persons_between_companies()
        self._assign_dates()
        self._build_identity_documents()
        self._build_tasks()
        self._build_emails()
        self._build_amlcare_clients()
        self._mark_document_types()
        self._write_meta()
        return self.world

    # -- users ----------------------------------------------------------------------------

    def _build_office_users(self) -> None:
        rng = self.rng
        names = self.names["nl"]
        office_name = f"{names.last_name()} & {names.last_name()}"
        self.office_name = f"{office_name} Accountants"
        self.office_domain = f"{_slug(office_name)}.be"

        users: list[dict[str, Any]] = []
        for user_id in range(1, OFFICE_USER_COUNT + 1):
            names = self.names["fr" if rng.random() < FRENCH_SHARE else "nl"]
            first = names.first_name(male=rng.random() < 0.5)
            last = names.last_name()
            email = f"{_slug(first)}.{_slug(last)}@{self.office_domain}"
            users.append(
                {
                    "id": user_id,
                    "firstName": first,
                    "lastName": last,
                    "email": email,
                    "active": user_id != OFFICE_USER_COUNT,  # the last one has left the office
                }
            )
        self.world["adminpulse"]["users"] = users

        active_ids = [user["id"] for user in users if user["active"]]
        without = set(rng.sample(active_ids, ACTIVE_USERS_WITHOUT_AMLCARE))
        self.users_with_amlcare = [uid for uid in active_ids if uid not in without]
        self.users_without_amlcare = sorted(without)
        other_case = rng.choice(self.users_with_amlcare)

        amlcare_users = []
        for user in users:
            if user["id"] not in self.users_with_amlcare:
                continue
            email = user["email"]
            if user["id"] == other_case:
                # The same address typed with capitals: equal only when case is ignored.
                email = (
                    f"{_slug(user['firstName']).capitalize()}."
                    f"{_slug(user['lastName']).capitalize()}@{self.office_domain}"
                )
            amlcare_users.append(
                self._amlcare_user(f"{user['firstName']} {user['lastName']}", email)
            )
        names = self.names["nl"]
        officer = f"{names.first_name(male=False)} {names.last_name()}"
        amlcare_users.append(self._amlcare_user(officer, f"compliance@{_slug(officer)}-advies.be"))
        self.world["amlcare"]["users"] = amlcare_users
        self.amlcare_user_by_email = {user["email"].casefold(): user for user in amlcare_users}
        self.defects["amlcare_user_email_case_differs"] = 1

        self.world["adminpulse"]["companies"] = [
            {"id": 1, "name": f"{self.office_name} BV", "vatNumber": self._new_kbo()}
        ]

    def _amlcare_user(self, name: str, email: str) -> dict[str, Any]:
        rng = self.rng
        created = REFERENCE_NOW - timedelta(
            days=rng.randrange(400, 1500), seconds=rng.randrange(86_400)
        )
        created = created.replace(microsecond=rng.randrange(1_000_000))
        updated = self._moment_after(created)
        return {
            "id": self.ids.new("us"),
            "email": email,
            "name": name,
            "active": True,
            "created_at": amlcare_timestamp(created),
            "updated_at": amlcare_timestamp(updated),
        }

    # -- relations ------------------------------------------------------------------------

    def _build_relations(self) -> None:
        rng = self.rng
        n = self.client_count
        companies = round(COMPANY_SHARE * n)
        sole_proprietors = round(SOLE_PROPRIETOR_SHARE * n)
        kinds = ["company"] * companies + ["soleProprietor"] * sole_proprietors
        kinds += ["person"] * (n - len(kinds))
        rng.shuffle(kinds)
        slots = range(n)
        of_kind = {kind: [i for i in slots if kinds[i] == kind] for kind in ("company", "person")}

        picks = self.picks = self._pick_client_defects(of_kind)

        self._add_own_company()
        for slot, kind in enumerate(kinds):
            language = "fr" if rng.random() < FRENCH_SHARE else "nl"
            if kind == "company":
                relation = self._add_company_client(slot, language)
            else:
                relation = self._add_person_client(slot, kind, language)
            self._set_status(relation, slot)
            self._set_responsibles(relation, slot)
            self.client_relations.append(relation)
            self.slot_of[relation["id"]] = slot
            if kind == "company":
                self._add_role_holders(relation)
            elif kind == "person" and slot not in picks["person_without_nrn"]:
                self.available_client_persons.append(relation)
                if slot in picks["already_in_amlcare"]:
                    self.available_existing_persons.append(relation)

    def _pick_client_defects(self, of_kind: dict[str, list[int]]) -> dict[str, set[int]]:
        rng, n = self.rng, self.client_count
        rates = DEFECT_RATES
        picks: dict[str, set[int]] = {}

        companies, persons = of_kind["company"], of_kind["person"]
        picks["company_without_kbo"] = _pick(rng, companies, rates["company_without_kbo"], n)
        rest = [i for i in companies if i not in picks["company_without_kbo"]]
        picks["company_invalid_kbo"] = _pick(rng, rest, rates["company_invalid_kbo"], n)
        picks["person_without_nrn"] = _pick(rng, persons, rates["person_without_nrn"], n)
        rest = [i for i in persons if i not in picks["person_without_nrn"]]
        picks["person_invalid_nrn"] = _pick(rng, rest, rates["person_invalid_nrn"], n)
        rest = [i for i in rest if i not in picks["person_invalid_nrn"]]
        picks["bis_number"] = _pick(rng, rest, rates["bis_number"], n)

        broken = (
            picks["company_without_kbo"]
            | picks["company_invalid_kbo"]
            | picks["person_without_nrn"]
            | picks["person_invalid_nrn"]
        )
        keyed = [i for i in range(n) if i not in broken]
        picks["identifier_formatted"] = _pick(rng, keyed, rates["identifier_formatted"], n)
        picks["already_in_amlcare"] = _pick(rng, keyed, rates["already_in_amlcare"], n)
        existing = sorted(picks["already_in_amlcare"])
        by_hand = set(rng.sample(existing, round(len(existing) * BY_HAND_SHARE)))
        picks["amlcare_by_hand"] = by_hand
        imported = [i for i in existing if i not in by_hand]
        picks["amlcare_import_pending"] = _pick(rng, imported, rates["amlcare_import_pending"], n)

        everyone = list(range(n))
        picks["prospect"] = _pick(rng, everyone, rates["prospect"], n)
        rest = [i for i in everyone if i not in picks["prospect"]]
        picks["inactive"] = _pick(rng, rest, rates["inactive"], n)
        picks["aml_onboarding_task"] = _pick(rng, everyone, rates["aml_onboarding_task"], n)
        picks["client_without_responsible"] = _pick(
            rng, everyone, rates["client_without_responsible"], n
        )
        rest = [i for i in everyone if i not in picks["client_without_responsible"]]
        picks["responsible_without_amlcare_user"] = _pick(
            rng, rest, rates["responsible_without_amlcare_user"], n
        )
        # The AMLCare defects are counted once AMLCare's side is built.
        for name in DEFECT_RATES:
            if name in picks and name not in ("already_in_amlcare", "amlcare_import_pending"):
                self.defects[name] = len(picks[name])
        return picks

    def _new_relation(self, kind: str, language: str, code: str) -> dict[str, Any]:
        relation_id = len(self.relations) + 1
        relation = {
            "id": relation_id,
            "uniqueIdentifier": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "code": code,
            "name": None,
            "displayName": None,
            "type": kind,
            "status": "customer",
            "legalForm": None,
            "companyId": 1,
            "relationGroupName": None,
            "vatNumber": None,
            "nationalRegisterNumber": None,
            "firstName": None,
            "lastName": None,
            "language": language,
            "email": None,
            "phone": None,
            "address": None,
            "responsibles": [],
            "tos": [],
            "endDate": None,
            "createdDate": None,
            "modifiedDate": None,
            "aml": {"totalRisk": None, "clientAcceptanceDate": None, "nextReviewDate": None},
            "idCardExpiryDate": None,
        }
        self.relations.append(relation)
        return relation

    def _add_own_company(self) -> None:
        office = self.world["adminpulse"]["companies"][0]
        relation = self._new_relation("company", "nl", "KANTOOR")
        relation.update(
            name=office["name"],
            displayName=office["name"],
            status="ownCompany",
            legalForm="BV",
            relationGroupName="Eigen kantoor",
            vatNumber=office["vatNumber"],
            email=f"info@{self.office_domain}",
            phone=self._phone(),
            address=self._address("nl"),
        )
        self.valid_key[relation["id"]] = office["vatNumber"]

    def _add_company_client(self, slot: int, language: str) -> dict[str, Any]:
        rng, names = self.rng, self.names[language]
        legal_form = _weighted(rng, LEGAL_FORMS[language])
        and_word = "en" if language == "nl" else "et"
        shape = rng.random()
        if shape < 0.6:
            trade_name = names.last_name()
        elif shape < 0.85:
            trade_name = f"{names.last_name()} {and_word} {names.last_name()}"
        else:
            trade_name = f"{names.last_name()}-{names.last_name()}"
        name = f"{trade_name} {legal_form}"

        relation = self._new_relation("company", language, f"K{slot + 1:06d}")
        relation.update(
            name=name,
            displayName=name,
            legalForm=legal_form,
            vatNumber=self._company_kbo(relation, slot),
            email=f"info@{_slug(trade_name)}.be" if rng.random() < 0.8 else None,
            phone=self._phone(),
            address=self._address(language),
        )
        return relation

    def _company_kbo(self, relation: dict[str, Any], slot: int) -> str | None:
        if slot in self.picks["company_without_kbo"]:
            return None
        kbo = self._new_kbo()
        if slot in self.picks["company_invalid_kbo"]:
            return _with_wrong_check_digits(self.rng, kbo, vat.is_valid)
        self.valid_key[relation["id"]] = kbo
        if slot in self.picks["identifier_formatted"]:
            return self._written_kbo(kbo)
        return kbo

    def _add_person_client(self, slot: int, kind: str, language: str) -> dict[str, Any]:
        relation = self._new_relation(kind, language, f"K{slot + 1:06d}")
        self._fill_person(relation, language)
        formatted = slot in self.picks["identifier_formatted"]
        if kind == "soleProprietor":
            nrn = self._new_nrn(relation, use_bis=False)
            kbo = self._new_kbo()
            self.valid_key[relation["id"]] = nrn
            self.enterprise_number[relation["id"]] = kbo
            # A formatted sole proprietor has one or both identifiers written loosely.
            which = self.rng.choice(("nrn", "kbo", "both")) if formatted else ""
            relation["nationalRegisterNumber"] = (
                self._written_nrn(nrn) if which in ("nrn", "both") else nrn
            )
            relation["vatNumber"] = self._written_kbo(kbo) if which in ("kbo", "both") else kbo
            return relation

        if slot in self.picks["person_without_nrn"]:
            return relation
        nrn = self._new_nrn(relation, use_bis=slot in self.picks["bis_number"])
        if slot in self.picks["person_invalid_nrn"]:
            relation["nationalRegisterNumber"] = _with_wrong_check_digits(
                self.rng, nrn, _nrn_or_bis_valid
            )
            return relation
        self.valid_key[relation["id"]] = nrn
        relation["nationalRegisterNumber"] = self._written_nrn(nrn) if formatted else nrn
        return relation

    def _fill_person(self, relation: dict[str, Any], language: str) -> None:
        rng, names = self.rng, self.names[language]
        male = rng.random() < 0.5
        first = names.first_name(male=male)
        last = names.last_name()
        self.birth_date[relation["id"]] = date(1945, 1, 1) + timedelta(days=rng.randrange(62 * 365))
        self.is_male[relation["id"]] = male
        relation.update(
            name=f"{first} {last}",
            displayName=f"{first} {last}",
            firstName=first,
            lastName=last,
        )
        if rng.random() < 0.7:
            domain = rng.choice(PRIVATE_EMAIL_DOMAINS)
            relation["email"] = f"{_slug(first)}.{_slug(last)}@{domain}"
        if rng.random() < 0.6:
            relation["phone"] = self._phone()
        relation["address"] = self._address(language)

    def _add_role_holders(self, company: dict[str, Any]) -> None:
        rng = self.rng
        non_profit = company["legalForm"] in NON_PROFIT_FORMS
        director_count = rng.choice(BOARD_SIZES if non_profit else DIRECTOR_COUNTS)
        directors = [self._role_holder(company) for _ in range(director_count)]
        for director in directors:
            self._link(company, director, LINK_DIRECTOR)

        if non_profit:
            for director in directors:
                self._link(company, director, LINK_UBO)
        else:
            for index in range(rng.choice((1, 1, 2))):
                same = index < len(directors) and rng.random() < DIRECTOR_IS_UBO_SHARE
                owner = directors[index] if same else self._role_holder(company)
                self._link(company, owner, LINK_UBO)
                if rng.random() < 0.3:
                    self._link(company, owner, LINK_SHAREHOLDER)

        if rng.random() < 0.25:
            contact = rng.choice(directors) if rng.random() < 0.6 else self._role_holder(company)
            self._link(company, contact, LINK_CONTACT)

    def _role_holder(self, company: dict[str, Any]) -> dict[str, Any]:
        """A person client now and then, otherwise a new linked person.

        A company already in AMLCare takes only person clients that are there too, so that
        exactly the chosen share of clients is already in AMLCare.
        """
        rng = self.rng
        pool = self.available_client_persons
        if self.slot_of[company["id"]] in self.picks["already_in_amlcare"]:
            pool = self.available_existing_persons
        if pool and rng.random() < CLIENT_AS_ROLE_HOLDER_SHARE:
            person = pool.pop(rng.randrange(len(pool)))
            # Each person client serves one company at most (it may sit in both pools).
            if person["id"] not in self.companies_of:
                return person

        language = company["language"]
        code = f"B{len(self.linked_persons) + 1:06d}"
        person = self._new_relation("person", language, code)
        self._fill_person(person, language)
        use_bis = rng.random() < DEFECT_RATES["bis_number"]
        nrn = self._new_nrn(person, use_bis=use_bis)
        self.valid_key[person["id"]] = nrn
        written = rng.random() < DEFECT_RATES["identifier_formatted"]
        person.update(
            status="other",
            relationGroupName="Betrokkenen",
            nationalRegisterNumber=self._written_nrn(nrn) if written else nrn,
            responsibles=[dict(entry) for entry in company["responsibles"]],
        )
        self.linked_persons.append(person)
        return person

    def _link(self, company: dict[str, Any], person: dict[str, Any], link_type: int) -> None:
        company["tos"].append(
            {"linkType": link_type, "uniqueIdentifier": person["uniqueIdentifier"]}
        )
        if link_type in AMLCARE_ROLE_OF_LINK:
            served = self.companies_of.setdefault(person["id"], [])
            if company["id"] not in served:
                served.append(company["id"])

    def _share_persons_between_companies(self) -> None:
        """Make some directors and UBOs serve a second company too."""
        rng = self.rng
        companies = [rel for rel in self.client_relations if rel["type"] == "company"]
        serving = [
            p["id"] for p in self.linked_persons if len(self.companies_of.get(p["id"], ())) == 1
        ]
        wanted = round(DEFECT_RATES["shared_person"] * self.client_count)
        if len(companies) >= 2:
            by_id = {rel["id"]: rel for rel in self.relations}
            for person_id in rng.sample(serving, min(wanted, len(serving))):
                company = rng.choice(companies)
                while company["id"] in self.companies_of[person_id]:
                    company = rng.choice(companies)
                self._link(company, by_id[person_id], rng.choice((LINK_DIRECTOR, LINK_UBO)))
        self.defects["shared_person"] = sum(
            1 for p in self.linked_persons if len(self.companies_of.get(p["id"], ())) >= 2
        )

    def _set_status(self, relation: dict[str, Any], slot: int) -> None:
        if slot in self.picks["prospect"]:
            relation["status"] = "prospect"
            relation["relationGroupName"] = "Prospecten"
        else:
            relation["relationGroupName"] = "Klanten"

    def _set_responsibles(self, relation: dict[str, Any], slot: int) -> None:
        rng = self.rng
        if slot in self.picks["client_without_responsible"]:
            return
        if slot in self.picks["responsible_without_amlcare_user"]:
            first = rng.choice(self.users_without_amlcare)
        else:
            first = rng.choice(self.users_with_amlcare)
        responsibles = [{"userId": first, "profile": "Dossierbeheerder"}]
        if rng.random() < SECOND_RESPONSIBLE_SHARE:
            partner = rng.choice([uid for uid in self.users_with_amlcare if uid != first])
            responsibles.append({"userId": partner, "profile": "Vennoot"})
        relation["responsibles"] = responsibles

    # -- identifiers ----------------------------------------------------------------------

    def _new_kbo(self) -> str:
        rng = self.rng
        while True:
            if rng.random() < 0.05:  # numbers starting with 1 are issued since September 2023
                body = f"1{rng.randrange(0, 2_000_000):07d}"
            else:
                body = f"0{rng.randrange(2_000_000, 9_000_000):07d}"
            kbo = _with_check_digits(body, _kbo_valid)
            if kbo not in self.used_keys:
                self.used_keys.add(kbo)
                return kbo

    def _new_nrn(self, relation: dict[str, Any], *, use_bis: bool) -> str:
        """A national register number (or BIS number) that fits the person's birth date."""
        rng = self.rng
        born = self.birth_date[relation["id"]]
        male = self.is_male[relation["id"]]
        checker = bis if use_bis else nn
        while True:
            month = born.month
            if use_bis:
                month += 40 if rng.random() < 0.8 else 20
            counter = rng.randrange(1, 499) * 2 - (1 if male else 0)
            body = f"{born:%y}{month:02d}{born:%d}{counter:03d}"
            number = _with_check_digits(
                body, lambda c: checker.is_valid(c) and checker.get_birth_date(c) == born
            )
            if number not in self.used_keys:
                self.used_keys.add(number)
                return number

    def _written_kbo(self, kbo: str) -> str:
        dotted = f"{kbo[:4]}.{kbo[4:7]}.{kbo[7:]}"
        forms = [dotted, f"BE{kbo}", f"BE {dotted}", f"{kbo[:4]} {kbo[4:7]} {kbo[7:]}"]
        if kbo.startswith("0"):
            forms.append(kbo[1:])  # a spreadsheet dropped the leading zero
        return self.rng.choice(forms)

    def _written_nrn(self, nrn: str) -> str:
        forms = (
            nn.format(nrn),
            f"{nrn[:6]}-{nrn[6:9]}-{nrn[9:]}",
            f"{nrn[:2]} {nrn[2:4]} {nrn[4:6]} {nrn[6:9]} {nrn[9:]}",
        )
        return self.rng.choice(forms)

    # -- contact data ---------------------------------------------------------------------

    def _address(self, language: str) -> dict[str, Any]:
        rng = self.rng
        if language == "nl":
            # Flemish streets the way nl_BE builds them: a first name and a suffix.
            first = self.names["nl"].first_name(male=rng.random() < 0.5)
            street = f"{first}{rng.choice(BelgianAddresses.street_suffixes)} {rng.randint(1, 250)}"
        else:
            kind = rng.choice(FRENCH_STREET_KINDS)
            street = f"{kind} {self.names['fr'].last_name()} {rng.randint(1, 250)}"
        low, high = rng.choice(POSTCODE_RANGES[language])
        return {
            "street": street,
            "postalCode": str(rng.randint(low, high)),
            # nl_BE's list holds the municipalities of all three regions.
            "city": rng.choice(BelgianAddresses.cities),
            "country": "BE",
        }

    def _phone(self) -> str:
        return self.faker.phone_number()

    # -- dates ----------------------------------------------------------------------------

    def _assign_dates(self) -> None:
        """Creation moments ascending with the ids, modifications after them, end dates."""
        rng = self.rng
        start = REFERENCE_NOW.replace(hour=0, minute=0, second=0) - timedelta(days=HISTORY_DAYS)
        offsets = sorted(
            rng.randrange(HISTORY_DAYS) * 86_400 + 8 * 3600 + rng.randrange(10 * 3600)
            for _ in self.relations
        )
        inactive = {self.client_relations[slot]["id"] for slot in self.picks["inactive"]}
        self.created_at: dict[int, datetime] = {}
        for relation, offset in zip(self.relations, offsets, strict=True):
            created = start + timedelta(seconds=offset)
            modified = created
            if rng.random() < 0.7:
                modified = created + (REFERENCE_NOW - created) * rng.random()
            if relation["id"] in inactive:
                ended = created + (REFERENCE_NOW - created) * rng.random()
                end_date = min(ended.date(), REFERENCE_NOW.date() - timedelta(days=1))
                relation["endDate"] = end_date.isoformat()
                modified = max(modified, datetime.combine(end_date, created.time()))
                modified = min(modified, REFERENCE_NOW)
            self.created_at[relation["id"]] = created
            relation["createdDate"] = adminpulse_timestamp(created)
            relation["modifiedDate"] = adminpulse_timestamp(max(modified, created))

    def _moment_after(self, moment: datetime) -> datetime:
        return moment + (REFERENCE_NOW - moment) * self.rng.random()

    # -- documents, tasks, e-mails --------------------------------------------------------

    def _build_identity_documents(self) -> None:
        rng = self.rng
        documents: list[dict[str, Any]] = []
        for relation in self.relations:
            if relation["type"] == "company" or rng.random() >= EID_SHARE:
                continue
            types = [EID_TYPE]
            if rng.random() < EID_FOTO_SHARE_OF_EID:
                types.append(EID_FOTO_TYPE)
            for doc_type in types:
                document = self._identity_document(relation, doc_type, len(documents) + 1)
                documents.append(document)
                self.identity_documents_of.setdefault(relation["id"], []).append(document)

        hidden = _pick(
            rng,
            range(len(documents)),
            DEFECT_RATES["identity_document_not_public"],
            len(documents),
        )
        for index in hidden:
            documents[index]["publicOnPortal"] = False
        self.defects["identity_document_not_public"] = len(hidden)
        self.world["adminpulse"]["documents"] = documents

    def _identity_document(
        self, relation: dict[str, Any], doc_type: int, document_id: int
    ) -> dict[str, Any]:
        rng = self.rng
        content = JPEG_HEAD + rng.randbytes(rng.randrange(200, 600)) + JPEG_TAIL
        created = self._moment_after(self.created_at[relation["id"]])
        modified = created if rng.random() < 0.8 else self._moment_after(created)
        side = "front" if doc_type == EID_TYPE else "foto"
        return {
            "id": document_id,
            "relationIdentifier": relation["uniqueIdentifier"],
            "documentType": doc_type,
            "fileName": f"eid-{side}-{relation['code']}.jpg",
            "documentDate": created.date().isoformat(),
            "publicOnPortal": True,
            "size": len(content),
            "createdDate": adminpulse_timestamp(created),
            "modifiedDate": adminpulse_timestamp(modified),
            "content": base64.b64encode(content).decode("ascii"),
        }

    def _build_tasks(self) -> None:
        rng = self.rng
        tasks: list[dict[str, Any]] = []

        def add(relation: dict[str, Any], template: str) -> None:
            due = REFERENCE_NOW.date() + timedelta(days=rng.randrange(-60, 180))
            tasks.append(
                {
                    "id": len(tasks) + 1,
                    "name": f"{template} {relation['name']}",
                    "templateName": template,
                    "relationUniqueIdentifier": relation["uniqueIdentifier"],
                    "dueDate": due.isoformat(),
                }
            )

        for slot, relation in enumerate(self.client_relations):
            if slot in self.picks["aml_onboarding_task"]:
                add(relation, AML_ONBOARDING_TEMPLATE)
            if rng.random() < OTHER_TASK_SHARE:
                add(relation, rng.choice(OTHER_TEMPLATES[relation["type"]]))
        self.world["adminpulse"]["tasks"] = tasks

    def _build_emails(self) -> None:
        rng = self.rng
        subjects = {
            "nl": ("Vraag over uw aangifte", "Ontbrekende stukken", "Identiteitskaart"),
            "fr": ("Question sur votre déclaration", "Pièces manquantes", "Carte d'identité"),
        }
        users = [u for u in self.world["adminpulse"]["users"] if u["active"]]
        emails: list[dict[str, Any]] = []
        for relation in self.client_relations:
            if relation["email"] is None or rng.random() >= EMAIL_SHARE:
                continue
            sent = self._moment_after(self.created_at[relation["id"]])
            emails.append(
                {
                    "id": len(emails) + 1,
                    "relationIdentifier": relation["uniqueIdentifier"],
                    "subject": rng.choice(subjects[relation["language"]]),
                    "from": rng.choice(users)["email"],
                    "to": relation["email"],
                    "sentDate": adminpulse_timestamp(sent),
                    "modifiedDate": adminpulse_timestamp(sent),
                }
            )
        self.world["adminpulse"]["emails"] = emails

    # -- AMLCare --------------------------------------------------------------------------

    def _build_amlcare_clients(self) -> None:
        self.relation_by_uid = {rel["uniqueIdentifier"]: rel for rel in self.relations}
        picks = self.picks
        for slot in sorted(picks["already_in_amlcare"]):
            relation = self.client_relations[slot]
            by_hand = slot in picks["amlcare_by_hand"]
            pending = slot in picks["amlcare_import_pending"]
            # A person client may already be there as the role holder of an earlier company.
            if relation["id"] not in self.amlcare_client_of:
                self._amlcare_client(relation, by_hand=by_hand, pending=pending)
            if relation["type"] == "company":
                self._amlcare_role_holders(relation, by_hand=by_hand)

        clients = sorted(self.amlcare_client_of.values(), key=lambda c: (c["created_at"], c["id"]))
        self.world["amlcare"]["clients"] = clients
        self.world["amlcare"]["relations"] = self.amlcare_relations
        self.world["amlcare"]["documents"] = self.amlcare_documents
        client_ids = {rel["id"] for rel in self.client_relations}
        self.defects["already_in_amlcare"] = sum(
            1 for rel_id in self.amlcare_client_of if rel_id in client_ids
        )
        self.defects["amlcare_import_pending"] = sum(
            1 for client in clients if client["import_status"] == "pending"
        )

    def _amlcare_role_holders(self, company: dict[str, Any], *, by_hand: bool) -> None:
        by_uid = self.relation_by_uid
        company_client = self.amlcare_client_of[company["id"]]
        seen: set[tuple[str, str]] = set()
        for link in company["tos"]:
            role = AMLCARE_ROLE_OF_LINK.get(link["linkType"])
            person = by_uid[link["uniqueIdentifier"]]
            if role is None or person["id"] not in self.valid_key:
                continue
            person_client = self.amlcare_client_of.get(person["id"])
            if person_client is None:
                person_client = self._amlcare_client(person, by_hand=by_hand, pending=False)
            if (person_client["id"], role) in seen:
                continue
            seen.add((person_client["id"], role))
            created = max(company_client["created_at"], person_client["created_at"])
            self.amlcare_relations.append(
                {
                    "id": self.ids.new("re"),
                    "company_id": company_client["id"],
                    "person_id": person_client["id"],
                    "role": role,
                    "created_at": created,
                    "updated_at": created,
                }
            )

    def _amlcare_client(
        self, relation: dict[str, Any], *, by_hand: bool, pending: bool
    ) -> dict[str, Any]:
        rng = self.rng
        is_company = relation["type"] == "company"
        created = self._moment_after(self.created_at[relation["id"]])
        status = "not_started" if pending else _weighted(rng, CAP_STATUS_WEIGHTS)
        cap, risk = self._cap(status)
        responsible = self._amlcare_responsible(relation)
        address = relation["address"]
        client = {
            "id": self.ids.new("cl"),
            "type": "company" if is_company else "person",
            "key": self.valid_key[relation["id"]],
            "name": relation["name"],
            "first_name": relation["firstName"],
            "last_name": relation["lastName"],
            "enterprise_number": self.enterprise_number.get(relation["id"]),
            "language": relation["language"],
            "email": relation["email"],
            "phone": relation["phone"],
            "address": None
            if address is None
            else {
                "street": address["street"],
                "postal_code": address["postalCode"],
                "city": address["city"],
                "country": address["country"],
            },
            "responsible_user_id": responsible,
            "external_ref": None if by_hand else relation["uniqueIdentifier"],
            "import_status": None if by_hand else ("pending" if pending else "complete"),
            "cap": cap,
            "risk_level": risk,
            "id_card": None,
            "created_at": amlcare_timestamp(created),
            "updated_at": amlcare_timestamp(self._moment_after(created)),
        }
        if not is_company and not pending and rng.random() < 0.9:
            expiry = REFERENCE_NOW.date() + timedelta(days=rng.randrange(-200, 3650))
            client["id_card"] = {"expiry_date": expiry.isoformat()}
        self.amlcare_client_of[relation["id"]] = client

        if not by_hand and not pending and rng.random() < SYNCED_BACK_SHARE:
            self._sync_back(relation, client)
        self._amlcare_documents(relation, client, created, by_hand=by_hand, pending=pending)
        return client

    def _cap(self, status: str) -> tuple[dict[str, Any], str | None]:
        rng, today = self.rng, REFERENCE_NOW.date()
        accepted = next_review = None
        if status in ("accepted", "expiring", "expired"):
            if status == "accepted":
                next_review = today + timedelta(days=rng.randrange(15, 1000))
            elif status == "expiring":
                next_review = today + timedelta(days=rng.randrange(0, 14))
            else:
                next_review = today - timedelta(days=rng.randrange(1, 300))
            accepted = min(next_review - timedelta(days=365 * rng.choice((1, 3))), today)
        risk = None if status == "not_started" else _weighted(rng, RISK_LEVEL_WEIGHTS)
        if status == "not_accepted":
            risk = "high"
        cap = {
            "status": status,
            "acceptance_date": accepted.isoformat() if accepted else None,
            "next_review_date": next_review.isoformat() if next_review else None,
        }
        return cap, risk

    def _amlcare_responsible(self, relation: dict[str, Any]) -> str | None:
        rng = self.rng
        users = self.world["amlcare"]["users"]
        draw = rng.random()
        if draw < 0.1:
            return None
        if draw < 0.3 or not relation["responsibles"]:
            return str(rng.choice(users)["id"])
        office_users = {u["id"]: u for u in self.world["adminpulse"]["users"]}
        email = office_users[relation["responsibles"][0]["userId"]]["email"].casefold()
        match = self.amlcare_user_by_email.get(email)
        return str(match["id"]) if match else None

    def _sync_back(self, relation: dict[str, Any], client: dict[str, Any]) -> None:
        """What an earlier outbound sync already wrote onto the AdminPulse relation."""
        risk = client["risk_level"]
        relation["aml"] = {
            "totalRisk": ADMINPULSE_RISK[risk] if risk else None,
            "clientAcceptanceDate": client["cap"]["acceptance_date"],
            "nextReviewDate": client["cap"]["next_review_date"],
        }
        if client["id_card"]:
            relation["idCardExpiryDate"] = client["id_card"]["expiry_date"]

    def _amlcare_documents(
        self,
        relation: dict[str, Any],
        client: dict[str, Any],
        created: datetime,
        *,
        by_hand: bool,
        pending: bool,
    ) -> None:
        rng = self.rng
        if not by_hand:
            cards = self.identity_documents_of.get(relation["id"], [])
            for card in cards[:1] if pending else cards:
                self._amlcare_document(client, "id_card", "created", created, source=card)
        if pending:
            return

        if client["type"] == "company":
            kinds = ["identification_form", "cap_report", "verification_report", "ubo_extract"]
        else:
            kinds = ["identification_form", "cap_report", "verification_report", "id_card"]
        for kind in rng.sample(kinds, rng.randint(0, 3)):
            # Uploads stay as they are; forms and reports get submitted and signed.
            status = rng.choice(tuple(DOCUMENT_VERSION)) if kind in SIGNED_KINDS else "created"
            self._amlcare_document(client, kind, status, created, source=None)

    def _amlcare_document(
        self,
        client: dict[str, Any],
        kind: str,
        status: str,
        after: datetime,
        *,
        source: dict[str, Any] | None,
    ) -> None:
        rng = self.rng
        if source is not None:
            # The import copied the card as it was; the same string is shared, not re-encoded.
            encoded, size = source["content"], source["size"]
            file_name, content_type = source["fileName"], "image/jpeg"
        else:
            if kind == "id_card":
                content = JPEG_HEAD + rng.randbytes(rng.randrange(200, 600)) + JPEG_TAIL
                file_name, content_type = "id-card.jpg", "image/jpeg"
            else:
                content = b"%PDF-1.4\n%" + rng.randbytes(rng.randrange(300, 900)) + b"\n%%EOF\n"
                file_name, content_type = f"{kind.replace('_', '-')}.pdf", "application/pdf"
            encoded, size = base64.b64encode(content).decode("ascii"), len(content)
        created = self._moment_after(after)
        updated = created if status == "created" else self._moment_after(created)
        versions = _document_versions(file_name, encoded, size, status, created, updated)
        self.amlcare_documents.append(
            {
                "id": self.ids.new("do"),
                "client_id": client["id"],
                "client_type": client["type"],
                "client_key": client["key"],
                "kind": kind,
                "status": status,
                "version": DOCUMENT_VERSION[status],
                "file_name": file_name,
                "content_type": content_type,
                "size": versions[-1]["size"],
                "origin": "adminpulse_import" if source is not None else "amlcare",
                "external_ref": str(source["id"]) if source is not None else None,
                "created_at": amlcare_timestamp(created),
                "updated_at": amlcare_timestamp(updated),
                "versions": versions,
            }
        )

    # -- world-level settings and the record of what was made ------------------------------

    def _mark_document_types(self) -> None:
        for doc_type in self.world["adminpulse"]["documentTypes"]:
            if doc_type["id"] == EID_FOTO_TYPE and self.seed % 4 != CLEAN_TYPES_SEED_REMAINDER:
                doc_type["publicOnPortalDefault"] = False
            if doc_type["id"] in IDENTITY_TYPE_NAMES and not doc_type["publicOnPortalDefault"]:
                self.types_without_default.append(doc_type["name"])
        self.defects["document_type_not_public_by_default"] = len(self.types_without_default)

    def _write_meta(self) -> None:
        adminpulse = self.world["adminpulse"]
        self.world["adminpulse"]["relations"] = self.relations
        kinds = [rel["type"] for rel in self.client_relations]
        self.world["meta"] = {
            "origin": "generator",
            "generator": {
                "clients": self.client_count,
                "seed": self.seed,
                "referenceNow": adminpulse_timestamp(REFERENCE_NOW),
            },
            "defects": dict(sorted(self.defects.items())),
            "counts": {
                "clients": len(self.client_relations),
                "companies": kinds.count("company"),
                "persons": kinds.count("person"),
                "soleProprietors": kinds.count("soleProprietor"),
                "linkedPersons": len(self.linked_persons),
                "ownCompanies": 1,
                "users": len(adminpulse["users"]),
                "identityDocuments": len(adminpulse["documents"]),
                "tasks": len(adminpulse["tasks"]),
                "amlcareClients": len(self.world["amlcare"]["clients"]),
                "amlcareDocuments": len(self.world["amlcare"]["documents"]),
            },
            "documentTypesWithoutPublicDefault": self.types_without_default,
        }
