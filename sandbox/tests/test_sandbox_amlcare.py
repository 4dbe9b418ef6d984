"""AMLCare as the sandbox plays it, checked against its own OpenAPI document over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from amlsync_sandbox.amlcare import create_app
from amlsync_sandbox.service import endpoint_template
from amlsync_sandbox.testing import SandboxProcess
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from sandbox_worlds import (
    amlcare_client,
    amlcare_user,
    amlcare_world,
    unique_kbos,
    unique_nrns,
)
from stdnum.be import bis, nn

SPEC_PATH = Path(__file__).resolve().parent.parent / "amlcare-openapi.yaml"
KEY = "sandbox-amlcare-key"
SHARED_MOMENT = "2026-06-01T12:00:00.000000Z"
NRN_A, NRN_B, NRN_C = unique_nrns(3)
KBO_A, KBO_B = unique_kbos(2)
# A BIS number (birth month + 40) that stdnum accepts: people not in the national register.
BIS = "98472899765"  # the example of stdnum.be.bis's own documentation


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


class Api:
    """Calls AMLCare and checks every answer (and every request meant to be valid) against
    the OpenAPI document."""

    def __init__(self, sandbox: SandboxProcess, openapi: OpenAPI) -> None:
        self.sandbox = sandbox
        self.base = sandbox.amlcare_url
        self.openapi = openapi
        self.session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = KEY,
        valid_request: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        prepared = self.session.prepare_request(
            requests.Request(method, f"{self.base}{path}", headers=headers, **kwargs)
        )
        response = self.session.send(prepared, timeout=30)
        openapi_request = RequestsOpenAPIRequest(prepared)
        if valid_request and key:
            self.openapi.validate_request(openapi_request)
        self.openapi.validate_response(openapi_request, RequestsOpenAPIResponse(response))
        return response

    def create_client(self, **body: Any) -> requests.Response:
        return self.call("POST", "/clients", json=body)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One server for the module; each test loads its own world into it."""
    with SandboxProcess(tmp_path_factory.mktemp("amlcare") / "sandbox.db") as sandbox:
        yield sandbox


@pytest.fixture
def api(shared: SandboxProcess, openapi: OpenAPI) -> Api:
    shared.load(amlcare_world([], users=[amlcare_user("us_1", "an@kantoor.be")]))
    shared.reset_requests()
    return Api(shared, openapi)


def error_of(response: requests.Response) -> dict[str, Any]:
    return response.json()["error"]


def documented_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return {
        (method.upper(), f"/v1{path}")
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }


