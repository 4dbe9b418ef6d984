"""The seed generator: realistic, reproducible worlds whose defects come in the stated share.

Every defect is measured from the generated records themselves (with stdnum for identifiers),
never read back from `meta`; `meta` is then checked against the measurement.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from amlsync_sandbox.generator import DEFECT_RATES, REFERENCE_NOW, generate_world
from amlsync_sandbox.world import ADMINPULSE_RESOURCES, AMLCARE_RESOURCES, WORLD_FORMAT
from stdnum.be import bis, nn, vat

CLIENTS = 2000
# A measured share may differ from its rate by this much (picks are exact; rounding and the
# few cases that cannot carry a defect account for the rest).
RATE_TOLERANCE = 0.005

ADMINPULSE_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
AMLCARE_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PLAIN_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")

# Record shapes from sandbox/API.md.
RELATION_KEYS = {
    "id", "uniqueIdentifier", "code", "name", "displayName", "type", "status", "legalForm",
    "companyId", "relationGroupName", "vatNumber", "nationalRegisterNumber", "firstName",
    "lastName", "language", "email", "phone", "address", "responsibles", "tos", "endDate",
    "createdDate", "modifiedDate", "aml", "idCardExpiryDate",
}  # fmt: skip
USER_KEYS = {"id", "firstName", "lastName", "email", "active"}
DOCUMENT_KEYS = {
    "id", "relationIdentifier", "documentType", "fileName", "documentDate", "publicOnPortal",
    "size", "createdDate", "modifiedDate", "content",
}  # fmt: skip
TASK_KEYS = {"id", "name", "templateName", "relationUniqueIdentifier", "dueDate"}
AMLCARE_USER_KEYS = {"id", "email", "name", "active", "created_at", "updated_at"}
AMLCARE_CLIENT_KEYS = {
    "id", "type", "key", "name", "first_name", "last_name", "enterprise_number", "language",
    "email", "phone", "address", "responsible_user_id", "external_ref", "import_status", "cap",
    "risk_level", "id_card", "created_at", "updated_at",
}  # fmt: skip
AMLCARE_RELATION_KEYS = {"id", "company_id", "person_id", "role", "created_at", "updated_at"}
AMLCARE_DOCUMENT_KEYS = {
    "id", "client_id", "client_type", "client_key", "kind", "status", "version", "file_name",
    "content_type", "size", "origin", "external_ref", "created_at", "updated_at", "versions",
}  # fmt: skip
AMLCARE_VERSION_KEYS = {"version", "status", "file_name", "size", "created_at", "content"}


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    return generate_world(CLIENTS, seed=0)


@pytest.fixture(scope="module")
def relations(world: dict[str, Any]) -> list[dict[str, Any]]:
    return world["adminpulse"]["relations"]


@pytest.fixture(scope="module")
def clients(relations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The N client relations: customers and prospects (linked persons have status other)."""
    return [rel for rel in relations if rel["status"] in ("customer", "prospect")]


def digits_of_kbo(written: str) -> str:
    return vat.compact(written)


def digits_of_nrn(written: str) -> str:
    return nn.compact(written)


def nrn_is_valid(written: str) -> bool:
    return nn.is_valid(written) or bis.is_valid(written)


def client_key(relation: dict[str, Any]) -> str | None:
    """The key AMLCare would match on, when the relation's identifier is valid."""
    if relation["type"] == "company":
        written = relation["vatNumber"]
        return digits_of_kbo(written) if written and vat.is_valid(written) else None
    written = relation["nationalRegisterNumber"]
    return digits_of_nrn(written) if written and nrn_is_valid(written) else None


# -- reproducibility and format -------------------------------------------------------------


def test_same_clients_and_seed_give_the_same_world():
    first = generate_world(150, seed=7)
    second = generate_world(150, seed=7)
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_another_seed_gives_another_office():
    first = generate_world(150, seed=7)
    other = generate_world(150, seed=8)
    names = {rel["name"] for rel in first["adminpulse"]["relations"]}
    other_names = {rel["name"] for rel in other["adminpulse"]["relations"]}
    assert len(names & other_names) < len(names) / 2


def test_world_round_trips_through_json(world):
    assert json.loads(json.dumps(world)) == world


