"""Secrets and national register numbers never show in full in a log, a report or an error.

What the guarantee covers, exactly:
- Logs (Meltano's output with both connectors' stdout and stderr, and the run logs Meltano
  keeps), run reports (JSON, Markdown, HTML) and error messages never hold a secret setting (an
  API key, an OAuth client secret or refresh token, an access token AdminPulse issues) nor a
  national register number in full, typed or as digits. Reports show such a number masked
  (`85.07.30-***.**`); KBO numbers are public and shown.
- The rejects file is not covered: it is a replay store and holds whole records (identifiers,
  identity card images) so that the next run can write them. It is created readable by its
  owner only; keep the report folder as private as AdminPulse itself.

The office runs with secret values of its own, the tap on OAuth, both jobs twice (the second
import replays rejects, so rejected persons are logged twice), then once more with a wrong key.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from amlsync_sandbox.generator import generate_world
from amlsync_sandbox.testing import SandboxProcess
from guarantee_runs import IMPORT_JOB, OUTBOUND_JOB, Office, new_office

pytestmark = pytest.mark.e2e

SEED = 1
CLIENTS = 40
ADMINPULSE_KEY = "ap-key-Zq81vX2mTt7uQ0aW"  # the target's
OAUTH_CLIENT_ID = "amlsync-office-42"
OAUTH_SECRET = "oauth-secret-Hc73LpQe5sKd"  # the tap's
REFRESH_TOKEN = "refresh-token-Wm49RzYb1nFg"  # the tap's
AMLCARE_KEY = "am-key-Jx62NcVt8pLr3sEy"
WRONG_KEY = "am-key-wrong-Bv05GhTu"
STRANGER = "79031410192"  # a valid national register number no AdminPulse relation holds
EVERY_SCOPE = [
    "relations:read",
    "relations:write",
    "users:read",
    "documents:read",
    "documents:write",
    "tasks:read",
]


@dataclass
class Outputs:
    """Everything the runs wrote that a person may read, and the rejects files."""

    texts: dict[str, str]  # where → text
    rejects: list[Path]
    secrets: list[str]
    national_numbers: list[str]


def office_world() -> dict:
    """A generated office whose only credentials are this test's secrets."""
    world = generate_world(CLIENTS, seed=SEED)
    world["adminpulse"]["tokens"] = [
        {"token": ADMINPULSE_KEY, "scopes": EVERY_SCOPE, "expiresAt": None}
    ]
    world["adminpulse"]["oauthClients"] = [
        {
            "clientId": OAUTH_CLIENT_ID,
            "clientSecret": OAUTH_SECRET,
            "refreshToken": REFRESH_TOKEN,
            "scopes": EVERY_SCOPE,
        }
    ]
    world["amlcare"]["apiKeys"] = [{"key": AMLCARE_KEY}]
    # A person AMLCare knows and AdminPulse does not: the outbound sync rejects (and logs) them.
    stranger = dict(next(c for c in world["amlcare"]["clients"] if c["type"] == "person"))
    stranger.update(id="cl_stranger", key=STRANGER, external_ref=None, risk_level="high")
    world["amlcare"]["clients"].append(stranger)
    return world


def national_numbers(world: dict) -> list[str]:
    """Every national register (or BIS) number of the office, typed and as bare digits."""
    found: set[str] = set()
    for relation in world["adminpulse"]["relations"]:
        typed = relation["nationalRegisterNumber"]
        digits = "".join(char for char in typed or "" if char.isdigit())
        if len(digits) >= 10:  # a number complete enough to single a person out
            found.update({typed, digits, digits.zfill(11)})
    found.update(c["key"] for c in world["amlcare"]["clients"] if c["type"] == "person")
    return sorted(found)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Outputs:
    folder = tmp_path_factory.mktemp("secrets")
    world = office_world()
    with SandboxProcess(folder / "world.db") as sandbox:
        sandbox.load(world)
        office: Office = new_office(
            sandbox,
            folder / "project",
            TAP_ADMINPULSE_API_KEY="",
            TAP_ADMINPULSE_OAUTH_CLIENT_ID=OAUTH_CLIENT_ID,
            TAP_ADMINPULSE_OAUTH_CLIENT_SECRET=OAUTH_SECRET,
            TAP_ADMINPULSE_OAUTH_REFRESH_TOKEN=REFRESH_TOKEN,
            TARGET_ADMINPULSE_API_KEY=ADMINPULSE_KEY,
            TAP_AMLCARE_API_KEY=AMLCARE_KEY,
            TARGET_AMLCARE_API_KEY=AMLCARE_KEY,
        )
        for job in (IMPORT_JOB, OUTBOUND_JOB, IMPORT_JOB, OUTBOUND_JOB):
            office.run("run", job)
        office.env["TARGET_AMLCARE_API_KEY"] = WRONG_KEY
        failed = office.run("run", IMPORT_JOB, check=False)
        assert failed.returncode != 0
        issued = [
            t["token"] for t in sandbox.dump("adminpulse")["tokens"] if t["token"] != ADMINPULSE_KEY
        ]

    texts = {}
    for number, run in enumerate(office.runs):
        texts[f"meltano run {number} ({' '.join(run.args[2:])})"] = run.stdout + run.stderr
    written = [
        *(folder / "project" / "reports").rglob("*"),
        *(folder / "project" / "meltano-system" / "logs").rglob("*"),
    ]
    for path in written:
        if path.is_file() and path.name != "rejects.jsonl":
            texts[str(path.relative_to(folder))] = path.read_text(errors="replace")
    return Outputs(
        texts=texts,
        rejects=sorted((folder / "project" / "reports").rglob("rejects.jsonl")),
        secrets=[ADMINPULSE_KEY, OAUTH_SECRET, REFRESH_TOKEN, AMLCARE_KEY, WRONG_KEY, *issued],
        national_numbers=national_numbers(world),
    )


def test_the_runs_wrote_reports_and_logs_worth_searching(outputs):
    reports = [where for where in outputs.texts if "/reports/" in where]
    assert any(where.endswith(".html") for where in reports)
    assert any(where.endswith(".md") for where in reports)
    assert len([where for where in outputs.texts if where.startswith("meltano run")]) == 5
    assert len(outputs.secrets) > 5, "AdminPulse issued the tap access tokens"
    assert len(outputs.national_numbers) > 20


def test_no_secret_shows_in_a_log_a_report_or_an_error(outputs):
    for where, text in outputs.texts.items():
        for number, secret in enumerate(outputs.secrets):
            assert secret not in text, f"secret #{number} ({secret[:6]}…) shows in {where}"


def test_no_national_register_number_shows_in_full_in_a_log_a_report_or_an_error(outputs):
    for where, text in outputs.texts.items():
        for number in outputs.national_numbers:
            assert number not in text, f"{number[:6]}… shows in full in {where}"


def test_reports_name_persons_by_their_masked_number(outputs):
    masked = re.compile(r"\d\d\.\d\d\.\d\d-\*\*\*\.\*\*")
    reports = [text for where, text in outputs.texts.items() if where.endswith(".json")]
    assert any(masked.search(text) for text in reports)


def test_the_rejects_files_hold_whole_records_and_only_their_owner_may_read_them(outputs):
    assert {path.parent.name for path in outputs.rejects} == {
        "target-amlcare",
        "target-adminpulse",
    }
    held = "".join(path.read_text() for path in outputs.rejects)
    assert any(number in held for number in outputs.national_numbers)
    for path in outputs.rejects:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        assert all(json.loads(line)["record"] for line in path.read_text().splitlines())