def test_the_openapi_document_covers_every_route_the_service_has(tmp_path):
    app = create_app(tmp_path / "routes.db")
    served = {
        (method, endpoint_template(rule.rule))
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(("/_sandbox", "/static"))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == documented_operations()


def test_every_route_answers_as_the_openapi_document_says(api):
    person = api.create_client(
        type="person",
        key=NRN_A,
        first_name="An",
        last_name="Peeters",
        email="an@example.be",
        language="nl",
        responsible_user_id="us_1",
        external_ref="6f1c-an",
        import_status="pending",
        address={"street": "Kerkstraat 1", "postal_code": "9000", "city": "Gent", "country": "BE"},
    )
    assert person.status_code == 201
    company = api.create_client(type="company", key=KBO_A, name="Janssens BV")
    assert company.status_code == 201
    person_id, company_id = person.json()["id"], company.json()["id"]

    assert api.call("GET", "/users").status_code == 200
    assert api.call("GET", "/clients?type=person").status_code == 200
    assert api.call("GET", f"/clients/{person_id}").status_code == 200
    assert api.call("GET", "/clients/cl_missing").status_code == 404
    lookup = api.call("POST", "/clients/lookup", json={"keys": [NRN_A, NRN_B]})
    assert [c["id"] for c in lookup.json()["items"]] == [person_id]
    assert (
        api.call("PATCH", f"/clients/{person_id}", json={"risk_level": "high"}).status_code == 200
    )
    relation = api.call(
        "POST", "/relations", json={"company_id": company_id, "person_id": person_id, "role": "ubo"}
    )
    assert relation.status_code == 201
    assert api.call("GET", f"/relations?company_id={company_id}").status_code == 200

    upload = api.call(
        "POST",
        f"/clients/{person_id}/documents",
        data={"kind": "identification_form", "file_name": "form.pdf", "origin": "amlcare"},
        files={"file": ("form.pdf", b"%PDF-1.4 form", "application/pdf")},
    )
    assert upload.status_code == 201
    document_id = upload.json()["id"]
    assert api.call("GET", "/documents?kind=identification_form").status_code == 200
    assert api.call("GET", f"/documents/{document_id}").status_code == 200
    assert api.call("GET", f"/documents/{document_id}/content").status_code == 200
    assert api.call("POST", f"/documents/{document_id}/submit").status_code == 200
    assert api.call("POST", f"/documents/{document_id}/sign").status_code == 200
    assert api.call("GET", f"/documents/{document_id}/versions/2/content").status_code == 200

    # The errors, each in the documented error shape.
    assert api.call("GET", "/clients", key=None).status_code == 401
    assert api.call("GET", "/clients", key="wrong").status_code == 401
    assert api.call("GET", "/clients?limit=501", valid_request=False).status_code == 400
    assert api.create_client(type="person", key=NRN_A, name="Again").status_code == 409
    assert api.create_client(type="person", key="12345678901", name="X").status_code == 422
    assert api.call("POST", f"/documents/{document_id}/sign").status_code == 409
    assert api.call("GET", "/documents/doc_missing/content").status_code == 404
    assert api.call("GET", f"/documents/{document_id}/versions/4/content").status_code == 404
    assert api.call("GET", "/documents/doc_missing/versions/1/content").status_code == 404
    assert api.call("POST", "/documents/doc_missing/submit").status_code == 404

    counted = {(row["method"], row["endpoint"]) for row in api.sandbox.requests("amlcare")}
    assert documented_operations() <= counted


def test_created_clients_carry_every_field_with_defaults(api):
    created = api.create_client(type="person", key=NRN_A, first_name="An", last_name="Peeters")
    client = created.json()
    assert client["name"] == "An Peeters"
    assert client["cap"] == {
        "status": "not_started",
        "acceptance_date": None,
        "next_review_date": None,
    }
    assert client["id_card"] == {"expiry_date": None}
    assert client["created_at"] == client["updated_at"]
    assert client["id"].startswith("cl_")
    assert api.call("GET", f"/clients/{client['id']}").json() == client


def test_a_known_key_is_refused_with_the_existing_client(api):
    first = api.create_client(type="company", key=KBO_A, name="Janssens BV").json()
    again = api.create_client(type="company", key=KBO_A, name="Janssens & Zonen")
    assert again.status_code == 409
    assert error_of(again)["code"] == "duplicate_key"
    assert error_of(again)["existing_id"] == first["id"]
    assert KBO_A not in error_of(again)["message"]
    assert api.call("GET", f"/clients/{first['id']}").json()["name"] == "Janssens BV"


def test_records_with_different_keys_are_never_merged(api):
    one = api.create_client(type="person", key=NRN_A, name="An Peeters").json()
    two = api.create_client(type="person", key=NRN_B, name="An Peeters").json()
    assert one["id"] != two["id"]
    listed = api.call("GET", "/clients").json()["items"]
    assert sorted(c["key"] for c in listed) == sorted([NRN_A, NRN_B])


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"type": "person", "key": "85073003329", "name": "X"},
            "invalid_national_register_number",
            "key",
        ),
        (
            {"type": "person", "key": "85.07.30-033.28", "name": "X"},
            "invalid_national_register_number",
            "key",
        ),
        ({"type": "company", "key": "0403019262", "name": "X"}, "invalid_kbo_number", "key"),
        ({"type": "company", "key": "BE0403019261", "name": "X"}, "invalid_kbo_number", "key"),
        ({"type": "company", "key": "2403019261", "name": "X"}, "invalid_kbo_number", "key"),
        (
            {"type": "person", "key": NRN_C, "name": "X", "email": "not-an-email"},
            "invalid_email",
            "email",
        ),
        (
            {"type": "person", "key": NRN_C, "name": "X", "enterprise_number": "0403019262"},
            "invalid_kbo_number",
            "enterprise_number",
        ),
        ({"type": "person", "name": "X"}, "required", "key"),
        ({"type": "person", "key": NRN_C}, "required", "name"),
        (
            {"type": "company", "key": KBO_B, "name": "X", "id_card": {"expiry_date": None}},
            "invalid_value",
            "id_card",
        ),
        (
            {"type": "person", "key": NRN_C, "name": "X", "responsible_user_id": "us_nobody"},
            "unknown_user",
            "responsible_user_id",
        ),
        (
            {"type": "person", "key": NRN_C, "name": "X", "risk_level": "normal"},
            "invalid_value",
            "risk_level",
        ),
    ],
)
def test_invalid_values_are_refused_with_a_reason_and_nothing_is_stored(api, body, code, field):
    response = api.call("POST", "/clients", json=body, valid_request=False)
    assert response.status_code == 422
    assert error_of(response)["code"] == code
    assert error_of(response)["field"] == field
    assert api.call("GET", "/clients").json()["items"] == []


