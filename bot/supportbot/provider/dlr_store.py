"""Where delivery states live: the `DeliveryStateStore` protocol and an in-memory version.

The PostgreSQL implementation belongs to the storage layer: `load` is a SELECT by (tenant,
provider message id); `compare_and_set` an ``UPDATE ... WHERE state = $expected`` that returns
whether a row changed. Concurrent consumers stay correct because a lost race re-reads and
re-decides (`dlr_consumer.apply_to_store`). `InMemoryDeliveryStateStore` is for pure unit tests
and dev tools only.
"""

from __future__ import annotations

from typing import Protocol

from supportbot.messages import DeliveryState
from supportbot.provider.dlr import DeliveryRecord


class DeliveryStateStore(Protocol):
    async def load(self, tenant_id: str, provider_message_id: str) -> DeliveryRecord | None:
        """The message's record, or None when no outbound message has this id (yet)."""
        ...

    async def compare_and_set(
        self, tenant_id: str, expected: DeliveryState, record: DeliveryRecord
    ) -> bool:
        """Store `record` only if the stored state is still `expected`; True when stored."""
        ...


class InMemoryDeliveryStateStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], DeliveryRecord] = {}

    def register(self, tenant_id: str, provider_message_id: str) -> None:
        """An accepted send (state queued), as the attempt recorder would persist it."""
        self.records[(tenant_id, provider_message_id)] = DeliveryRecord(provider_message_id)

    async def load(self, tenant_id: str, provider_message_id: str) -> DeliveryRecord | None:
        return self.records.get((tenant_id, provider_message_id))

    async def compare_and_set(
        self, tenant_id: str, expected: DeliveryState, record: DeliveryRecord
    ) -> bool:
        key = (tenant_id, record.provider_message_id)
        current = self.records.get(key)
        if current is None or current.state != expected:
            return False
        self.records[key] = record
        return True
