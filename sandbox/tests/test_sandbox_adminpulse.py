"""AdminPulse as the sandbox plays it: paging, filters, dates, scopes, uploads, OAuth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from amlsync_sandbox.testing import SandboxProcess
from amlsync_sandbox.world import ADMINPULSE_SCOPES
from sandbox_worlds import adminpulse_world, document, faker, relation
from stdnum.be import nn, vat

TOKEN = "sandbox-adminpulse-token"
RELATION_COUNT = 805
ENVELOPE_KEYS = {"results", "currentPage", "pageCount", "pageSize", "totalRowCount"}
COMPANY_KBO = "0403019261"
PERSON_NRN = faker.ssn()
assert vat.is_valid(COMPANY_KBO)
assert nn.is_valid(PERSON_NRN)


def _day(relation_id: int) -> str:
    # Spread over 28 days with many ties, so ordering by (modifiedDate, id) is really tested.
    return f"2026-01-{1 + relation_id % 28:02d}T09:00:00"


def _paged_world() -> dict[str, Any]:
    relations = [relation(i, modifiedDate=_day(i)) for i in range(1, RELATION_COUNT + 1)]
    relations[0]["vatNumber"] = "BE 0403.019.261"
    relations[1].update(
        type="person",
        nationalRegisterNumber=nn.format(PERSON_NRN),
        firstName="An",
        lastName="Peeters",
    )
    return adminpulse_world(relations)


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox holding 805 relations, shared by the tests that only read."""
    with SandboxProcess(tmp_path_factory.mktemp("adminpulse") / "sandbox.db") as sandbox:
        sandbox.load(_paged_world())
        yield sandbox


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with SandboxProcess(tmp_path_factory.mktemp("adminpulse-writes") / "sandbox.db") as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared: SandboxProcess) -> SandboxProcess:
    """Overrides the plugin's fixture: one server for the module, each test loads its world."""
    shared.reset()
    return shared


def call(
    sandbox: SandboxProcess,
    method: str,
    path: str,
    token: str | None = TOKEN,
    **kwargs: Any,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method, f"{sandbox.adminpulse_url}{path}", headers=headers, timeout=30, **kwargs
    )


def get(sandbox: SandboxProcess, path: str, token: str | None = TOKEN, **params: Any):
    return call(sandbox, "GET", path, token, params=params)


def expected_order() -> list[int]:
    return [i for _, i in sorted((_day(i), i) for i in range(1, RELATION_COUNT + 1))]


def test_relations_come_in_pages_of_400_in_the_documented_envelope(paged):
    seen: list[int] = []
    for page in range(3):
        response = get(paged, "/relations", page=page, pageSize=400)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == ENVELOPE_KEYS
        assert body["currentPage"] == page
        assert body["pageCount"] == 3
        assert body["pageSize"] == 400
        assert body["totalRowCount"] == RELATION_COUNT
        assert len(body["results"]) == (400 if page < 2 else 5)
        seen += [item["id"] for item in body["results"]]
    assert seen == expected_order()


def test_a_page_past_the_end_is_empty(paged):
    body = get(paged, "/relations", page=3, pageSize=400).json()
    assert body == {
        "results": [],
        "currentPage": 3,
        "pageCount": 3,
        "pageSize": 400,
        "totalRowCount": RELATION_COUNT,
    }


def test_page_size_above_400_is_a_bad_request(paged):
    response = get(paged, "/relations", pageSize=401)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert "pageSize" in response.json()["message"]


def test_default_page_size_is_100(paged):
    body = get(paged, "/relations").json()
    assert body["pageSize"] == 100
    assert body["pageCount"] == 9
    assert len(body["results"]) == 100


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "-1"}, "page"),
        ({"page": "first"}, "page"),
        ({"page": str(10**30)}, "page"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "1.5"}, "pageSize"),
    ],
)
def test_malformed_paging_is_a_bad_request(paged, params, named):
    response = get(paged, "/relations", **params)
    assert response.status_code == 400
    assert named in response.json()["message"]