def test_a_bis_number_is_a_valid_person_key(api):
    assert bis.is_valid(BIS)
    assert not nn.is_valid(BIS)
    assert api.create_client(type="person", key=BIS, name="Jan Bis").status_code == 201


def test_unknown_fields_are_a_bad_request(api):
    response = api.call(
        "POST",
        "/clients",
        json={"type": "person", "key": NRN_A, "name": "X", "nrn": "1"},
        valid_request=False,
    )
    assert response.status_code == 400
    assert error_of(response)["field"] == "nrn"


def test_lookup_takes_at_most_500_keys(api):
    api.create_client(type="company", key=KBO_A, name="Janssens BV")
    found = api.call("POST", "/clients/lookup", json={"keys": [KBO_A, KBO_B, KBO_A]}).json()
    assert [c["key"] for c in found["items"]] == [KBO_A]
    too_many = api.call(
        "POST", "/clients/lookup", json={"keys": [str(i) for i in range(501)]}, valid_request=False
    )
    assert too_many.status_code == 400


def test_patch_merges_compliance_fields_and_moves_updated_at(api):
    client = api.create_client(type="person", key=NRN_A, name="An Peeters").json()
    change = {
        "cap": {"status": "accepted", "acceptance_date": "2026-01-12"},
        "risk_level": "standard",
        "id_card": {"expiry_date": "2031-05-02"},
    }
    patched = api.call("PATCH", f"/clients/{client['id']}", json=change).json()
    assert patched["cap"] == {
        "status": "accepted",
        "acceptance_date": "2026-01-12",
        "next_review_date": None,
    }
    assert patched["risk_level"] == "standard"
    assert patched["id_card"] == {"expiry_date": "2031-05-02"}
    assert patched["updated_at"] > client["updated_at"]
    assert patched["created_at"] == client["created_at"]

    review = api.call(
        "PATCH", f"/clients/{client['id']}", json={"cap": {"next_review_date": "2027-01-12"}}
    ).json()
    assert review["cap"] == {
        "status": "accepted",
        "acceptance_date": "2026-01-12",
        "next_review_date": "2027-01-12",
    }

    same = api.call("PATCH", f"/clients/{client['id']}", json={"risk_level": "standard"}).json()
    assert same["updated_at"] == review["updated_at"]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"name": "Someone Else"}, "not_patchable", "name"),
        ({"key": NRN_B}, "not_patchable", "key"),
        ({"risk_level": "normal"}, "invalid_value", "risk_level"),
        ({"cap": {"status": "done"}}, "invalid_value", "cap.status"),
        ({"cap": {"acceptance_date": "2026-02-30"}}, "invalid_value", "cap.acceptance_date"),
        ({"responsible_user_id": "us_nobody"}, "unknown_user", "responsible_user_id"),
        ({"import_status": "half"}, "invalid_value", "import_status"),
    ],
)
def test_patch_refuses_what_it_cannot_change(api, change, code, field):
    client = api.create_client(type="person", key=NRN_A, name="An Peeters").json()
    response = api.call("PATCH", f"/clients/{client['id']}", json=change, valid_request=False)
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
    assert api.call("GET", f"/clients/{client['id']}").json() == client


def test_a_company_has_no_id_card(api):
    company = api.create_client(type="company", key=KBO_A, name="Janssens BV").json()
    response = api.call(
        "PATCH", f"/clients/{company['id']}", json={"id_card": {"expiry_date": "2030-01-01"}}
    )
    assert response.status_code == 422


