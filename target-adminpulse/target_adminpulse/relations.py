"""Finding the AdminPulse relation of an AMLCare client, once per run per identifier."""

from __future__ import annotations

import typing as t

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


class RelationFinder:
    """Looks relations up by KBO or national register number, remembering every answer.

    A run asks AdminPulse once per identifier, whatever number of clients and documents point at
    it; updates made during the run refresh the remembered relation.
    """

    def __init__(self, client: AdminPulseClient) -> None:
        self.client = client
        self._cache: dict[tuple[str, str], list[dict[str, t.Any]]] = {}
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
        """Replace a cached relation by its updated version."""
        for matches in self._cache.values():
            for index, cached in enumerate(matches):
                if cached.get("id") == relation.get("id"):
                    matches[index] = relation

    def _search(self, filter_name: str, digits: str) -> list[dict[str, t.Any]]:
        cache_key = (filter_name, digits)
        if cache_key not in self._cache:
            self.lookups += 1
            found = self.client.list_all(adminpulse_api.RELATIONS_PATH, {filter_name: digits})
            # The filter is an assumption about the real API: keep only true matches, so a
            # filter that matches loosely (or not at all) cannot link the wrong relation.
            self._cache[cache_key] = [r for r in found if _holds(r, filter_name, digits)]
        return self._cache[cache_key]


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