def test_every_relation_carries_every_documented_field(paged):
    first = get(paged, "/relations/1").json()
    assert set(first) >= {
        "id",
        "uniqueIdentifier",
        "code",
        "name",
        "displayName",
        "type",
        "status",
        "legalForm",
        "companyId",
        "relationGroupName",
        "vatNumber",
        "nationalRegisterNumber",
        "responsibles",
        "tos",
        "modifiedDate",
        "aml",
        "idCardExpiryDate",
    }


def test_one_relation_by_id_or_404(paged):
    assert get(paged, "/relations/42").json()["id"] == 42
    missing = get(paged, "/relations/999999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_last_sync_time_keeps_relations_modified_on_or_after_that_day(paged):
    body = get(paged, "/relations", lastSyncTime="27012026", pageSize=400).json()
    expected = [i for i in expected_order() if _day(i) >= "2026-01-27"]
    assert [item["id"] for item in body["results"]] == expected
    assert body["totalRowCount"] == len(expected)


@pytest.mark.parametrize("value", ["2026-01-27", "32012026", "1012026", "01132026", "x"])
def test_malformed_ddmmyyyy_is_a_bad_request(paged, value):
    response = get(paged, "/relations", lastSyncTime=value)
    assert response.status_code == 400
    assert "ddMMyyyy" in response.json()["message"]


def test_query_parameter_names_ignore_case_as_in_aspnet(paged):
    shouting = get(paged, "/relations", LASTSYNCTIME="27012026", PAGESIZE=400).json()
    assert shouting["pageSize"] == 400
    assert (
        shouting["totalRowCount"]
        == get(paged, "/relations", lastSyncTime="27012026").json()["totalRowCount"]
    )


@pytest.mark.parametrize("written", ["0403019261", "403019261", "BE0403019261", "BE 0403.019.261"])
def test_vat_number_filter_matches_however_the_number_is_written(paged, written):
    body = get(paged, "/relations", vatNumber=written).json()
    assert [item["id"] for item in body["results"]] == [1]


def test_national_register_number_filter_matches_digits(paged):
    body = get(paged, "/relations", nationalRegisterNumber=PERSON_NRN).json()
    assert [item["id"] for item in body["results"]] == [2]
    assert get(paged, "/relations", nationalRegisterNumber="85073003328").json()["results"] == []


def test_unique_identifier_filter_takes_up_to_100(paged):
    wanted = [relation(i)["uniqueIdentifier"] for i in (5, 6, 700)]
    body = get(paged, "/relations", uniqueIdentifier=",".join(wanted)).json()
    assert sorted(item["id"] for item in body["results"]) == [5, 6, 700]
    too_many = ",".join(relation(i)["uniqueIdentifier"] for i in range(1, 102))
    assert get(paged, "/relations", uniqueIdentifier=too_many).status_code == 400


AUTH_TOKENS = [
    {"token": TOKEN, "scopes": list(ADMINPULSE_SCOPES), "expiresAt": None},
    {
        "token": "expired-token",
        "scopes": list(ADMINPULSE_SCOPES),
        "expiresAt": "2020-01-01T00:00:00",
    },
    {"token": "reader-token", "scopes": ["relations:read"], "expiresAt": "2099-01-01T00:00:00"},
]


@pytest.fixture
def auth_sandbox(sandbox: SandboxProcess) -> SandboxProcess:
    world = adminpulse_world([relation(1)])
    world["adminpulse"]["tokens"] = AUTH_TOKENS
    sandbox.load(world)
    return sandbox


@pytest.mark.parametrize(
    ("token", "code", "words"),
    [
        (None, "unauthorized", "no bearer token"),
        ("no-such-token", "unauthorized", "unknown token"),
        ("expired-token", "token_expired", "expired"),
    ],
)
def test_requests_without_a_valid_token_get_401_naming_the_problem(
    auth_sandbox, token, code, words
):
    response = get(auth_sandbox, "/relations", token=token)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert words in response.json()["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_without_the_scope_gets_401_naming_the_scope(auth_sandbox):
    assert get(auth_sandbox, "/relations", token="reader-token").status_code == 200
    for method, path, scope in [
        ("GET", "/users", "users:read"),
        ("GET", "/documents", "documents:read"),
        ("GET", "/tasks", "tasks:read"),
        ("PUT", "/relations/1", "relations:write"),
    ]:
        response = call(auth_sandbox, method, path, token="reader-token", json={})
        assert response.status_code == 401, path
        assert response.json() == {
            "message": f"token lacks the scope {scope}",
            "code": "missing_scope",
        }


def test_relation_update_writes_aml_and_ignores_empty_fields(sandbox):
    person = relation(7, type="person", nationalRegisterNumber=PERSON_NRN)
    sandbox.load(adminpulse_world([person]))
    change = {
        "aml": {"totalRisk": "high", "clientAcceptanceDate": "2026-02-01", "nextReviewDate": ""},
        "idCardExpiryDate": "2031-05-02",
        "name": "",
        "email": None,
    }
    response = call(sandbox, "PUT", "/relations/7", json=change)
    assert response.status_code == 200
    updated = response.json()
    assert updated["aml"] == {
        "totalRisk": "high",
        "clientAcceptanceDate": "2026-02-01",
        "nextReviewDate": None,
    }
    assert updated["idCardExpiryDate"] == "2031-05-02"
    assert updated["name"] == person["name"]
    assert updated["modifiedDate"] > person["modifiedDate"]
    assert get(sandbox, "/relations/7").json() == updated


def test_relation_update_that_changes_nothing_keeps_modified_date(sandbox):
    aml = {"totalRisk": "low", "clientAcceptanceDate": "2026-01-01", "nextReviewDate": None}
    person = relation(7, type="person", aml=aml)
    sandbox.load(adminpulse_world([person]))
    response = call(sandbox, "PUT", "/relations/7", json={"aml": {"totalRisk": "low"}})
    assert response.status_code == 200
    assert response.json()["modifiedDate"] == person["modifiedDate"]


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Someone Else"},
        {"aml": {"totalRisk": "standard"}},
        {"aml": {"clientAcceptanceDate": "01/02/2026"}},
        {"idCardExpiryDate": "2031-02-30"},
        ["not", "an", "object"],
    ],
)
def test_relation_update_refuses_what_it_cannot_write_and_changes_nothing(sandbox, change):
    person = relation(7, type="person")
    sandbox.load(adminpulse_world([person]))
    response = call(sandbox, "PUT", "/relations/7", json=change)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert sandbox.dump("adminpulse")["relations"] == [person]


