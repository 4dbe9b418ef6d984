"""Finding the AdminPulse relation of an AMLCare client, once per run per identifier."""

from __future__ import annotations

import threading
import typing as t
from collections import OrderedDict

from target_adminpulse import adminpulse_api
from target_adminpulse.client import AdminPulseClient
from target_adminpulse.identifiers import (
    InvalidIdentifier,
    normalise_kbo,
    normalise_nrn,
)


class Rejection(Exception):
    """A record that cannot be written now: the reason and what the office should do."""

    def __init__(self, reason: str, action: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.action = action


# Relations remembered at most: a client's records (its update and its documents' versions) come
# close together in the input, so a few thousand save nearly every repeated lookup while the
# memory of a 50,000-client run stays that of a small one.
CACHE_SIZE = 4096
# The fields the writer reads from a relation; the rest of what AdminPulse answers is dropped.
KEPT_FIELDS = (
    "id",
    "uniqueIdentifier",
    "code",
    "type",
    adminpulse_api.AML_FIELD,
    adminpulse_api.ID_CARD_EXPIRY_FIELD,
)


class RelationFinder:
    """Looks relations up by KBO or national register number, remembering recent answers.

    Identifiers asked recently are answered from memory, whatever number of clients and
    documents point at them; updates made during the run refresh the remembered relation. Both
    maps are least-recently-used with CACHE_SIZE entries, and locked: the write lanes share them.
    A number asked on two lanes at once (two clients that reach the same relation) is searched once;
    the second lane waits for the first one's answer.
    """

    def __init__(self, client: AdminPulseClient, cache_size: int = CACHE_SIZE) -> None:
        self.client = client
        self.cache_size = cache_size
        # (filter, digits) -> ids of the relations that hold the number.
        self._searches: OrderedDict[tuple[str, str], tuple[t.Any, ...]] = OrderedDict()
        # id -> the relation's kept fields.
        self._relations: OrderedDict[t.Any, dict[str, t.Any]] = OrderedDict()
        self._lock = threading.Lock()
        # Searches under way, each with the event its waiting lanes are woken by.
        self._in_flight: dict[tuple[str, str], threading.Event] = {}
        self.lookups = 0

    def find(
        self, client_type: str, key: str, enterprise_number: str | None = None
    ) -> dict[str, t.Any]:
        """The one relation a client matches; Rejection when none or several do."""
        try:
            if client_type == "company":
                searches = [(adminpulse_api.FILTER_KBO, normalise_kbo(key))]
            else:
                searches = [(adminpulse_api.FILTER_NRN, normalise_nrn(key))]
                if enterprise_number:
                    searches.append((adminpulse_api.FILTER_KBO, normalise_kbo(enterprise_number)))
        except InvalidIdentifier as error:
            raise Rejection(
                str(error), "correct the number in AMLCare; AdminPulse is searched by it"
            ) from None

        for search in searches:
            matches = self._search(*search)
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                codes = ", ".join(sorted(str(m.get("code") or m.get("id")) for m in matches))
                raise Rejection(
                    f"{len(matches)} AdminPulse relations share this number ({codes})",
                    "keep the number on one relation only (merge or correct the duplicates)",
                )
        what = "KBO number" if client_type == "company" else "national register number"
        raise Rejection(
            f"no AdminPulse relation has this {what}",
            f"fill in the {what} on the relation in AdminPulse (or create the relation); "
            "the record waits in the rejects file and is written by the next run",
        )

    def remember(self, relation: dict[str, t.Any]) -> None:
        """Replace a remembered relation by its updated version (one not remembered stays out)."""
        with self._lock:
            if relation.get("id") in self._relations:
                self._relations[relation.get("id")] = _kept(relation)

    def _search(self, filter_name: str, digits: str) -> list[dict[str, t.Any]]:
        search = (filter_name, digits)
        while True:
            with self._lock:
                remembered = self._remembered(search)
                if remembered is not None:
                    return remembered
                under_way = self._in_flight.get(search)
                if under_way is None:
                    self._in_flight[search] = threading.Event()
                    break
            under_way.wait()  # then read the answer it remembered (or search, if it failed)
        try:
            return self._ask(filter_name, digits)
        finally:
            with self._lock:
                self._in_flight.pop(search).set()

    def _ask(self, filter_name: str, digits: str) -> list[dict[str, t.Any]]:
        found = self.client.list_all(adminpulse_api.RELATIONS_PATH, {filter_name: digits})
        # The filter is an assumption about the real API: keep only true matches, so a filter
        # that matches loosely (or not at all) cannot link the wrong relation.
        matches = [_kept(r) for r in found if _holds(r, filter_name, digits)]
        with self._lock:
            self.lookups += 1
            _put(
                self._searches,
                (filter_name, digits),
                tuple(m["id"] for m in matches),
                self.cache_size,
            )
            for match in matches:
                _put(self._relations, match["id"], match, self.cache_size)
        return matches

    def _remembered(self, search: tuple[str, str]) -> list[dict[str, t.Any]] | None:
        """The relations of a search made before, or None when any was forgotten; under the lock."""
        ids = self._searches.get(search)
        if ids is None or any(i not in self._relations for i in ids):
            return None
        self._searches.move_to_end(search)
        for relation_id in ids:
            self._relations.move_to_end(relation_id)
        return [self._relations[i] for i in ids]


def _put(cache: OrderedDict[t.Any, t.Any], key: t.Any, value: t.Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def _kept(relation: dict[str, t.Any]) -> dict[str, t.Any]:
    return {name: relation.get(name) for name in KEPT_FIELDS}


def _holds(relation: dict[str, t.Any], filter_name: str, digits: str) -> bool:
    typed = relation.get(filter_name)
    if not typed:
        return False
    normalise = normalise_kbo if filter_name == adminpulse_api.FILTER_KBO else normalise_nrn
    try:
        return normalise(str(typed)) == digits
    except InvalidIdentifier:
        return False


def describe(relation: dict[str, t.Any]) -> str:
    """How logs name a relation: its code, never its identifiers."""
    return str(relation.get("code") or relation.get("id"))
