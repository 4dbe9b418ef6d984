"""The import: which AdminPulse relations become which AMLCare clients, and writing them.

The sinks hand every record to one `Import`. Relations are collected until the first identity
document arrives (or the input ends): only then are all relations known, so a company's UBOs and
directors can be found whatever order they came in. Clients are then created (or found), linked
and, when created by this import, given their identity cards as those arrive; at the end each
client the import created is marked complete.

Writes go through a bounded pool of concurrent requests (sized by the request budget), so that
AMLCare's round trip does not serialise the run, and clients are created in a thread of their
own while the cards keep arriving, so that the tap keeps spending AdminPulse's budget. The order
that matters still holds: every client is created before any relation or card that needs it,
and a client is marked complete only after all its cards are in.

Why it is safe to run twice, or after a crash: a client is created `pending` with the AdminPulse
relation as `external_ref`; its cards carry the AdminPulse document id (a repeat upload answers
409); it becomes `complete` last. A later run that finds a `pending` client of ours finishes it; a
`complete` one, or one AMLCare had before, is never touched.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import threading
import typing as t
from collections import Counter
from dataclasses import astuple, dataclass, field
from datetime import date
from http import HTTPStatus

from target_amlcare import amlcare_api as api
from target_amlcare.client import WritePool
from target_amlcare.contract import contract_problem
from target_amlcare.identifiers import check_kbo, check_nrn, mask_key
from target_amlcare.progress import Progress
from target_amlcare.relation_store import (
    DiskDict,
    DiskList,
    Key,
    ScratchDatabase,
    SpooledRejects,
)
from target_amlcare.report import Problem, RunReport

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from target_amlcare.client import AMLCareClient

logger = logging.getLogger(__name__)

# The AdminPulse document types that hold identity cards.
IDENTITY_DOCUMENT_TYPE_NAMES = ("eID", "eID Foto")
# Progress lines on long runs: one every this many clients or cards (and at least every 30 s).
PROGRESS_EVERY = 250
# In a dry run, clients that would be created get this instead of an AMLCare id.
NOT_CREATED = "(would be created)"
# Statuses of the office's own clients (present or future), whose identifiers the preflight
# checks even when the import leaves them out.
OFFICE_CLIENT_STATUSES = frozenset({"customer", "prospect"})
# AMLCare answers 422 Unprocessable Content to an invalid identifier or e-mail.
UNPROCESSABLE = 422
# Identity documents held in memory while the clients are being created; beyond this the
# target stops reading (and the tap waits) until the clients are in.
MAX_DEFERRED_DOCUMENTS = 2000
# Clients planned, created and judged per round: their payloads are the only full records held.
CREATE_BATCH = 500
# What the import reads of an AMLCare client; the rest of AMLCare's answer is not kept.
CLIENT_FIELDS = ("id", "key", "external_ref", "import_status")


@dataclass
class Settings:
    """The settings the import logic reads."""

    import_statuses: frozenset[str]
    include_ended_relations: bool
    dry_run: bool
    today: date = field(default_factory=date.today)


def compact(client: dict[str, t.Any]) -> dict[str, t.Any]:
    """The fields of an AMLCare client that the import reads: one is held per client."""
    return {name: client.get(name) for name in CLIENT_FIELDS}


@dataclass
class Created:
    """What AMLCare answered to one create: the client, whether we made it, or why not."""

    client: dict[str, t.Any] | None
    created: bool
    refusal: str | None = None


@dataclass(slots=True)
class Planned:
    """A relation that becomes (or is found as) an AMLCare client in this run.

    Only what planning needs: the relation itself waits in the run's scratch database and is
    read back when its create payload is built.
    """

    uid: str  # the AdminPulse uniqueIdentifier
    code: str | None
    client_type: str
    key: str
    enterprise_number: str | None = None
    is_client: bool = True  # imported for its own sake, not only as someone's UBO or director

    @property
    def masked_key(self) -> str:
        """The key as a report may show it."""
        return mask_key(self.key, is_person=self.client_type == api.PERSON)

    @classmethod
    def disk_dict(cls, scratch: ScratchDatabase, name: str) -> DiskDict[Planned]:
        """A dictionary of plans in the scratch database."""
        return DiskDict(scratch, name, encode=astuple, decode=lambda fields: cls(*fields))

    @classmethod
    def disk_list(cls, scratch: ScratchDatabase, name: str) -> DiskList[Planned]:
        """A list of plans in the scratch database."""
        return DiskList(scratch, name, encode=astuple, decode=lambda fields: cls(*fields))


class Import:
    """One run of the import, from the first record to the report.

    Whatever grows with the office (relations, plans, AMLCare ids, rejections) is kept in the
    run's scratch database, so memory stays the same for 5,000 clients or 50,000; only the
    users, the document types and a bounded number of waiting cards are held in memory.
    """

    def __init__(
        self,
        settings: Settings,
        amlcare: AMLCareClient,
        report: RunReport,
        scratch: ScratchDatabase,
    ) -> None:
        self.settings = settings
        self.amlcare = amlcare
        self.report = report
        self.scratch = scratch
        self.users: dict[int, str | None] = {}
        self.document_types: dict[int, dict[str, t.Any]] = {}
        self.relations: DiskDict[dict[str, t.Any]] = DiskDict(scratch, "relations")
        # Replayed identity documents, by id, until the tap sends them again or the end.
        self.waiting_documents: DiskDict[dict[str, t.Any]] = DiskDict(scratch, "waiting_documents")
        self.rejects = SpooledRejects(scratch)
        self.rejected_relations: DiskDict[str] = DiskDict(scratch, "rejected_relations")
        # Why each relation that is not a client this run is left out, by uniqueIdentifier.
        self.not_imported: DiskDict[str] = DiskDict(scratch, "not_imported")
        # Every relation this run imports (as a client or as a role holder), by uniqueIdentifier,
        # in the order planned: clients in arrival order, then role holders as companies name
        # them.
        self.plans = Planned.disk_dict(scratch, "plans")
        # Company uniqueIdentifier → its role holders to link: [person uniqueIdentifier, role].
        self.role_links: DiskDict[list[list[str]]] = DiskDict(scratch, "role_links")
        # The AMLCare clients holding the keys of this run (what `compact` keeps), by key: found
        # by the lookup, or created.
        self.clients_by_key: DiskDict[dict[str, t.Any]] = DiskDict(scratch, "clients_by_key")
        # uniqueIdentifier → AMLCare client id of the clients whose cards this run may attach:
        # the ones it created, and pending ones of ours it finishes.
        self.owned: DiskDict[str] = DiskDict(scratch, "owned")
        # uniqueIdentifier → AMLCare client id of every client this run resolved.
        self.client_ids: DiskDict[str] = DiskDict(scratch, "client_ids")
        # key → uniqueIdentifier of the relation that claimed it first in this run.
        self.keys_this_run: DiskDict[str] = DiskDict(scratch, "keys_this_run")
        # AdminPulse user id → codes of the clients imported without them as responsible.
        self.missing_responsibles: dict[int, DiskList[str]] = {}
        self.pool = WritePool(amlcare.concurrency)
        self.cards_progress = Progress(logger, "Identity cards uploaded", every=PROGRESS_EVERY)
        # The clients are created in this thread while identity documents keep arriving; those
        # wait, unchecked, in `deferred_documents` until it is done.
        self.import_thread: threading.Thread | None = None
        self.import_failure: BaseException | None = None
        self.clients_ready = False
        self.deferred_documents: list[dict[str, t.Any]] = []
        # Whether `finish` may mark the clients of this run complete: not when the input ended
        # before the tap had sent every identity document (the next run finishes them).
        self.complete_clients = True

    # Intake: every record goes through the contract first.

    def accept(self, stream: str, record: dict[str, t.Any], *, replayed: bool = False) -> None:
        """Take one record of an accepted stream; reject it if it breaks the contract."""
        if stream == "identity_documents" and not replayed and not self.clients_ready:
            self.defer_document(record)
            if not self.clients_ready:
                return
        problem = contract_problem(stream, record)
        if problem is not None:
            self.reject(
                stream, record, f"breaks the input contract: {problem}", "contract_violation"
            )
            return
        if stream == "users":
            self.users[int(record["id"])] = record.get("email")
        elif stream == "document_types":
            self.document_types[int(record["id"])] = record
        elif stream == "relations":
            self.accept_relation(record, replayed=replayed)
        elif stream == "identity_documents":
            self.accept_identity_document(record, replayed=replayed)

    def accept_relation(self, relation: dict[str, t.Any], *, replayed: bool) -> None:
        """Keep the relation; a replayed one yields to the version the tap sends this run."""
        uid = relation["uniqueIdentifier"]
        if replayed and uid in self.relations:
            return
        if self.import_thread is not None:
            msg = f"Relation {uid} arrived after identity documents; relations must come first"
            raise RuntimeError(msg)
        self.relations[uid] = relation

    def accept_identity_document(self, document: dict[str, t.Any], *, replayed: bool) -> None:
        """Attach the card now if the clients are in, else keep it until they are."""
        if replayed:
            self.waiting_documents.setdefault(int(document["id"]), document)
            return
        self.waiting_documents.pop(int(document["id"]))
        self.attach(document)

    def defer_document(self, document: dict[str, t.Any]) -> None:
        """Keep a card that arrived while the clients are being created (start that first).

        Once the clients are in, the deferred cards go through the normal path; the caller
        passes this one on too.
        """
        if self.import_thread is None:
            self.import_thread = threading.Thread(
                target=self.import_clients_in_thread, name="amlcare-clients", daemon=True
            )
            self.import_thread.start()
        if self.import_thread.is_alive() and len(self.deferred_documents) < MAX_DEFERRED_DOCUMENTS:
            self.deferred_documents.append(document)
            return
        self.wait_for_clients()

    def import_clients_in_thread(self) -> None:
        """Create the clients; keep a failure for the main thread to raise."""
        try:
            self.import_clients()
        except BaseException as error:
            self.import_failure = error

    def wait_for_clients(self) -> None:
        """Wait until every client exists; then attach the cards that waited for them."""
        if self.import_thread is None:
            self.import_thread = threading.current_thread()
            self.import_clients()
        else:
            self.import_thread.join()
        if self.import_failure is not None:
            raise self.import_failure
        self.clients_ready = True
        deferred, self.deferred_documents = self.deferred_documents, []
        for document in deferred:
            self.accept("identity_documents", document)
        for document in self.waiting_documents.values():
            self.attach(document)
        self.waiting_documents.clear()

    # Clients.

    def import_clients(self) -> None:
        """Plan every relation, look the keys up in AMLCare, create and link what is new.

        The plans wait in the scratch database and every step reads them back a batch at a
        time: persons (clients, then role holders) first, then companies.
        """
        responsibles = self.amlcare_users_by_email()
        self.plan_clients()
        self.plan_roles()
        skipped = Counter(
            reason for uid, reason in self.not_imported.items() if uid not in self.plans
        )
        for reason, count in skipped.items():
            self.report.count(f"skipped_{reason}", count)

        first_claims, repeats = self.split_repeated_keys(self.plans_in_order())
        self.lookup(self.keys_this_run.keys())
        persons = companies = found = holders_only = 0
        for plan in self.plans_in_order():
            persons += plan.client_type == api.PERSON and plan.is_client
            companies += plan.client_type == api.COMPANY
            holders_only += not plan.is_client
            found += plan.key in self.clients_by_key
        logger.info(
            "Planned %d person and %d company clients (%d already in AMLCare by key), "
            "%d role holders only, %d other relations not imported",
            persons,
            companies,
            found,
            holders_only,
            skipped.total(),
        )
        self.resolve_all(first_claims, responsibles)
        # A key claimed twice: the first claim's client now exists, and the repeat finds it.
        self.resolve_all(repeats, responsibles)
        for company in self.plans_in_order(api.COMPANY):
            if company.uid in self.owned:
                for body in self.link_bodies(company, self.role_links.get(company.uid, [])):
                    self.pool.submit(self.post_link, body)
        self.pool.drain()

    def plans_in_order(self, *client_types: str) -> Iterator[Planned]:
        """The plans to resolve, in the order they are resolved: persons, then companies.

        A company rejected while its roles were planned is left out.
        """
        for client_type in client_types or (api.PERSON, api.COMPANY):
            for plan in self.plans.values():
                if plan.client_type != client_type:
                    continue
                if client_type == api.COMPANY and plan.uid in self.rejected_relations:
                    continue
                yield plan

    def plan_clients(self) -> None:
        """Plan the relations to import as clients, each with a valid key; reject the others.

        Also notes, by uniqueIdentifier, why each other relation is not imported as a client.
        """
        for uid, relation in self.relations.items():
            reason = self.not_imported_because(relation)
            if reason is not None:
                self.not_imported[uid] = reason
                if self.settings.dry_run and relation["status"] in OFFICE_CLIENT_STATUSES:
                    self.note_identifier_problem(relation, reason)
                continue
            plan = self.plan(relation, is_client=True)
            if plan is not None:
                self.plans[uid] = plan

    def note_identifier_problem(self, relation: dict[str, t.Any], reason: str) -> None:
        """Report (without rejecting) a bad identifier on a client the import leaves out now.

        The preflight lists these too: a prospect becomes a customer, an import setting changes.
        """
        problem = self.identifier_problem(relation)
        if problem is not None:
            self.report.add(
                Problem(
                    "invalid_identifier",
                    f"{problem} (not imported now: {reason.replace('_', ' ')})",
                    key=self.masked_key_of(relation),
                    relation=relation["uniqueIdentifier"],
                    code=relation.get("code"),
                )
            )

    @staticmethod
    def identifier_problem(relation: dict[str, t.Any]) -> str | None:
        """What is wrong with a relation's identifiers, or None."""
        if relation["type"] == api.RELATION_COMPANY:
            return check_kbo(relation.get("vatNumber")).problem
        problem = check_nrn(relation.get("nationalRegisterNumber")).problem
        if problem is None and relation["type"] == api.RELATION_SOLE_PROPRIETOR:
            kbo = check_kbo(relation.get("vatNumber")).problem
            problem = f"sole proprietor with {kbo}" if kbo else None
        return problem

    def not_imported_because(self, relation: dict[str, t.Any]) -> str | None:
        """Why a relation is not imported as a client (None: it is)."""
        if relation["status"] not in self.settings.import_statuses:
            return f"status_{relation['status']}"
        end = relation.get("endDate")
        ended = end is not None and date.fromisoformat(end[:10]) < self.settings.today
        if ended and not self.settings.include_ended_relations:
            return "ended"
        return None

    def plan(self, relation: dict[str, t.Any], *, is_client: bool) -> Planned | None:
        """Check a relation's identifiers; reject it (and return None) when they fail."""
        problem = self.identifier_problem(relation)
        if problem is not None:
            self.reject_relation(relation, problem, "invalid_identifier")
            return None
        uid, code = str(relation["uniqueIdentifier"]), relation.get("code")
        if relation["type"] == api.RELATION_COMPANY:
            key = str(check_kbo(relation.get("vatNumber")).key)
            return Planned(uid, code, api.COMPANY, key, is_client=is_client)
        key = str(check_nrn(relation.get("nationalRegisterNumber")).key)
        enterprise_number = None
        if relation["type"] == api.RELATION_SOLE_PROPRIETOR:
            enterprise_number = check_kbo(relation.get("vatNumber")).key
        return Planned(uid, code, api.PERSON, key, enterprise_number, is_client=is_client)

    def plan_roles(self) -> None:
        """Note each company's role holders (and plan them); reject companies missing one."""
        for company in self.plans_in_order(api.COMPANY):
            company_links: list[list[str]] = []
            relation = self.relations[company.uid]
            for link in relation.get("tos") or []:
                role = api.ROLE_OF_LINK_TYPE.get(link["linkType"])
                if role is None:
                    continue
                problem = self.role_holder_problem(link["uniqueIdentifier"], role)
                if problem is not None:
                    self.reject_relation(relation, problem, "role_holder_not_importable")
                    break
                holder = self.relations[link["uniqueIdentifier"]]
                if holder["type"] == api.RELATION_COMPANY:
                    self.report.add(
                        Problem(
                            "link_without_counterpart",
                            f"its {role} is a company (relation {holder.get('code')})",
                            key=company.masked_key,
                            relation=company.uid,
                            code=company.code,
                        )
                    )
                    continue
                company_links.append([link["uniqueIdentifier"], role])
            else:
                self.role_links[company.uid] = company_links
                for person_uid, _ in company_links:
                    if person_uid not in self.plans:
                        planned = self.plan(self.relations[person_uid], is_client=False)
                        self.plans[person_uid] = t.cast("Planned", planned)

    def role_holder_problem(self, person_uid: str, role: str) -> str | None:
        """Why a company's role holder cannot be imported, or None."""
        holder = self.relations.get(person_uid)
        if holder is None:
            return f"its {role} (relation {person_uid}) was not received from AdminPulse"
        if holder["type"] == api.RELATION_COMPANY:
            return None
        if check_nrn(holder.get("nationalRegisterNumber")).key is None:
            return (
                f"its {role} (relation {holder.get('code')}) has no valid national register number"
            )
        if (
            holder["type"] == api.RELATION_SOLE_PROPRIETOR
            and check_kbo(holder.get("vatNumber")).key is None
        ):
            return (
                f"its {role} (relation {holder.get('code')}) is a sole proprietor without a "
                "valid KBO number"
            )
        return None

    def lookup(self, keys: Iterable[Key]) -> None:
        """Keep the AMLCare clients that already hold any of these (distinct) keys."""
        every_key = iter(keys)
        batches = iter(lambda: list(itertools.islice(every_key, api.LOOKUP_BATCH_SIZE)), [])
        for batch in batches:
            response = self.amlcare.request("POST", api.CLIENT_LOOKUP_PATH, json={"keys": batch})
            for client in response.json()[api.ITEMS_KEY]:
                self.clients_by_key[client["key"]] = compact(client)

    def split_repeated_keys(
        self, plans: Iterable[Planned]
    ) -> tuple[DiskList[Planned], DiskList[Planned]]:
        """The plans that claim their key first in this run, and those that repeat a key."""
        first_claims = Planned.disk_list(self.scratch, "first_claims")
        repeats = Planned.disk_list(self.scratch, "repeats")
        for plan in plans:
            first_claim = self.keys_this_run.setdefault(plan.key, plan.uid)
            if first_claim == plan.uid:
                first_claims.append(plan)
                continue
            repeats.append(plan)
            self.report.add(
                Problem(
                    "duplicate_key",
                    f"relation {first_claim} has the same identifier; only that one is imported",
                    key=plan.masked_key,
                    relation=plan.uid,
                    code=plan.code,
                )
            )
        return first_claims, repeats

    def resolve_all(self, plans: DiskList[Planned], responsibles: dict[str, str]) -> None:
        """Create the plans' new clients concurrently; judge every outcome in plan order.

        A batch at a time, so that only one batch of plans and create payloads is ever held.
        """
        total = sum(1 for plan in plans if plan.key not in self.clients_by_key)
        progress = Progress(logger, "Clients created", every=PROGRESS_EVERY, total=total)

        def create(payload: dict[str, t.Any]) -> Created:
            answer = self.create(payload)
            progress.advance()
            return answer

        every_plan = iter(plans)
        for batch in iter(lambda: list(itertools.islice(every_plan, CREATE_BATCH)), []):
            payloads = {
                plan.uid: self.client_payload(plan, responsibles)
                for plan in batch
                if plan.key not in self.clients_by_key
            }
            answers = self.pool.map(create, payloads.values())
            created = dict(zip(payloads, answers, strict=True))
            for plan in batch:
                self.resolve(plan, created.get(plan.uid))

    def resolve(self, plan: Planned, answer: Created | None) -> None:
        """Take the plan's client as found in AMLCare or as created; count the outcome."""
        client = self.clients_by_key.get(plan.key)
        if client is None and answer is not None:
            if answer.refusal is not None:
                self.reject_relation(
                    self.relations[plan.uid],
                    f"AMLCare refused it: {answer.refusal}",
                    "amlcare_refused",
                )
                return
            client, created = answer.client, answer.created
            if client is None:
                return
            self.clients_by_key[plan.key] = client
            self.client_ids[plan.uid] = client["id"]
            if created:
                self.owned[plan.uid] = client["id"]
                self.report.count("created" if plan.is_client else "created_role_holders")
                return
        if client is None:
            return  # a repeated key whose first claim AMLCare refused: reported there
        self.client_ids[plan.uid] = client["id"]

        ours = client.get("external_ref") == plan.uid
        if client.get("import_status") == api.IMPORT_PENDING and ours:
            self.owned[plan.uid] = client["id"]
            self.report.count("updated")  # an import that died half-way, finished now
            logger.info("Finishing client %s, left pending by an earlier run", client["id"])
        else:
            self.report.count("unchanged" if plan.is_client else "linked")

    def client_payload(self, plan: Planned, responsibles: dict[str, str]) -> dict[str, t.Any]:
        """The body creating the plan's client, with its responsible (reported when missing)."""
        relation = self.relations[plan.uid]
        return api.client_payload(
            relation,
            client_type=plan.client_type,
            key=plan.key,
            enterprise_number=plan.enterprise_number,
            responsible_user_id=self.responsible(plan, relation, responsibles),
        )

    def create(self, payload: dict[str, t.Any]) -> Created:
        """Create one client, pending; runs in the write pool, so it only talks to AMLCare.

        A 409 (the key exists) is most likely our own earlier create whose answer a dropped
        connection swallowed: the existing client is fetched and judged like any found one.
        """
        if self.settings.dry_run:
            return Created({"id": NOT_CREATED, "key": payload["key"]}, created=True)

        response = self.amlcare.request(
            "POST",
            api.CLIENTS_PATH,
            json=payload,
            expect=(HTTPStatus.CREATED, HTTPStatus.OK, HTTPStatus.CONFLICT, UNPROCESSABLE),
        )
        if response.status_code == HTTPStatus.CONFLICT:
            _, _, existing_id = api.error_details(response.json())
            found = self.amlcare.request("GET", api.CLIENT_PATH.format(client_id=existing_id))
            return Created(compact(found.json()), created=False)
        if response.status_code == UNPROCESSABLE:
            _, message, _ = api.error_details(response.json())
            return Created(None, created=False, refusal=message)
        return Created(compact(response.json()), created=True)

    def responsible(
        self, plan: Planned, relation: dict[str, t.Any], responsibles: dict[str, str]
    ) -> str | None:
        """The AMLCare user of the relation's first responsible who has one (by e-mail)."""
        entries = relation.get("responsibles") or []
        for entry in entries:
            email = self.users.get(entry["userId"])
            if email and email.strip().lower() in responsibles:
                return responsibles[email.strip().lower()]
        if not plan.is_client:
            return None
        if not entries:
            self.report.add(
                Problem(
                    "client_without_responsible",
                    "no responsible in AdminPulse; imported without one",
                    key=plan.masked_key,
                    relation=plan.uid,
                    code=plan.code,
                )
            )
            return None
        user_id = entries[0]["userId"]
        codes = self.missing_responsibles.get(user_id)
        if codes is None:
            codes = DiskList(self.scratch, f"clients_without_amlcare_responsible:{user_id}")
            self.missing_responsibles[user_id] = codes
        codes.append(str(plan.code or plan.uid))
        return None

    def amlcare_users_by_email(self) -> dict[str, str]:
        """AMLCare's active internal users, by e-mail in lower case."""
        users = self.amlcare.get_all(api.USERS_PATH)
        return {
            str(user["email"]).strip().lower(): user["id"]
            for user in users
            if user.get("email") and user.get("active", True)
        }

    def link_bodies(self, company: Planned, links: list[list[str]]) -> list[dict]:
        """The company's UBO and director relations to make (none in a dry run); count them."""
        bodies = []
        for person_uid, role in links:
            person_id = self.client_ids.get(person_uid)
            if person_id is None:
                continue  # the person was refused by AMLCare, and reported
            if not self.settings.dry_run:
                bodies.append(
                    {
                        "company_id": self.client_ids[company.uid],
                        "person_id": person_id,
                        "role": role,
                    }
                )
            self.report.count(f"relations_{role}")
        return bodies

    def post_link(self, body: dict[str, t.Any]) -> None:
        """Make one relation (409: already there); runs in the write pool."""
        self.amlcare.request(
            "POST",
            api.RELATIONS_PATH,
            json=body,
            expect=(HTTPStatus.CREATED, HTTPStatus.OK, HTTPStatus.CONFLICT),
        )

    # Identity cards.

    def attach(self, document: dict[str, t.Any]) -> None:
        """Upload one identity card to its client, if this run created (or finishes) it."""
        uid = document["relationIdentifier"]
        if uid in self.rejected_relations:
            reason = f"its relation was rejected ({self.rejected_relations[uid]})"
            self.reject("identity_documents", document, reason, None)
            return
        relation = self.relations.get(uid, {})
        if not document["publicOnPortal"]:
            self.report.count("identity_documents_not_public")
            self.report.add(
                Problem(
                    "identity_document_not_public",
                    f"{document.get('documentTypeName') or 'identity'} document "
                    f"{document['id']} ({document.get('fileName')}) is not public on portal",
                    key=self.masked_key_of(relation),
                    relation=uid,
                    code=relation.get("code"),
                )
            )
            return
        client_id = self.owned.get(uid)
        if client_id is None:
            self.report.count("identity_documents_left_alone")  # the client was there before
            return
        problem = self.file_problem(document)
        if problem is not None:
            kind, message = problem
            self.report.count("identity_documents_not_downloaded")
            if not self.settings.dry_run or kind == "identity_document_too_large":
                self.report.add(
                    Problem(
                        kind,
                        message,
                        key=self.masked_key_of(relation),
                        relation=uid,
                        code=relation.get("code"),
                    )
                )
            return
        if not self.settings.dry_run:
            self.pool.submit(self.upload, client_id, document)
        self.report.count("identity_documents_attached")

    @staticmethod
    def file_problem(document: dict[str, t.Any]) -> tuple[str, str] | None:
        """Why a public identity document has no file to upload (problem kind, message), or None.

        Checked here, before the upload is queued, so that one bad file is one problem and not
        the end of the run.
        """
        what = f"document {document['id']} ({document.get('fileName')})"
        if document.get("contentSkipped"):
            return "identity_document_too_large", f"{what}: {document['contentSkipped']}"
        content = document.get("content")
        if content is None:
            return "identity_document_not_downloaded", f"{what} came without its file"
        try:
            decoded = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            return "identity_document_unusable", f"{what}: the file is not valid base64"
        if not decoded:
            return "identity_document_unusable", f"{what} is an empty file"
        return None

    def upload(self, client_id: str, document: dict[str, t.Any]) -> None:
        """Send the card; 409 means an earlier run already did."""
        try:
            content = base64.b64decode(document["content"], validate=True)
        except binascii.Error as error:
            msg = f"identity document {document['id']} has no valid base64 content"
            raise ValueError(msg) from error
        file_name = document.get("fileName") or f"identity-document-{document['id']}"
        self.amlcare.request(
            "POST",
            api.CLIENT_DOCUMENTS_PATH.format(client_id=client_id),
            data={
                "kind": api.ID_CARD_KIND,
                "file_name": file_name,
                "origin": api.IMPORT_ORIGIN,
                "external_ref": str(document["id"]),
            },
            files={
                "file": (
                    file_name,
                    content,
                    document.get("contentType") or "application/octet-stream",
                )
            },
            expect=(HTTPStatus.CREATED, HTTPStatus.OK, HTTPStatus.CONFLICT),
        )
        self.cards_progress.advance()

    # The end.

    def finish(self) -> None:
        """Import (if no document triggered it yet), mark new clients complete, sum up.

        A client is marked complete only once every upload has been answered.
        """
        try:
            if not self.clients_ready:
                self.wait_for_clients()
            self.pool.drain()
            if not self.settings.dry_run and self.complete_clients:
                for client_id in self.owned.values():
                    self.pool.submit(self.mark_complete, client_id)
                self.pool.drain()
        finally:
            self.pool.close()
        self.report_responsibles()
        self.report_document_types()
        self.report.count("rejected", 0)
        self.report.details["amlcare_requests"] = {
            "total": self.amlcare.request_count,
            "writes": self.amlcare.write_count,
        }

    def mark_complete(self, client_id: str) -> None:
        """Mark one client of this import complete; runs in the write pool."""
        self.amlcare.request(
            "PATCH",
            api.CLIENT_PATH.format(client_id=client_id),
            json={"import_status": api.IMPORT_COMPLETE},
        )

    def report_responsibles(self) -> None:
        """One problem per AdminPulse responsible without an AMLCare user, with their clients."""
        for user_id, codes in sorted(self.missing_responsibles.items()):
            email = self.users.get(user_id) or f"AdminPulse user {user_id} (no e-mail)"
            clients = list(codes)
            self.report.add(
                Problem(
                    "responsible_without_amlcare_user",
                    f"{email} has no AMLCare user; {len(clients)} client(s) imported without "
                    f"a responsible: {', '.join(sorted(clients))}",
                    key=email,
                )
            )

    def report_document_types(self) -> None:
        """The identity-card types that are missing or not public on portal by default."""
        by_name = {row["name"]: row for row in self.document_types.values()}
        if not by_name:
            return  # the document_types stream was not sent: nothing to check
        for name in IDENTITY_DOCUMENT_TYPE_NAMES:
            row = by_name.get(name)
            if row is None:
                self.report.add(
                    Problem("document_type_missing", f"no document type {name!r}", key=name)
                )
            elif not row.get("publicOnPortalDefault"):
                self.report.add(
                    Problem(
                        "document_type_not_public_by_default",
                        f"document type {name!r} (id {row['id']}) is not public on portal "
                        "by default",
                        key=name,
                    )
                )

    # Rejections.

    def reject_relation(self, relation: dict[str, t.Any], reason: str, kind: str) -> None:
        """Reject a relation; its identity documents will follow it into the rejects."""
        uid = relation["uniqueIdentifier"]
        if uid in self.rejected_relations:
            return
        self.rejected_relations[uid] = reason
        linked = [
            self.relations[link["uniqueIdentifier"]]
            for link in relation.get("tos") or []
            if link.get("uniqueIdentifier") in self.relations
        ]
        self.reject("relations", relation, reason, kind, linked=linked)

    def reject(
        self,
        stream: str,
        record: dict[str, t.Any],
        reason: str,
        kind: str | None,
        *,
        linked: list[dict[str, t.Any]] | None = None,
    ) -> None:
        """Keep the record for the rejects file and, unless `kind` is None, report it."""
        entry: dict[str, t.Any] = {"stream": stream, "record": record, "reason": reason}
        if linked:
            entry["linked_relations"] = linked  # a replay needs them to resolve the roles
        self.rejects.append(entry)
        self.report.count("rejected" if stream == "relations" else f"rejected_{stream}")
        if kind is None:
            return
        self.report.add(
            Problem(
                kind,
                reason,
                key=self.masked_key_of(record) if stream == "relations" else "-",
                relation=record.get("uniqueIdentifier") or record.get("relationIdentifier"),
                code=record.get("code"),
                rejected=True,
            )
        )
        logger.warning(
            "Rejected %s record %s: %s",
            stream,
            record.get("code") or record.get("uniqueIdentifier") or record.get("id"),
            reason,
        )

    @staticmethod
    def masked_key_of(relation: dict[str, t.Any]) -> str:
        """The relation's identifier as typed, masked if it is a national register number."""
        if relation.get("type") == api.RELATION_COMPANY:
            return relation.get("vatNumber") or "-"
        return mask_key(relation.get("nationalRegisterNumber"), is_person=True)