def test_id_card_expiry_date_belongs_to_persons_only(sandbox):
    sandbox.load(adminpulse_world([relation(3, type="company")]))
    response = call(sandbox, "PUT", "/relations/3", json={"idCardExpiryDate": "2031-05-02"})
    assert response.status_code == 400
    assert call(sandbox, "PUT", "/relations/99", json={}).status_code == 404


@pytest.fixture
def documents_sandbox(sandbox: SandboxProcess) -> SandboxProcess:
    relations = [relation(1), relation(2)]
    uid1, uid2 = relations[0]["uniqueIdentifier"], relations[1]["uniqueIdentifier"]
    documents = [
        document(1, uid1, b"card front", documentType=1, publicOnPortal=True),
        document(2, uid1, b"card photo", documentType=2, publicOnPortal=False),
        document(3, uid2, b"%PDF-1.4 other", documentType=8, fileName="notes.pdf"),
    ]
    sandbox.load(adminpulse_world(relations, documents=documents))
    return sandbox


def test_documents_filter_by_relation_type_and_public_flag(documents_sandbox):
    uid1 = relation(1)["uniqueIdentifier"]

    def ids(**params: Any) -> list[int]:
        return [
            item["id"] for item in get(documents_sandbox, "/documents", **params).json()["results"]
        ]

    assert ids() == [1, 2, 3]
    assert ids(relationIdentifier=uid1) == [1, 2]
    assert ids(documentType=2) == [2]
    assert ids(publicOnPortal="false") == [2]
    assert ids(publicOnPortal="TRUE", relationIdentifier=uid1) == [1]
    assert get(documents_sandbox, "/documents", publicOnPortal="yes").status_code == 400
    assert get(documents_sandbox, "/documents", documentType="eID").status_code == 400
    listed = get(documents_sandbox, "/documents").json()["results"][0]
    assert "content" not in listed


