"""The world document and the `amlsync-sandbox` command: load, dump, reset, seed, start, stop."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from amlsync_sandbox.testing import SandboxProcess, free_port
from amlsync_sandbox.world import base_world
from sandbox_worlds import (
    adminpulse_world,
    amlcare_client,
    amlcare_user,
    document,
    relation,
    unique_kbos,
    unique_nrns,
)

# The brief's bound for seeding 10,000 clients, generator included.
SEED_10K_SECONDS = 60
LATER_MOMENT = "2026-02-04T08:00:00.000000Z"


def sandbox_cli(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amlsync_sandbox", "--db", str(db), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rich_world() -> dict[str, Any]:
    """A world touching every resource, with non-ASCII text, files and free-form meta."""
    person, company = unique_nrns(1)[0], unique_kbos(1)[0]
    relations = [
        relation(1, name="Brasserie Ça Va", vatNumber=f"BE {company}"),
        relation(
            2, type="person", nationalRegisterNumber=person, firstName="Zoë", lastName="Dubois"
        ),
    ]
    world = adminpulse_world(
        relations,
        users=[
            {
                "id": 3,
                "firstName": "Els",
                "lastName": "Maes",
                "email": "els@kantoor.be",
                "active": True,
            }
        ],
        companies=[{"id": 1, "name": "Kantoor Maes", "vatNumber": None}],
        tasks=[
            {
                "id": 1,
                "name": "AML",
                "templateName": "AML-onboarding",
                "relationUniqueIdentifier": relations[0]["uniqueIdentifier"],
                "dueDate": None,
            }
        ],
        emails=[
            {
                "id": 1,
                "relationIdentifier": None,
                "subject": "Vraag",
                "from": "a@b.be",
                "to": "c@d.be",
                "sentDate": "2026-01-02T10:00:00",
                "modifiedDate": "2026-01-02T10:00:00",
            }
        ],
        documents=[document(1, relations[1]["uniqueIdentifier"], bytes(range(256)))],
        oauthClients=[
            {
                "clientId": "c",
                "clientSecret": "s",
                "refreshToken": "r",
                "scopes": ["relations:read"],
            }
        ],
    )
    moment = "2026-02-03T04:05:06.000007Z"
    person_client = amlcare_client("cl_p", person, moment, first_name="Zoë")
    company_client = amlcare_client("cl_c", company, moment, name="Brasserie Ça Va")
    world["amlcare"].update(
        users=[amlcare_user("us_1", "els@kantoor.be")],
        clients=[person_client, company_client],
        relations=[
            {
                "id": "re_1",
                "company_id": "cl_c",
                "person_id": "cl_p",
                "role": "ubo",
                "created_at": moment,
                "updated_at": moment,
            }
        ],
        documents=[
            {
                "id": "doc_1",
                "client_id": "cl_p",
                "client_type": "person",
                "client_key": person,
                "kind": "id_card",
                "status": "created",
                "version": 1,
                "file_name": "kaart.jpg",
                "content_type": "image/jpeg",
                "size": 4,
                "origin": "adminpulse_import",
                "external_ref": "1",
                "created_at": moment,
                "updated_at": moment,
                "versions": [
                    {
                        "version": 1,
                        "status": "created",
                        "file_name": "kaart.jpg",
                        "size": 4,
                        "created_at": moment,
                        "content": "/9j/2Q==",
                    }
                ],
            },
            {
                "id": "doc_2",
                "client_id": "cl_c",
                "client_type": "company",
                "client_key": company,
                "kind": "identification_form",
                "status": "submitted",
                "version": 2,
                "file_name": "formulier-ça.pdf",
                "content_type": "application/pdf",
                "size": 6,
                "origin": "amlcare",
                "external_ref": None,
                "created_at": moment,
                "updated_at": LATER_MOMENT,
                "versions": [
                    {
                        "version": 1,
                        "status": "created",
                        "file_name": "formulier-ça.pdf",
                        "size": 5,
                        "created_at": moment,
                        "content": "JVBERi0=",
                    },
                    {
                        "version": 2,
                        "status": "submitted",
                        "file_name": "formulier-ça.pdf",
                        "size": 6,
                        "created_at": LATER_MOMENT,
                        "content": "JVBERi0x",
                    },
                ],
            },
        ],
    )
    world["meta"] = {"seed": 7, "defects": {"person_without_nrn": 0}, "note": "één"}
    return world


def test_a_loaded_world_dumps_back_unchanged(tmp_path):
    world = rich_world()
    source = tmp_path / "world.json"
    source.write_text(json.dumps(world, ensure_ascii=False), encoding="utf-8")
    db = tmp_path / "sandbox.db"
    assert sandbox_cli(db, "load", str(source)).returncode == 0
    dumped = sandbox_cli(db, "dump")
    assert json.loads(dumped.stdout) == world
    assert sandbox_cli(db, "dump", "--output", str(tmp_path / "out.json")).returncode == 0
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == world
    one_half = json.loads(sandbox_cli(db, "dump", "--service", "amlcare").stdout)
    assert one_half == {"amlcare": world["amlcare"]}


def test_a_running_sandbox_serves_and_dumps_the_loaded_world(sandbox):
    world = rich_world()
    sandbox.load(world)
    assert sandbox.dump() == world
    assert sandbox.dump("adminpulse") == world["adminpulse"]
    assert sandbox.dump("amlcare") == world["amlcare"]


def test_a_generated_world_round_trips(tmp_path):
    from amlsync_sandbox.generator import generate_world

    world = generate_world(clients=150, seed=5)
    db = tmp_path / "sandbox.db"
    assert sandbox_cli(db, "load", "-", stdin=json.dumps(world)).returncode == 0
    assert json.loads(sandbox_cli(db, "dump").stdout) == world


def _broken(change: str) -> dict[str, Any]:
    world = rich_world()
    if change == "format":
        world["format"] = "amlsync-world/0"
    elif change == "missing list":
        del world["adminpulse"]["emails"]
    elif change == "bad base64":
        world["adminpulse"]["documents"][0]["content"] = "not base64!"
    elif change == "wrong size":
        world["adminpulse"]["documents"][0]["size"] = 1
    elif change == "duplicate id":
        world["adminpulse"]["relations"][1]["id"] = 1
    elif change == "dangling reference":
        world["amlcare"]["relations"][0]["person_id"] = "cl_nobody"
    elif change == "token expiry":
        world["adminpulse"]["tokens"][0]["expiresAt"] = "2030-01-01"
    elif change == "timestamp format":
        world["amlcare"]["clients"][0]["updated_at"] = "2026-02-03T04:05:06Z"
    elif change == "version without file":
        del world["amlcare"]["documents"][1]["versions"][0]["content"]
    elif change == "versions out of order":
        world["amlcare"]["documents"][1]["versions"].reverse()
    elif change == "current version missing":
        world["amlcare"]["documents"][1]["versions"].pop()
    elif change == "file beside versions":
        world["amlcare"]["documents"][1]["content"] = "JVBERi0x"
    return world


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("format", '"format" must be'),
        ("missing list", '"adminpulse" must be an object with exactly the keys'),
        ("bad base64", "base64"),
        ("wrong size", '"size" is 1'),
        ("duplicate id", "adminpulse.relations: duplicate value"),
        ("dangling reference", "person_id is not a person client"),
        ("timestamp format", "amlcare.clients[0]"),
        ("token expiry", 'adminpulse.tokens[0]: "expiresAt" must match'),
        ("version without file", 'amlcare.documents[1]: versions[0]: "content" must be'),
        ("versions out of order", "versions[1]: versions must be listed oldest first"),
        ("current version missing", 'the last of "versions" must be the document'),
        ("file beside versions", "carries each file in its version entry"),
    ],
)
def test_an_invalid_world_is_refused_and_the_old_one_kept(tmp_path, change, words):
    db = tmp_path / "sandbox.db"
    sandbox_cli(db, "reset")
    refused = sandbox_cli(db, "load", "-", stdin=json.dumps(_broken(change)))
    assert refused.returncode == 2
    assert words in refused.stderr
    assert json.loads(sandbox_cli(db, "dump").stdout) == base_world()


def test_a_document_without_versions_loads_as_its_current_version_alone(sandbox):
    """Worlds written before AMLCare documents kept their versions still load."""
    world = rich_world()
    form = world["amlcare"]["documents"][1]
    current = form.pop("versions")[-1]
    form["content"] = current["content"]

    sandbox.load(world)

    served = requests.get(
        f"{sandbox.amlcare_url}/documents/doc_2",
        headers={"Authorization": f"Bearer {sandbox.amlcare_key}"},
        timeout=30,
    ).json()
    assert served["versions"] == [{k: v for k, v in current.items() if k != "content"}]
    old_file = requests.get(
        f"{sandbox.amlcare_url}/documents/doc_2/versions/1/content",
        headers={"Authorization": f"Bearer {sandbox.amlcare_key}"},
        timeout=30,
    )
    assert old_file.status_code == 404
    dumped = sandbox.dump("amlcare")["documents"][1]
    assert dumped["versions"] == [current]
    assert "content" not in dumped


def test_reset_loads_the_minimal_world(tmp_path):
    db = tmp_path / "sandbox.db"
    sandbox_cli(db, "load", "-", stdin=json.dumps(rich_world()))
    assert sandbox_cli(db, "reset").returncode == 0
    world = json.loads(sandbox_cli(db, "dump").stdout)
    assert world == base_world()
    assert world["adminpulse"]["tokens"] == [
        {
            "token": "sandbox-adminpulse-token",
            "scopes": [
                "relations:read",
                "relations:write",
                "users:read",
                "documents:read",
                "documents:write",
                "tasks:read",
            ],
            "expiresAt": None,
        }
    ]
    assert world["amlcare"]["apiKeys"] == [{"key": "sandbox-amlcare-key"}]
    types = {t["name"]: t["publicOnPortalDefault"] for t in world["adminpulse"]["documentTypes"]}
    assert types["eID"] is True
    assert types["eID Foto"] is True
    assert len(types) == 8


def test_seeding_ten_thousand_clients_takes_well_under_a_minute(tmp_path):
    db = tmp_path / "sandbox.db"
    started = time.monotonic()
    seeded = sandbox_cli(db, "seed", "--clients", "10000", "--seed", "1")
    elapsed = time.monotonic() - started
    assert seeded.returncode == 0, seeded.stderr
    assert elapsed < SEED_10K_SECONDS
    status = sandbox_cli(db, "status")
    assert "relations" in status.stdout
    assert status.returncode == 1  # the world is there, the server is not running


def test_start_refuses_a_second_server_on_the_same_database(sandbox):
    again = sandbox_cli(
        sandbox.db_path,
        "start",
        "--adminpulse-port",
        str(free_port()),
        "--amlcare-port",
        str(free_port()),
    )
    assert again.returncode == 1
    assert "already running" in again.stderr
    status = sandbox_cli(sandbox.db_path, "status")
    assert status.returncode == 0
    assert sandbox.adminpulse_url in status.stdout
    assert sandbox.amlcare_url in status.stdout


def test_start_refuses_a_taken_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = sandbox_cli(
            tmp_path / "sandbox.db",
            "start",
            "--adminpulse-port",
            str(port),
            "--amlcare-port",
            str(free_port()),
        )
    assert refused.returncode == 3
    assert f"port {port} (AdminPulse)" in refused.stderr


def test_stop_is_harmless_when_nothing_runs_and_start_stop_start_works(tmp_path):
    db = tmp_path / "sandbox.db"
    stopped = sandbox_cli(db, "stop")
    assert (stopped.returncode, stopped.stdout.strip()) == (0, "not running")
    process = SandboxProcess(db)
    for _ in range(2):
        process.start()
        assert process.dump("adminpulse")["documentTypes"]
        process.stop()
        assert not (tmp_path / "sandbox.pid").exists()


def test_the_db_can_come_from_the_environment(tmp_path):
    db = tmp_path / "from-env.db"
    completed = subprocess.run(
        [sys.executable, "-m", "amlsync_sandbox", "reset"],
        capture_output=True,
        text=True,
        env={"AMLSYNC_SANDBOX_DB": str(db), "PATH": ""},
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert db.exists()