def test_world_has_the_format_and_every_resource(world):
    assert world["format"] == WORLD_FORMAT
    assert set(world["adminpulse"]) == set(ADMINPULSE_RESOURCES)
    assert set(world["amlcare"]) == set(AMLCARE_RESOURCES)
    assert world["adminpulse"]["tokens"], "the base world's token is kept"
    assert world["amlcare"]["apiKeys"], "the base world's API key is kept"
    assert world["meta"]["generator"] == {
        "clients": CLIENTS,
        "seed": 0,
        "referenceNow": "2026-11-30T17:00:00",
    }


def test_negative_client_count_is_refused():
    with pytest.raises(ValueError, match="clients"):
        generate_world(-1)


def test_a_world_without_clients_still_has_the_office():
    empty = generate_world(0)
    statuses = [rel["status"] for rel in empty["adminpulse"]["relations"]]
    assert statuses == ["ownCompany"]
    assert len(empty["adminpulse"]["users"]) == 8


# -- counts and the mix of clients ----------------------------------------------------------


def test_there_are_exactly_n_clients_in_the_stated_mix(world, clients):
    assert len(clients) == CLIENTS
    kinds = Counter(rel["type"] for rel in clients)
    assert kinds["company"] == pytest.approx(0.45 * CLIENTS, abs=1)
    assert kinds["soleProprietor"] == pytest.approx(0.15 * CLIENTS, abs=1)
    assert kinds["person"] == pytest.approx(0.40 * CLIENTS, abs=1)
    counts = world["meta"]["counts"]
    assert counts["clients"] == CLIENTS
    assert (counts["companies"], counts["persons"], counts["soleProprietors"]) == (
        kinds["company"],
        kinds["person"],
        kinds["soleProprietor"],
    )


def test_linked_persons_are_relations_of_their_own_counted_apart(world, relations):
    by_uid = {rel["uniqueIdentifier"]: rel for rel in relations}
    linked = [rel for rel in relations if rel["status"] == "other"]
    assert len(linked) == world["meta"]["counts"]["linkedPersons"]
    assert all(rel["type"] == "person" for rel in linked)
    for company in (rel for rel in relations if rel["type"] == "company"):
        for link in company["tos"]:
            assert by_uid[link["uniqueIdentifier"]]["type"] == "person"
    holders = {link["uniqueIdentifier"] for rel in relations for link in rel["tos"]}
    assert {rel["uniqueIdentifier"] for rel in linked} <= holders, "no orphan linked person"
    assert any(by_uid[uid]["status"] == "customer" for uid in holders), (
        "some role holders are person clients themselves"
    )


def test_companies_list_directors_and_ubos_and_one_person_may_hold_several_roles(clients):
    companies = [rel for rel in clients if rel["type"] == "company"]
    assert all({link["linkType"] for link in rel["tos"]} >= {2, 4} for rel in companies), (
        "every company has a director and a UBO"
    )
    link_types = Counter(link["linkType"] for rel in companies for link in rel["tos"])
    assert set(link_types) == {1, 2, 4, 6}
    several_roles = [
        rel
        for rel in companies
        if any(n > 1 for n in Counter(link["uniqueIdentifier"] for link in rel["tos"]).values())
    ]
    assert len(several_roles) > len(companies) / 2


def test_legal_forms_and_languages_are_belgian(clients):
    forms = Counter(rel["legalForm"] for rel in clients if rel["type"] == "company")
    assert {"BV", "NV", "CommV", "VZW", "SRL", "SA"} <= set(forms)
    languages = Counter(rel["language"] for rel in clients)
    assert set(languages) == {"nl", "fr"}
    assert languages["fr"] / CLIENTS == pytest.approx(0.40, abs=0.05)
    for rel in clients:
        if rel["type"] != "company" and rel["language"] == "fr" and rel["address"]:
            assert rel["address"]["street"].split()[0] in {
                "Rue",
                "Avenue",
                "Chaussée",
                "Place",
                "Boulevard",
            }


def test_office_users_and_their_amlcare_counterparts(world):
    users = world["adminpulse"]["users"]
    assert len(users) == 8
    amlcare_emails = {user["email"] for user in world["amlcare"]["users"]}
    folded = {email.casefold() for email in amlcare_emails}
    active = [user for user in users if user["active"]]
    with_counterpart = [user for user in active if user["email"].casefold() in folded]
    assert 0 < len(active) - len(with_counterpart) < len(active) / 2
    assert any(user["email"] not in amlcare_emails for user in with_counterpart), (
        "one counterpart is written in other letter case"
    )


def test_most_relations_have_one_responsible_who_is_an_active_user(world, clients):
    active = {user["id"] for user in world["adminpulse"]["users"] if user["active"]}
    sizes = Counter(len(rel["responsibles"]) for rel in clients)
    assert sizes[1] > 0.8 * CLIENTS
    for rel in clients:
        assert {entry["userId"] for entry in rel["responsibles"]} <= active