def test_document_content_is_the_file_with_its_type(documents_sandbox):
    response = get(documents_sandbox, "/documents/3/content")
    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 other"
    assert response.headers["Content-Type"] == "application/pdf"
    assert get(documents_sandbox, "/documents/99/content").status_code == 404


def test_upload_creates_a_document_public_as_its_type_says(documents_sandbox):
    uid2 = relation(2)["uniqueIdentifier"]
    form = {
        "relationIdentifier": uid2,
        "documentType": "1",
        "fileName": "amlcare-doc_1-v2-eid.jpg",
        "documentDate": "2026-11-30",
    }
    response = call(
        documents_sandbox,
        "POST",
        "/documents/add",
        data=form,
        files={"file": ("card.jpg", b"\xff\xd8 a card")},
    )
    assert response.status_code == 200
    created = response.json()
    assert created["id"] == 4
    assert created["publicOnPortal"] is True
    assert created["size"] == len(b"\xff\xd8 a card")
    assert created["fileName"] == "amlcare-doc_1-v2-eid.jpg"
    assert get(documents_sandbox, "/documents/4/content").content == b"\xff\xd8 a card"
    found = get(documents_sandbox, "/documents", fileName="amlcare-doc_1-v2-eid.jpg").json()
    assert [item["id"] for item in found["results"]] == [4]


@pytest.mark.parametrize(
    ("form", "words"),
    [
        (
            {"documentType": "1", "fileName": "a.pdf", "documentDate": "2026-11-30"},
            "relationIdentifier",
        ),
        (
            {
                "relationIdentifier": "nobody",
                "documentType": "1",
                "fileName": "a.pdf",
                "documentDate": "2026-11-30",
            },
            "matches no relation",
        ),
        (
            {
                "relationIdentifier": None,
                "documentType": "77",
                "fileName": "a.pdf",
                "documentDate": "2026-11-30",
            },
            "no document type",
        ),
        (
            {
                "relationIdentifier": None,
                "documentType": "1",
                "fileName": "a.pdf",
                "documentDate": "30/11/2026",
            },
            "documentDate",
        ),
    ],
)
def test_upload_refuses_a_bad_form_and_stores_nothing(documents_sandbox, form, words):
    if "relationIdentifier" in form and form["relationIdentifier"] is None:
        form["relationIdentifier"] = relation(2)["uniqueIdentifier"]
    response = call(
        documents_sandbox, "POST", "/documents/add", data=form, files={"file": ("a.pdf", b"%PDF")}
    )
    assert response.status_code == 400
    assert words in response.json()["message"]
    assert len(documents_sandbox.dump("adminpulse")["documents"]) == 3


def test_lists_that_are_bare_arrays(sandbox):
    companies = [{"id": 1, "name": "Kantoor Peeters BV", "vatNumber": "BE0403019261"}]
    sandbox.load(adminpulse_world([], companies=companies))
    assert get(sandbox, "/companies").json() == companies
    types = get(sandbox, "/documenttypes").json()
    assert [(t["id"], t["name"], t["publicOnPortalDefault"]) for t in types[:2]] == [
        (1, "eID", True),
        (2, "eID Foto", True),
    ]


