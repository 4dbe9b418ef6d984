"""The one comparison of "identical final state" that the guarantee tests use.

Two runs of the same jobs on the same seeded world (one clean, one under faults or crashes) must
leave both services holding the same thing. A few values legitimately differ between any two
runs, and only those are set aside here:

- Ids the services hand out when the connectors create something. AMLCare gives every new
  client, role relation and document a random id; AdminPulse numbers uploaded documents in the
  order they arrive, which retries and crashes change. Records created during a run are named
  instead by what identifies them for the office: an AMLCare client by its key (national
  register or KBO number), a role by (company, person, role), a document by (client, kind,
  external_ref or file name), an AdminPulse document by (relation, file name). Every reference
  to such an id (a document's `client_id`, an upload's file name built from an AMLCare document
  id) is rewritten the same way. Ids that were already in the seeded world are kept as they are.
- Timestamps the services stamp on a write: AMLCare's `created_at` and `updated_at` (also on a
  document's versions), AdminPulse's `createdDate` and `modifiedDate`. They say when a run wrote,
  not what; a write that changes nothing moves none of them, so a spurious change still shows in
  the values.
- The order of records in each list: both services list by id or time, which differ as above.

Everything else must match, field by field: every record of every list of both services, with
its business dates, statuses, links, file names and file contents. A record lost or written twice
shows as a difference, because the lists are compared as sorted lists, not as sets.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

# Timestamps each service stamps on a write (see the module docstring).
STAMPED_FIELDS = {
    "adminpulse": frozenset({"createdDate", "modifiedDate"}),
    "amlcare": frozenset({"created_at", "updated_at"}),
}
# Uploaded file names carry the AMLCare document id: amlcare_<id>_<kind>_v<n>_<signed>.<ext>
UPLOAD_NAME = re.compile(
    r"^amlcare_(?P<id>.+?)_(?P<rest>"
    r"(?:identification_form|cap_report|id_card|verification_report|ubo_extract)_v.*)$"
)


def final_state(world: dict[str, Any], seed: dict[str, Any]) -> dict[str, list[str]]:
    """Both services of `world` in terms that do not depend on ids or times of the run.

    Args:
        world: a sandbox dump (both halves) after the runs.
        seed: the world the runs started from, whose ids are stable between runs.

    Returns:
        For each `<service>.<list>`, the normalised records as sorted JSON strings.
    """
    labels = AMLCareLabels(world["amlcare"], seed["amlcare"])
    seeded_adminpulse_documents = {d["id"] for d in seed["adminpulse"]["documents"]}
    state: dict[str, list[str]] = {}
    for service in ("adminpulse", "amlcare"):
        for name, records in world[service].items():
            normalised = []
            for record in records:
                copy = without_stamps(record, STAMPED_FIELDS[service])
                if service == "amlcare":
                    copy = labels.relabel(name, copy)
                elif name == "documents":
                    copy = relabel_upload(copy, seeded_adminpulse_documents, labels)
                normalised.append(json.dumps(copy, sort_keys=True, ensure_ascii=False))
            state[f"{service}.{name}"] = sorted(normalised)
    return state


def without_stamps(value: Any, stamped: frozenset[str]) -> Any:
    """A copy of a record without the write timestamps, at any depth."""
    if isinstance(value, dict):
        return {k: without_stamps(v, stamped) for k, v in value.items() if k not in stamped}
    if isinstance(value, list):
        return [without_stamps(item, stamped) for item in value]
    return value


class AMLCareLabels:
    """Stable names for AMLCare records: the seed's id, or what identifies a new record."""

    def __init__(self, amlcare: dict[str, Any], seed: dict[str, Any]) -> None:
        seeded = {r["id"] for name in ("clients", "relations", "documents") for r in seed[name]}
        self.client: dict[str, str] = {
            c["id"]: c["id"] if c["id"] in seeded or not c["key"] else f"client {c['key']}"
            for c in amlcare["clients"]
        }
        self.document: dict[str, str] = {}
        for document in amlcare["documents"]:
            if document["id"] in seeded:
                self.document[document["id"]] = document["id"]
            else:
                owner = self.client.get(document["client_id"], document["client_id"])
                what = document["external_ref"] or document["file_name"]
                self.document[document["id"]] = f"document of {owner}: {document['kind']} {what}"
        self.seeded = seeded

    def relabel(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        """One AMLCare record with its id and the ids it points to replaced by labels."""
        if name == "clients":
            record["id"] = self.client[record["id"]]
        elif name == "documents":
            record["id"] = self.document[record["id"]]
            record["client_id"] = self.client.get(record["client_id"], record["client_id"])
        elif name == "relations":
            record["company_id"] = self.client.get(record["company_id"], record["company_id"])
            record["person_id"] = self.client.get(record["person_id"], record["person_id"])
            if record["id"] not in self.seeded:
                record["id"] = f"{record['role']} of {record['company_id']}: {record['person_id']}"
        return record


def relabel_upload(
    document: dict[str, Any], seeded_ids: set[int], labels: AMLCareLabels
) -> dict[str, Any]:
    """An AdminPulse document without the id AdminPulse gave it, if the run uploaded it."""
    if document["id"] in seeded_ids:
        return document
    document.pop("id")
    match = UPLOAD_NAME.match(str(document.get("fileName") or ""))
    if match and match["id"] in labels.document:
        document["fileName"] = f"amlcare_[{labels.document[match['id']]}]_{match['rest']}"
    return document


def differences(expected: dict[str, list[str]], actual: dict[str, list[str]]) -> str:
    """A readable diff of two final states, list by list; empty when they are identical."""
    lines: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name, []), actual.get(name, [])
        if want == got:
            continue
        lines.append(f"== {name}: {len(want)} records expected, {len(got)} found")
        diff = difflib.unified_diff(want, got, "clean run", "this run", n=0, lineterm="")
        lines.extend(line[:400] for line in list(diff)[2:42])
    return "\n".join(lines)


def assert_same_final_state(expected: dict[str, list[str]], actual: dict[str, list[str]]) -> None:
    """Fail with the differing records when two final states are not identical."""
    report = differences(expected, actual)
    assert not report, "final states differ (ids and write times set aside):\n" + report