# -- records: keys, ids, dates --------------------------------------------------------------


def test_every_record_carries_every_key(world):
    adminpulse, amlcare = world["adminpulse"], world["amlcare"]
    expectations = [
        (adminpulse["relations"], RELATION_KEYS),
        (adminpulse["users"], USER_KEYS),
        (adminpulse["documents"], DOCUMENT_KEYS),
        (adminpulse["tasks"], TASK_KEYS),
        (amlcare["users"], AMLCARE_USER_KEYS),
        (amlcare["clients"], AMLCARE_CLIENT_KEYS),
        (amlcare["relations"], AMLCARE_RELATION_KEYS),
        (amlcare["documents"], AMLCARE_DOCUMENT_KEYS),
    ]
    for records, keys in expectations:
        assert records
        for record in records:
            assert set(record) == keys


def test_identifiers_of_records_are_unique(world, relations):
    for field in ("id", "uniqueIdentifier", "code"):
        values = [rel[field] for rel in relations]
        assert len(set(values)) == len(values), field
    for resource in ("documents", "tasks", "emails", "users"):
        ids = [record["id"] for record in world["adminpulse"][resource]]
        assert len(set(ids)) == len(ids), resource
    prefixes = {"users": "us_", "clients": "cl_", "relations": "re_", "documents": "do_"}
    every_id = []
    for resource, prefix in prefixes.items():
        ids = [record["id"] for record in world["amlcare"][resource]]
        assert all(record_id.startswith(prefix) for record_id in ids), resource
        every_id += ids
    assert len(set(every_id)) == len(every_id)


def test_valid_keys_are_unique(relations):
    keys = [key for key in map(client_key, relations) if key]
    keys += [
        digits_of_kbo(rel["vatNumber"])
        for rel in relations
        if rel["type"] == "soleProprietor" and vat.is_valid(rel["vatNumber"])
    ]
    assert len(set(keys)) == len(keys)


def test_adminpulse_dates_are_local_iso_and_ordered(world, relations):
    earliest = REFERENCE_NOW - timedelta(days=7 * 365)
    previous = None
    for rel in relations:
        assert ADMINPULSE_TIMESTAMP.match(rel["createdDate"])
        created = datetime.fromisoformat(rel["createdDate"])
        modified = datetime.fromisoformat(rel["modifiedDate"])
        assert earliest <= created <= modified <= REFERENCE_NOW
        if previous is not None:
            assert created >= previous, "ids ascend with creation"
        previous = created
    for document in world["adminpulse"]["documents"]:
        assert PLAIN_DATE.match(document["documentDate"])
        assert document["createdDate"] <= document["modifiedDate"]
    for task in world["adminpulse"]["tasks"]:
        assert PLAIN_DATE.match(task["dueDate"])


def test_amlcare_timestamps_are_utc_with_microseconds(world):
    for resource in AMLCARE_RESOURCES[1:]:
        for record in world["amlcare"][resource]:
            assert AMLCARE_TIMESTAMP.match(record["created_at"]), resource
            assert AMLCARE_TIMESTAMP.match(record["updated_at"]), resource
            assert record["created_at"] <= record["updated_at"]


# -- identifiers ----------------------------------------------------------------------------


def test_every_identifier_that_is_not_a_defect_passes_stdnum_once_normalised(world, relations):
    """Invalid identifiers exist only as the two stated defects; all others validate."""
    invalid_kbo = invalid_nrn = 0
    for rel in relations:
        kbo, nrn = rel["vatNumber"], rel["nationalRegisterNumber"]
        if kbo is not None:
            if vat.is_valid(kbo):
                assert len(digits_of_kbo(kbo)) == 10
            else:
                assert (rel["type"], rel["status"]) in {
                    ("company", "customer"),
                    ("company", "prospect"),
                }
                invalid_kbo += 1
        if nrn is not None:
            if nrn_is_valid(nrn):
                assert len(digits_of_nrn(nrn)) == 11
            else:
                assert rel["type"] == "person"
                assert rel["status"] != "other"
                invalid_nrn += 1
    defects = world["meta"]["defects"]
    assert (invalid_kbo, invalid_nrn) == (
        defects["company_invalid_kbo"],
        defects["person_invalid_nrn"],
    )