def test_tasks_filter_by_template_and_relation(sandbox):
    uid = relation(1)["uniqueIdentifier"]
    tasks = [
        {
            "id": 1,
            "name": "AML 2026",
            "templateName": "AML",
            "relationUniqueIdentifier": uid,
            "dueDate": "2026-12-31",
        },
        {
            "id": 2,
            "name": "VAT Q4",
            "templateName": "BTW",
            "relationUniqueIdentifier": uid,
            "dueDate": "2027-01-20",
        },
        {
            "id": 3,
            "name": "AML 2026",
            "templateName": "AML",
            "relationUniqueIdentifier": "other",
            "dueDate": None,
        },
    ]
    sandbox.load(adminpulse_world([relation(1)], tasks=tasks))
    ids = [t["id"] for t in get(sandbox, "/tasks", templateName="AML").json()["results"]]
    assert ids == [1, 3]
    both = get(sandbox, "/tasks", templateName="AML", relationUniqueIdentifier=uid).json()
    assert [t["id"] for t in both["results"]] == [1]


def test_users_are_paged_and_emails_filter_on_last_sync_time(sandbox):
    users = [
        {"id": i, "firstName": "U", "lastName": str(i), "email": f"u{i}@kantoor.be", "active": True}
        for i in range(1, 6)
    ]
    emails = [
        {
            "id": 1,
            "relationIdentifier": None,
            "subject": "old",
            "from": "a@b.be",
            "to": "c@d.be",
            "sentDate": "2025-12-01T10:00:00",
            "modifiedDate": "2025-12-01T10:00:00",
        },
        {
            "id": 2,
            "relationIdentifier": None,
            "subject": "new",
            "from": "a@b.be",
            "to": "c@d.be",
            "sentDate": "2026-02-01T10:00:00",
            "modifiedDate": "2026-02-01T10:00:00",
        },
    ]
    sandbox.load(adminpulse_world([], users=users, emails=emails))
    page = get(sandbox, "/users", page=1, pageSize=2).json()
    assert [u["id"] for u in page["results"]] == [3, 4]
    assert page["pageCount"] == 3
    recent = get(sandbox, "/emails", LastSyncTime="01012026").json()
    assert [e["id"] for e in recent["results"]] == [2]


def test_refresh_token_grant_issues_a_working_access_token(sandbox):
    world = adminpulse_world([relation(1)])
    world["adminpulse"]["oauthClients"] = [
        {
            "clientId": "amlsync",
            "clientSecret": "s3cret",
            "refreshToken": "refresh-1",
            "scopes": ["relations:read"],
        }
    ]
    sandbox.load(world)
    form = {
        "grant_type": "refresh_token",
        "client_id": "amlsync",
        "client_secret": "s3cret",
        "refresh_token": "refresh-1",
    }
    response = requests.post(f"{sandbox.adminpulse_url}/oauth/token", data=form, timeout=30)
    assert response.status_code == 200
    grant = response.json()
    assert grant["token_type"] == "Bearer"
    assert grant["expires_in"] == 3600
    assert grant["refresh_token"] == "refresh-1"
    assert get(sandbox, "/relations", token=grant["access_token"]).status_code == 200
    assert get(sandbox, "/users", token=grant["access_token"]).json()["code"] == "missing_scope"

    wrong_secret = requests.post(
        f"{sandbox.adminpulse_url}/oauth/token", data={**form, "client_secret": "x"}, timeout=30
    )
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    wrong_refresh = requests.post(
        f"{sandbox.adminpulse_url}/oauth/token", data={**form, "refresh_token": "x"}, timeout=30
    )
    assert (wrong_refresh.status_code, wrong_refresh.json()["error"]) == (400, "invalid_grant")


def test_unknown_routes_answer_404_in_the_error_shape(paged):
    response = get(paged, "/no/such/route")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_log_never_shows_a_queried_national_register_number(paged):
    get(paged, "/relations", nationalRegisterNumber=PERSON_NRN)
    log = Path(paged.db_path).with_name("sandbox.log").read_text(encoding="utf-8")
    assert "GET /relations 200" in log
    assert PERSON_NRN not in log