def test_one_person_may_hold_several_roles_but_each_once(api):
    company = api.create_client(type="company", key=KBO_A, name="Janssens BV").json()["id"]
    person = api.create_client(type="person", key=NRN_A, name="An Peeters").json()["id"]
    for role in ("ubo", "director", "permanent_representative"):
        created = api.call(
            "POST", "/relations", json={"company_id": company, "person_id": person, "role": role}
        )
        assert created.status_code == 201
    again = api.call(
        "POST", "/relations", json={"company_id": company, "person_id": person, "role": "director"}
    )
    assert again.status_code == 409
    assert error_of(again)["code"] == "duplicate_relation"
    listed = api.call("GET", f"/relations?person_id={person}").json()["items"]
    assert error_of(again)["existing_id"] in {r["id"] for r in listed}
    assert sorted(r["role"] for r in listed) == ["director", "permanent_representative", "ubo"]


@pytest.mark.parametrize(
    ("swap", "code", "field"),
    [("types", "invalid_value", "company_id"), ("unknown", "unknown_client", "person_id")],
)
def test_relations_link_a_person_to_a_company(api, swap, code, field):
    company = api.create_client(type="company", key=KBO_A, name="Janssens BV").json()["id"]
    person = api.create_client(type="person", key=NRN_A, name="An Peeters").json()["id"]
    body = {"company_id": company, "person_id": person, "role": "ubo"}
    if swap == "types":
        body = {"company_id": person, "person_id": company, "role": "ubo"}
    else:
        body["person_id"] = "cl_nobody"
    response = api.call("POST", "/relations", json=body)
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)


def test_documents_move_created_submitted_signed_with_a_new_version_each(api):
    person = api.create_client(type="person", key=NRN_A, name="An Peeters").json()["id"]
    created = api.call(
        "POST",
        f"/clients/{person}/documents",
        data={"kind": "cap_report", "file_name": "cap.pdf"},
        files={"file": ("cap.pdf", b"%PDF-1.4 cap report")},
    ).json()
    assert (created["status"], created["version"], created["origin"]) == ("created", 1, "amlcare")
    assert created["client_key"] == NRN_A
    assert created["content_type"] == "application/pdf"
    first_file = api.call("GET", f"/documents/{created['id']}/content").content
    assert first_file == b"%PDF-1.4 cap report"

    early_sign = api.call("POST", f"/documents/{created['id']}/sign")
    assert (early_sign.status_code, error_of(early_sign)["code"]) == (409, "invalid_transition")

    submitted = api.call("POST", f"/documents/{created['id']}/submit").json()
    assert (submitted["status"], submitted["version"]) == ("submitted", 2)
    assert submitted["updated_at"] > created["updated_at"]
    second_file = api.call("GET", f"/documents/{created['id']}/content").content
    assert second_file.startswith(first_file)
    assert second_file != first_file
    assert submitted["size"] == len(second_file)

    signed = api.call("POST", f"/documents/{created['id']}/sign").json()
    assert (signed["status"], signed["version"]) == ("signed", 3)
    assert signed["updated_at"] > submitted["updated_at"]
    assert api.call("POST", f"/documents/{created['id']}/submit").status_code == 409
    listed = api.call("GET", "/documents?status=signed").json()["items"]
    assert [d["id"] for d in listed] == [created["id"]]


def test_every_version_keeps_its_status_and_its_file(api):
    person = api.create_client(type="person", key=NRN_A, name="An Peeters").json()["id"]
    created = api.call(
        "POST",
        f"/clients/{person}/documents",
        data={"kind": "identification_form", "file_name": "form.pdf"},
        files={"file": ("form.pdf", b"%PDF-1.4 identification form")},
    ).json()
    submitted = api.call("POST", f"/documents/{created['id']}/submit").json()
    signed = api.call("POST", f"/documents/{created['id']}/sign").json()

    listed = api.call("GET", "/documents").json()["items"]
    assert listed == [signed]
    assert [(v["version"], v["status"]) for v in signed["versions"]] == [
        (1, "created"),
        (2, "submitted"),
        (3, "signed"),
    ]
    assert [v["created_at"] for v in signed["versions"]] == [
        created["created_at"],
        submitted["updated_at"],
        signed["updated_at"],
    ]
    files = [
        api.call("GET", f"/documents/{created['id']}/versions/{number}/content")
        for number in (1, 2, 3)
    ]
    assert files[0].content == b"%PDF-1.4 identification form"
    assert b"version 2, submitted" in files[1].content
    assert files[2].content.startswith(files[1].content)
    assert b"version 3, signed" in files[2].content
    assert [len(f.content) for f in files] == [v["size"] for v in signed["versions"]]
    assert all(f.headers["Content-Type"] == "application/pdf" for f in files)
    current = api.call("GET", f"/documents/{created['id']}/content")
    assert current.content == files[2].content

    missing = api.call("GET", f"/documents/{created['id']}/versions/4/content")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")


