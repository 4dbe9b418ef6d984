"""Quick-start demo: seed the sandbox, run the nightly import and the outbound sync, show results.

Run through `make demo`. It uses only the project's own commands: the sandbox CLI, `meltano run`
and the sandbox's partner API to play an AMLCare user between the two jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SANDBOX = str(BIN / "amlsync-sandbox")
MELTANO = str(BIN / "meltano")
DEMO_CLIENTS = 100
DEMO_SEED = 7
# The sandbox environment of meltano.yml points here.
AMLCARE_URL = "http://127.0.0.1:18802/v1"
AMLCARE_KEY = "sandbox-amlcare-key"
# How many AMLCare documents the demo moves forward before the outbound sync.
DOCUMENTS_TO_ADVANCE = 10


def step(title: str) -> None:
    """Print a visible heading for one step of the demo."""
    print(f"\n=== {title} ===", flush=True)


def run(*command: str) -> None:
    """Run a command in the project root, streaming its output, and stop the demo if it fails."""
    completed = subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603
    if completed.returncode != 0:
        sys.exit(f"demo stopped: {' '.join(command)} exited {completed.returncode}")


def play_amlcare_user() -> None:
    """Do what an office does in AMLCare between two syncs: submit and sign forms, set a risk."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {AMLCARE_KEY}"
    listing = session.get(f"{AMLCARE_URL}/documents", params={"limit": 500}, timeout=30)
    listing.raise_for_status()
    advanced = 0
    for document in listing.json()["items"]:
        if advanced >= DOCUMENTS_TO_ADVANCE:
            break
        action = {"created": "submit", "submitted": "sign"}.get(document["status"])
        if action and document["origin"] == "amlcare":
            url = f"{AMLCARE_URL}/documents/{document['id']}/{action}"
            session.post(url, timeout=30).raise_for_status()
            advanced += 1
    print(f"moved {advanced} AMLCare documents one status forward")

    clients = session.get(f"{AMLCARE_URL}/clients", params={"limit": 5}, timeout=30)
    clients.raise_for_status()
    for client in clients.json()["items"]:
        change = {"risk_level": "high", "cap": {"status": "accepted"}}
        session.patch(f"{AMLCARE_URL}/clients/{client['id']}", json=change, timeout=30)
    print(f"raised the risk level of {len(clients.json()['items'])} AMLCare clients")


def show_reports() -> None:
    """Print the Markdown report each target wrote last."""
    for target in ("target-amlcare", "target-adminpulse"):
        reports = sorted((ROOT / "output" / "reports" / target).glob("*.md"), key=os.path.getmtime)
        if reports:
            step(f"{target}: {reports[-1].relative_to(ROOT)}")
            print(reports[-1].read_text(encoding="utf-8"))


def show_worlds() -> None:
    """Print how many records each service holds after the two jobs."""
    for service in ("adminpulse", "amlcare"):
        dump = subprocess.run(  # noqa: S603
            [SANDBOX, "dump", "--service", service],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        world = json.loads(dump.stdout)[service]
        counts = ", ".join(f"{len(rows)} {name}" for name, rows in world.items() if rows)
        print(f"{service}: {counts}")


def main() -> None:
    """Run the whole demo; the sandbox is stopped again whatever happens."""
    step(f"Seeding the sandbox with {DEMO_CLIENTS} AdminPulse clients (seed {DEMO_SEED})")
    subprocess.run([SANDBOX, "stop"], cwd=ROOT, capture_output=True, check=False)  # noqa: S603
    run(SANDBOX, "seed", "--clients", str(DEMO_CLIENTS), "--seed", str(DEMO_SEED))
    run(SANDBOX, "start")
    try:
        step("Preflight: what the office should fix before importing")
        run(MELTANO, "--environment=sandbox", "run", "preflight")
        step("Nightly import: AdminPulse -> AMLCare")
        run(MELTANO, "--environment=sandbox", "run", "nightly-import")
        step("An AMLCare user submits and signs forms and reviews risk levels")
        play_amlcare_user()
        step("Outbound sync: AMLCare -> AdminPulse")
        run(MELTANO, "--environment=sandbox", "run", "outbound-sync")
        show_reports()
        step("What the two services hold now")
        show_worlds()
    finally:
        subprocess.run([SANDBOX, "stop"], cwd=ROOT, check=False)  # noqa: S603
    print("\nThe world stays in .sandbox/sandbox.db: `.venv/bin/amlsync-sandbox dump` shows it.")


if __name__ == "__main__":
    main()
