"""The input contract: what a record must look like, and why one that does not is refused."""

from __future__ import annotations

from target_amlcare.contract import contract_problem


def relation(**fields):
    return {
        "id": 1,
        "uniqueIdentifier": "6f1c1d2e",
        "type": "person",
        "status": "customer",
        "nationalRegisterNumber": "85073003328",
        **fields,
    }


def test_a_complete_relation_passes():
    assert contract_problem("relations", relation()) is None


def test_unknown_fields_are_allowed_so_a_tap_may_send_more():
    assert contract_problem("relations", relation(favouriteColour="green")) is None


def test_a_missing_required_field_is_named():
    record = relation()
    del record["uniqueIdentifier"]

    assert contract_problem("relations", record) == (
        "record: 'uniqueIdentifier' is a required property"
    )


def test_a_wrong_type_names_the_field_but_never_quotes_the_value():
    problem = contract_problem("relations", relation(nationalRegisterNumber=85073003328))

    assert problem is not None
    assert problem.startswith("nationalRegisterNumber:")
    assert "85073003328" not in problem


def test_an_unknown_relation_type_is_refused():
    assert contract_problem("relations", relation(type="trust")) is not None


def test_an_identity_document_needs_its_relation_and_public_flag():
    document = {"id": 7, "relationIdentifier": "6f1c1d2e", "publicOnPortal": True}
    assert contract_problem("identity_documents", document) is None
    del document["publicOnPortal"]
    assert "publicOnPortal" in str(contract_problem("identity_documents", document))
