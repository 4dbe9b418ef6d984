"""The preflight, end to end: `meltano run preflight` reports what the office must fix, writes
nothing to AMLCare, downloads no identity card and keeps no bookmark."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from amlsync_sandbox.testing import SandboxProcess
from stdnum.be import bis, nn, vat

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

SEED = 0  # even: the eID Foto document type lacks the public-on-portal default
CLIENTS = 120
IDENTITY_TYPES = ("eID", "eID Foto")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).parent / "meltano")


def valid_key(relation: dict) -> bool:
    kbo = relation["vatNumber"] and vat.is_valid(vat.compact(relation["vatNumber"]))
    if relation["type"] == "company":
        return bool(kbo)
    digits = "".join(c for c in relation["nationalRegisterNumber"] or "" if c.isdigit())
    digits = "0" + digits if len(digits) == 10 else digits
    nrn = bool(digits) and (nn.is_valid(digits) or bis.is_valid(digits))
    return nrn and (relation["type"] == "person" or bool(kbo))


@dataclasses.dataclass
class Preflight:
    world: dict  # the office before the preflight
    report: dict
    amlcare_after: dict
    amlcare_requests: list[dict]
    adminpulse_requests: list[dict]
    states: str  # `meltano state list` after the preflight


def run_meltano(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [MELTANO, "--environment=sandbox", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"meltano {' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    return completed.stdout


@pytest.fixture(scope="module")
def preflight(tmp_path_factory) -> Iterator[Preflight]:
    """A seeded office after one preflight; the tests below read what it did and said.

    One shared run, because Meltano runs are the slow part of these tests.
    """
    folder = tmp_path_factory.mktemp("preflight")
    with SandboxProcess(folder / "world.db", rate_scale=100) as sandbox:
        sandbox.seed(CLIENTS, seed=SEED)
        world = sandbox.dump()
        sandbox.reset_requests()
        env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "TAP_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
            "TARGET_AMLCARE_BASE_URL": sandbox.amlcare_url,
            "TARGET_AMLCARE_REPORT_DIR": str(folder / "reports"),
            "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": "30000",
            "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "30000",
        }
        run_meltano(env, "run", "preflight")
        reports = sorted((folder / "reports").glob("preflight-*.json"))
        assert len(reports) == 1
        assert not list((folder / "reports").glob("rejects.jsonl"))
        yield Preflight(
            world=world,
            report=json.loads(reports[0].read_text()),
            amlcare_after=sandbox.dump("amlcare"),
            amlcare_requests=sandbox.requests("amlcare"),
            adminpulse_requests=sandbox.requests("adminpulse"),
            states=run_meltano(env, "state", "list"),
        )


def problems(report: dict, kind: str) -> list[dict]:
    return [p for p in report["problems"] if p["kind"] == kind]


def test_preflight_names_the_identity_document_types_without_the_public_default(preflight):
    world, report = preflight.world, preflight.report
    seeded = set(world["meta"]["documentTypesWithoutPublicDefault"])

    assert seeded
    assert {p["key"] for p in problems(report, "document_type_not_public_by_default")} == seeded


def test_preflight_counts_each_clients_identity_documents_that_are_not_public(preflight):
    world, report = preflight.world, preflight.report
    types = {t["id"] for t in world["adminpulse"]["documentTypes"] if t["name"] in IDENTITY_TYPES}
    not_public = Counter(
        d["relationIdentifier"]
        for d in world["adminpulse"]["documents"]
        if d["documentType"] in types and not d["publicOnPortal"]
    )

    reported = Counter(p["relation"] for p in problems(report, "identity_document_not_public"))

    assert sum(not_public.values()) == world["meta"]["defects"]["identity_document_not_public"]
    assert reported == not_public


def test_preflight_lists_every_customer_with_a_missing_or_invalid_identifier(preflight):
    world, report = preflight.world, preflight.report
    defective = {
        r["uniqueIdentifier"]
        for r in world["adminpulse"]["relations"]
        if r["status"] in ("customer", "prospect") and not valid_key(r)
    }
    defects = world["meta"]["defects"]
    seeded = sum(
        defects[name]
        for name in (
            "company_without_kbo",
            "company_invalid_kbo",
            "person_without_nrn",
            "person_invalid_nrn",
        )
    )

    reported = {p["relation"] for p in problems(report, "invalid_identifier")}

    assert len(defective) == seeded > 0
    assert defective <= reported


def test_preflight_names_each_responsible_without_an_amlcare_user(preflight):
    world, report = preflight.world, preflight.report
    aml_emails = {u["email"].lower() for u in world["amlcare"]["users"]}
    aml_keys = {c["key"] for c in world["amlcare"]["clients"]}
    users = {u["id"]: u["email"] for u in world["adminpulse"]["users"]}
    missing = {
        users[r["responsibles"][0]["userId"]]
        for r in world["adminpulse"]["relations"]
        if r["status"] == "customer"
        and r["endDate"] is None
        and r["responsibles"]
        and valid_key(r)
        and not any(users[x["userId"]].lower() in aml_emails for x in r["responsibles"])
        and (vat.compact(r["vatNumber"] or "") not in aml_keys)
    }

    named = {p["key"] for p in problems(report, "responsible_without_amlcare_user")}

    assert missing
    assert missing <= named


def test_preflight_says_what_the_import_would_create(preflight):
    report = preflight.report

    assert report["dry_run"] is True
    assert report["counts"]["created"] > 0
    assert report["counts"]["relations_ubo"] > 0


def test_preflight_writes_nothing_downloads_no_card_and_keeps_no_bookmark(preflight):
    writes = [
        row
        for row in preflight.amlcare_requests
        if row["method"] != "GET" and not row["endpoint"].endswith("/clients/lookup")
    ]
    content = [r for r in preflight.adminpulse_requests if r["endpoint"].endswith("/content")]

    assert writes == []
    assert preflight.amlcare_after == preflight.world["amlcare"]
    assert content == []
    assert "preflight" not in preflight.states
