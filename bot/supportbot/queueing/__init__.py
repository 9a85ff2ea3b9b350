"""Ingest queue and worker: per-conversation mailboxes drained by rq-compatible asyncio workers.

`ingest.Ingestor` (webhook side) accepts messages; `worker.AsyncWorker` (the `supportbot worker`
process) runs many drain jobs concurrently, one turn at a time per conversation.
"""