def test_sole_proprietors_carry_both_identifiers_and_companies_no_nrn(clients):
    for rel in clients:
        if rel["type"] == "soleProprietor":
            assert vat.is_valid(rel["vatNumber"])
            assert nn.is_valid(rel["nationalRegisterNumber"])
        elif rel["type"] == "company":
            assert rel["nationalRegisterNumber"] is None
        else:
            assert rel["vatNumber"] is None


def test_national_register_numbers_match_birth_dates_of_adults(relations):
    for rel in relations:
        nrn = rel["nationalRegisterNumber"]
        if nrn and nrn_is_valid(nrn):
            born = (bis if bis.is_valid(nrn) else nn).get_birth_date(nrn)
            assert date(1940, 1, 1) <= born <= date(2008, 12, 31)


def test_amlcare_keys_are_valid_digits(world):
    for client in world["amlcare"]["clients"]:
        if client["type"] == "company":
            assert vat.validate(client["key"]) == client["key"]
            assert client["enterprise_number"] is None
        else:
            assert nrn_is_valid(client["key"])
            assert client["key"].isdigit()
            if client["enterprise_number"] is not None:
                assert vat.validate(client["enterprise_number"]) == client["enterprise_number"]


# -- defects, measured from the data --------------------------------------------------------


def measure_defects(world: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Each defect as (records that show it, records it is a share of)."""
    relations = world["adminpulse"]["relations"]
    clients = [rel for rel in relations if rel["status"] in ("customer", "prospect")]
    n = len(clients)
    by_uid = {rel["uniqueIdentifier"]: rel for rel in relations}

    def count(condition: Callable[[dict[str, Any]], bool]) -> tuple[int, int]:
        return sum(1 for rel in clients if condition(rel)), n

    def is_company(rel):
        return rel["type"] == "company"

    def is_person(rel):
        return rel["type"] == "person"

    def formatted(rel):
        written = [
            (rel["vatNumber"], vat.is_valid, digits_of_kbo),
            (rel["nationalRegisterNumber"], nrn_is_valid, digits_of_nrn),
        ]
        return any(
            value is not None and valid(value) and value != compact(value)
            for value, valid, compact in written
        )

    users = {user["id"]: user for user in world["adminpulse"]["users"]}
    amlcare_emails = {user["email"].casefold() for user in world["amlcare"]["users"]}

    def responsible_unknown_to_amlcare(rel):
        return any(
            users[entry["userId"]]["email"].casefold() not in amlcare_emails
            for entry in rel["responsibles"]
        )

    identity_documents = [
        doc for doc in world["adminpulse"]["documents"] if doc["documentType"] in (1, 2)
    ]
    serving: dict[str, set[str]] = defaultdict(set)
    for rel in relations:
        for link in rel["tos"]:
            if link["linkType"] in (2, 4):
                serving[link["uniqueIdentifier"]].add(rel["uniqueIdentifier"])
    shared = sum(
        1
        for uid, companies in serving.items()
        if len(companies) >= 2 and by_uid[uid]["status"] == "other"
    )
    amlcare_keys = {client["key"] for client in world["amlcare"]["clients"]}
    onboarding = {
        task["relationUniqueIdentifier"]
        for task in world["adminpulse"]["tasks"]
        if task["templateName"] == "AML-onboarding"
    }
    today = REFERENCE_NOW.date().isoformat()

    return {
        "company_without_kbo": count(lambda r: is_company(r) and r["vatNumber"] is None),
        "company_invalid_kbo": count(
            lambda r: (
                is_company(r) and r["vatNumber"] is not None and not vat.is_valid(r["vatNumber"])
            )
        ),
        "person_without_nrn": count(lambda r: is_person(r) and r["nationalRegisterNumber"] is None),
        "person_invalid_nrn": count(
            lambda r: (
                is_person(r)
                and r["nationalRegisterNumber"] is not None
                and not nrn_is_valid(r["nationalRegisterNumber"])
            )
        ),
        "bis_number": count(
            lambda r: is_person(r) and bis.is_valid(r["nationalRegisterNumber"] or "")
        ),
        "identifier_formatted": count(formatted),
        "identity_document_not_public": (
            sum(1 for doc in identity_documents if not doc["publicOnPortal"]),
            len(identity_documents),
        ),
        "responsible_without_amlcare_user": count(responsible_unknown_to_amlcare),
        "client_without_responsible": count(lambda r: not r["responsibles"]),
        "shared_person": (shared, n),
        "already_in_amlcare": count(lambda r: client_key(r) in amlcare_keys),
        "amlcare_import_pending": (
            sum(1 for c in world["amlcare"]["clients"] if c["import_status"] == "pending"),
            n,
        ),
        "prospect": count(lambda r: r["status"] == "prospect"),
        "inactive": count(lambda r: r["endDate"] is not None and r["endDate"] < today),
        "aml_onboarding_task": count(lambda r: r["uniqueIdentifier"] in onboarding),
    }


@pytest.fixture(scope="module")
def measured(world: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return measure_defects(world)


def test_every_stated_rate_is_measured(measured):
    assert set(measured) == set(DEFECT_RATES)


@pytest.mark.parametrize("defect", sorted(DEFECT_RATES))
def test_defect_appears_in_its_stated_share(defect, measured, world):
    found, base = measured[defect]
    assert found > 0
    assert found / base == pytest.approx(DEFECT_RATES[defect], abs=RATE_TOLERANCE)
    assert world["meta"]["defects"][defect] == found, "meta records what was made"


@pytest.mark.parametrize("seed", [5, 42])
def test_shares_hold_for_other_seeds(seed):
    other = generate_world(1000, seed=seed)
    for defect, (found, base) in measure_defects(other).items():
        assert found / base == pytest.approx(DEFECT_RATES[defect], abs=0.01), defect


def test_shared_persons_serve_several_companies(relations):
    by_uid = {rel["uniqueIdentifier"]: rel for rel in relations}
    companies_of = defaultdict(set)
    for rel in relations:
        for link in rel["tos"]:
            if link["linkType"] in (2, 4):
                companies_of[link["uniqueIdentifier"]].add(rel["id"])
    shared = [uid for uid, ids in companies_of.items() if len(ids) >= 2]
    assert shared
    assert all(by_uid[uid]["type"] == "person" for uid in shared)


def test_eid_foto_type_lacks_the_public_default_with_the_default_seeds():
    for seed in (0, 1):
        generated = generate_world(10, seed=seed)
        flags = {
            t["name"]: t["publicOnPortalDefault"] for t in generated["adminpulse"]["documentTypes"]
        }
        assert (flags["eID"], flags["eID Foto"]) == (True, False)
        assert generated["meta"]["documentTypesWithoutPublicDefault"] == ["eID Foto"]
        assert generated["meta"]["defects"]["document_type_not_public_by_default"] == 1
    clean = generate_world(10, seed=3)
    flags = {t["name"]: t["publicOnPortalDefault"] for t in clean["adminpulse"]["documentTypes"]}
    assert (flags["eID"], flags["eID Foto"]) == (True, True)
    assert clean["meta"]["defects"]["document_type_not_public_by_default"] == 0


# -- documents, tasks and AMLCare's side ----------------------------------------------------


def test_identity_documents_are_small_jpegs_of_persons(world, relations):
    by_uid = {rel["uniqueIdentifier"]: rel for rel in relations}
    documents = world["adminpulse"]["documents"]
    holders = Counter()
    for document in documents:
        relation = by_uid[document["relationIdentifier"]]
        assert relation["type"] in ("person", "soleProprietor")
        content = base64.b64decode(document["content"])
        assert content.startswith(b"\xff\xd8\xff")
        assert content.endswith(b"\xff\xd9")
        assert 100 < len(content) == document["size"] < 1000
        side = "front" if document["documentType"] == 1 else "foto"
        assert document["fileName"] == f"eid-{side}-{relation['code']}.jpg"
        holders[document["documentType"]] += 1
    people = sum(1 for rel in relations if rel["type"] != "company")
    assert holders[1] / people == pytest.approx(0.85, abs=0.03)
    assert holders[2] / holders[1] == pytest.approx(0.80, abs=0.03)


def test_tasks_of_several_templates_point_at_clients(world, clients):
    uids = {rel["uniqueIdentifier"] for rel in clients}
    templates = Counter(task["templateName"] for task in world["adminpulse"]["tasks"])
    assert "AML-onboarding" in templates
    assert len(templates) > 2
    assert all(task["relationUniqueIdentifier"] in uids for task in world["adminpulse"]["tasks"])


def test_clients_already_in_amlcare_have_their_own_compliance_state(world, relations):
    amlcare = world["amlcare"]
    clients = amlcare["clients"]
    user_ids = {user["id"] for user in amlcare["users"]}
    assert {c["responsible_user_id"] for c in clients} - {None} <= user_ids
    assert {c["cap"]["status"] for c in clients} == {
        "not_started", "ongoing", "accepted", "not_accepted", "expiring", "expired",
    }  # fmt: skip
    assert {c["risk_level"] for c in clients} == {"low", "standard", "high", None}
    statuses = Counter((doc["status"], doc["version"]) for doc in amlcare["documents"])
    assert set(statuses) == {("created", 1), ("submitted", 2), ("signed", 3)}
    assert {doc["kind"] for doc in amlcare["documents"]} == {
        "identification_form", "cap_report", "id_card", "verification_report", "ubo_extract",
    }  # fmt: skip
    assert {c["import_status"] for c in clients} == {"complete", "pending", None}
    magic = {"application/pdf": b"%PDF-", "image/jpeg": b"\xff\xd8\xff"}
    for document in amlcare["documents"]:
        versions = document["versions"]
        assert all(set(version) == AMLCARE_VERSION_KEYS for version in versions)
        files = [base64.b64decode(version["content"]) for version in versions]
        assert [len(file) for file in files] == [version["size"] for version in versions]
        assert files[-1].startswith(magic[document["content_type"]])
        assert len(files[-1]) == document["size"]


def test_amlcare_documents_keep_every_version_up_to_their_status(world):
    steps = ["created", "submitted", "signed"]
    for document in world["amlcare"]["documents"]:
        versions = document["versions"]
        assert [v["version"] for v in versions] == list(range(1, document["version"] + 1))
        assert [v["status"] for v in versions] == steps[: document["version"]]
        assert versions[0]["created_at"] == document["created_at"]
        assert versions[-1]["created_at"] == document["updated_at"]
        moments = [v["created_at"] for v in versions]
        assert moments == sorted(moments)
        assert all(AMLCARE_TIMESTAMP.match(moment) for moment in moments)
        files = [base64.b64decode(v["content"]) for v in versions]
        for earlier, later in itertools.pairwise(files):
            assert later.startswith(earlier)
            assert later != earlier


def test_import_made_clients_point_back_to_their_relation_and_cards(world, relations):
    by_uid = {rel["uniqueIdentifier"]: rel for rel in relations}
    cards_of = defaultdict(set)
    for document in world["adminpulse"]["documents"]:
        cards_of[document["relationIdentifier"]].add(str(document["id"]))
    imported_of = defaultdict(set)
    for document in world["amlcare"]["documents"]:
        if document["origin"] == "adminpulse_import":
            imported_of[document["client_id"]].add(document["external_ref"])

    cut_short = 0
    for client in world["amlcare"]["clients"]:
        if client["external_ref"] is None:
            assert client["import_status"] is None
            continue
        relation = by_uid[client["external_ref"]]
        assert client_key(relation) == client["key"]
        cards = cards_of[relation["uniqueIdentifier"]]
        if client["import_status"] == "complete":
            assert imported_of[client["id"]] == cards
        else:
            assert imported_of[client["id"]] <= cards
            cut_short += imported_of[client["id"]] < cards
    assert cut_short, "some pending import stopped before copying every card"


def test_amlcare_relations_mirror_the_roles_of_companies_already_there(world, relations):
    by_uid = {rel["uniqueIdentifier"]: rel for rel in relations}
    clients = {c["id"]: c for c in world["amlcare"]["clients"]}
    client_of_key = {c["key"]: c["id"] for c in clients.values()}
    roles = {"ubo": 2, "director": 4}
    triples = set()
    for link in world["amlcare"]["relations"]:
        company, person = clients[link["company_id"]], clients[link["person_id"]]
        assert (company["type"], person["type"]) == ("company", "person")
        triples.add((link["company_id"], link["person_id"], link["role"]))
    assert len(triples) == len(world["amlcare"]["relations"])
    for rel in relations:
        company_id = client_of_key.get(client_key(rel)) if rel["type"] == "company" else None
        if company_id is None:
            continue
        for link in rel["tos"]:
            person_key = client_key(by_uid[link["uniqueIdentifier"]])
            role = next((name for name, code in roles.items() if code == link["linkType"]), None)
            if role and person_key:
                assert (company_id, client_of_key[person_key], role) in triples


# -- speed ----------------------------------------------------------------------------------


def test_ten_thousand_clients_are_generated_within_thirty_seconds():
    # Processor time, not wall time: other test processes share this machine's cores.
    started = time.process_time()
    big = generate_world(10_000, seed=0)
    elapsed = time.process_time() - started
    assert len(big["adminpulse"]["relations"]) > 10_000
    assert elapsed < 30, f"took {elapsed:.1f}s of processor time"
