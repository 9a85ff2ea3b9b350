"""Who holds a WhatsApp number: the pure rule the reconciler and the admission webhook share."""

from __future__ import annotations

from supportbot_operator import tenancy
from supportbot_operator.tenancy import Claim

OLD = Claim("2026-01-01T10:00:00Z", "b-team", "acme", "uid-old")
NEW = Claim("2026-01-01T10:00:05Z", "a-team", "acme", "uid-new")
SAME_SECOND = Claim("2026-01-01T10:00:00Z", "a-team", "zeta", "uid-z")


def test_the_older_claimant_keeps_the_number() -> None:
    assert tenancy.holder([NEW, OLD]) == OLD
    assert tenancy.conflict(OLD, "919100000001", [OLD, NEW]) is None
    problem = tenancy.conflict(NEW, "919100000001", [OLD, NEW])
    assert problem is not None and problem.reason == "NumberConflict"
    assert "SupportBot b-team/acme" in problem.message and "919100000001" in problem.message


def test_same_second_is_broken_by_namespace_then_name() -> None:
    assert tenancy.holder([OLD, SAME_SECOND]) == SAME_SECOND  # a-team < b-team
    assert tenancy.conflict(OLD, "1", [OLD, SAME_SECOND]) is not None


def test_an_earlier_incarnation_of_the_same_bot_never_counts() -> None:
    again = Claim("2026-01-02T00:00:00Z", OLD.namespace, OLD.name, "uid-recreated")
    assert tenancy.conflict(again, "1", [OLD]) is None
    assert tenancy.conflict(again, "1", []) is None


def test_claims_from_bodies() -> None:
    body = {
        "metadata": {"name": "n", "namespace": "ns", "uid": "u", "creationTimestamp": "T"},
        "spec": {"whatsapp": {"integratedNumber": "14155550123"}},
    }
    assert tenancy.number_of(body) == "14155550123"
    assert tenancy.claim_of(body) == Claim("T", "ns", "n", "u")
    assert tenancy.number_of({"spec": {}}) is None


def test_admission_refuses_a_new_claim_or_a_move_onto_a_taken_number() -> None:
    fresh = Claim("", "c-team", "new")
    message = tenancy.admission_conflict(fresh, "1", [OLD], number_changed=True)
    assert message is not None and "SupportBot b-team/acme" in message
    assert tenancy.admission_conflict(fresh, "1", [], number_changed=True) is None
    # Editing anything but the number is never refused, whoever holds it.
    assert tenancy.admission_conflict(NEW, "1", [OLD, NEW], number_changed=False) is None
    # Moving onto a number another bot holds is refused, even for an older bot.
    assert tenancy.admission_conflict(OLD, "1", [NEW], number_changed=True) is not None
    # Re-submitting itself (its own index entry) is no conflict.
    assert tenancy.admission_conflict(OLD, "1", [OLD], number_changed=True) is None
