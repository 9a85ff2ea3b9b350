"""The load driver's correctness checker (pure): it must detect lost, duplicated and reordered
replies, or the smoke run's zeros would mean nothing."""

from __future__ import annotations

from sbload.ledger import Item, Ledger, customer_of, phone_of, token


def _ledger(*items: tuple[int, int, str]) -> Ledger:
    ledger = Ledger()
    for customer, seq, expect in items:
        item = Item(customer, seq, "text", 100.0 + seq, expect)
        ledger.add(item)
        ledger.delivered(item, "accepted")
    return ledger


def test_every_message_answered_once_in_order_is_clean() -> None:
    ledger = _ledger((1, 0, "token"), (1, 1, "token"), (1, 2, "token"))
    ledger.on_reply(1, f"{token(1, 0)} where", 101.5)
    ledger.on_reply(1, f"{token(1, 1)} a\n{token(1, 2)} b", 103.0)  # a coalesced turn
    v = ledger.verdict()
    assert (v.expected, v.answered, v.lost, v.duplicated, v.reordered) == (3, 3, 0, 0, 0)
    assert sorted(round(lat, 1) for _, lat in ledger.latencies) == [1.0, 1.5, 2.0]


def test_lost_duplicated_and_reordered_replies_are_counted() -> None:
    ledger = _ledger((2, 0, "token"), (2, 1, "token"), (2, 2, "token"), (2, 3, "token"))
    ledger.on_reply(2, token(2, 1), 110.0)
    ledger.on_reply(2, token(2, 0), 111.0)  # older than an answered one: reordered
    ledger.on_reply(2, token(2, 1), 112.0)  # answered twice
    v = ledger.verdict()
    assert v.lost == 2  # seq 2 and 3 never answered
    assert v.duplicated == 1
    assert v.reordered >= 1
    assert not v.ok


def test_marker_replies_answer_the_oldest_waiting_message_and_extras_are_duplicates() -> None:
    ledger = _ledger((3, 0, "LT-WELCOME"), (3, 1, "LT-ASK"), (3, 2, "LT-ASK"))
    ledger.on_reply(3, "LT-WELCOME How can we help?", 120.0)
    ledger.on_reply(3, "LT-ASK Sure", 121.0)
    assert ledger.book(3).items[1].answers == 1
    assert ledger.waiting(3)  # seq 2 still waits
    ledger.on_reply(3, "LT-ASK Sure", 122.0)
    ledger.on_reply(3, "LT-ASK Sure", 123.0)  # nothing left to answer
    v = ledger.verdict()
    assert (v.lost, v.duplicated, v.reordered) == (0, 1, 0)


def test_throttled_messages_are_not_expected_and_other_customers_tokens_ignored() -> None:
    ledger = _ledger((4, 0, "token"))
    throttled = Item(4, 1, "text", 130.0, "token")
    ledger.add(throttled)
    ledger.delivered(throttled, "throttled")
    ledger.on_reply(4, f"{token(4, 0)} and {token(5, 0)}", 131.0)
    v = ledger.verdict()
    assert (v.expected, v.answered, v.throttled, v.lost) == (1, 1, 1, 0)


def test_a_duplicate_delivery_accepted_first_still_counts_as_accepted() -> None:
    ledger = Ledger()
    item = Item(6, 0, "text", 140.0, "token")
    ledger.add(item)
    ledger.delivered(item, "duplicate")
    ledger.delivered(item, "accepted")
    assert item.ack == "accepted" and ledger.waiting(6)


def test_phone_numbers_round_trip() -> None:
    assert customer_of(phone_of(42)) == 42
    assert customer_of("14155550123") is None


def test_a_marker_reply_answers_an_acknowledged_message_before_a_rejected_one() -> None:
    ledger = Ledger()
    rejected = Item(4, 0, "text", 100.0, "LT-WELCOME")
    ledger.add(rejected)
    ledger.delivered(rejected, "error")  # never acknowledged: the bot did not see it
    retyped = Item(4, 1, "text", 101.0, "LT-WELCOME")
    ledger.add(retyped)
    ledger.delivered(retyped, "accepted")
    ledger.on_reply(4, "LT-WELCOME How can we help?", 102.0)
    assert (rejected.answers, retyped.answers) == (0, 1)
    v = ledger.verdict()
    assert (v.lost, v.duplicated, v.errors) == (0, 0, 1)