def test_an_upload_with_a_known_external_ref_is_refused(api):
    person = api.create_client(type="person", key=NRN_A, name="An Peeters").json()["id"]
    form = {
        "kind": "id_card",
        "file_name": "eid.jpg",
        "origin": "adminpulse_import",
        "external_ref": "ap-doc-7",
    }
    first = api.call(
        "POST",
        f"/clients/{person}/documents",
        data=form,
        files={"file": ("eid.jpg", b"\xff\xd8jpeg")},
    )
    again = api.call(
        "POST",
        f"/clients/{person}/documents",
        data=form,
        files={"file": ("eid.jpg", b"\xff\xd8jpeg")},
    )
    assert first.status_code == 201
    assert again.status_code == 409
    assert error_of(again)["existing_id"] == first.json()["id"]
    missing_kind = api.call(
        "POST",
        f"/clients/{person}/documents",
        data={"file_name": "x.pdf"},
        files={"file": ("x.pdf", b"x")},
        valid_request=False,
    )
    assert missing_kind.status_code == 422
    assert (
        api.call(
            "POST", "/clients/cl_nobody/documents", data=form, files={"file": ("eid.jpg", b"x")}
        ).status_code
        == 404
    )


def _tie_world(count: int, tied: int) -> tuple[dict[str, Any], list[str]]:
    """`count` clients, `tied` of them sharing one updated_at, ids deliberately out of order."""
    keys = unique_nrns(count)
    clients = []
    for index, key in enumerate(keys):
        moment = (
            SHARED_MOMENT if index < tied else f"2026-06-01T12:00:{index % 60:02d}.{index:06d}Z"
        )
        clients.append(amlcare_client(f"cl_{(index * 7919) % 100003:06d}", key, moment))
    expected = [c["id"] for c in sorted(clients, key=lambda c: (c["updated_at"], c["id"]))]
    return amlcare_world(clients), expected


def test_incremental_lists_never_skip_records_that_share_an_updated_at(shared, openapi):
    world, expected = _tie_world(count=260, tied=130)
    shared.load(world)
    api = Api(shared, openapi)
    seen: list[str] = []
    path = "/clients?limit=50"
    pages = 0
    while True:
        page = api.call("GET", path).json()
        pages += 1
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        path = f"/clients?limit=50&cursor={page['next_cursor']}"
    assert seen == expected
    assert pages == 6


def test_updated_since_is_inclusive_and_combines_with_the_cursor(shared, openapi):
    world, expected = _tie_world(count=120, tied=70)
    shared.load(world)
    api = Api(shared, openapi)
    since = SHARED_MOMENT.replace(".000000Z", "Z")
    first = api.call("GET", f"/clients?limit=40&updated_since={since}").json()
    second = api.call(
        "GET", f"/clients?limit=40&updated_since={since}&cursor={first['next_cursor']}"
    ).json()
    third = api.call(
        "GET", f"/clients?limit=40&updated_since={since}&cursor={second['next_cursor']}"
    ).json()
    assert third["next_cursor"] is None
    seen = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert seen == expected
    later = api.call("GET", "/clients?limit=500&updated_since=2026-06-01T14:00:00%2B02:00").json()
    assert [c["id"] for c in later["items"]] == expected


def test_a_write_after_a_full_read_is_found_from_the_newest_updated_at_seen(shared, openapi):
    world, expected = _tie_world(count=30, tied=30)
    shared.load(world)
    api = Api(shared, openapi)
    items = api.call("GET", "/clients?limit=500").json()["items"]
    bookmark = max(c["updated_at"] for c in items)
    changed = api.call("PATCH", f"/clients/{expected[0]}", json={"risk_level": "high"}).json()
    assert changed["updated_at"] > bookmark
    since = api.call("GET", f"/clients?updated_since={bookmark}").json()["items"]
    assert expected[0] in [c["id"] for c in since]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("updated_since=2026-06-01T12:00:00", "updated_since"),
        ("updated_since=yesterday", "updated_since"),
        ("type=partnership", "type"),
    ],
)
def test_malformed_list_parameters_are_bad_requests(api, query, field):
    response = api.call("GET", f"/clients?{query}", valid_request=False)
    assert response.status_code == 400
    assert error_of(response)["field"] == field
