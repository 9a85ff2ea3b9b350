"""Adapters over rq's and redis-py's internals: the queue's fast paths, kept apart from its logic.

- `pipelined`: a pipelined asyncio Redis client for the webhook (hiredis packing, redis-py's
  ``redis._parsers`` error mapping and ``SSLConnection``/``parse_url``).
- `jobhash`: drain job hashes built from a per-tenant template of rq's ``Job.to_dict()``.
- `rqrecord`: runs rq's sync bookkeeping against a recorder and sends its writes in one
  MULTI/EXEC (subclasses redis-py's ``Pipeline``).
- `rqbridge`: rq's worker identity and job transitions (``BaseWorker``, ``Execution``,
  registries) for an asyncio worker that runs many jobs at once.

They lean on details neither library promises to keep. Proven against **rq 2.12.0**,
**redis-py 8.1.0** and **hiredis 3.5.0** (the versions `pip show rq redis hiredis` reports in the
dev environment). Equivalence tests guard them, so a library upgrade that changes what they rely
on fails there first:

- ``tests/bot/queueing/test_rqrecord.py``: the recorded start/success write what rq's own sync
  path writes (whole database compared); a read the recorder cannot answer raises.
- ``tests/bot/queueing/test_ingest.py``: ``test_prepared_job_hash_equals_rq_job_create_to_dict``
  and ``test_prepared_job_restores_as_the_rq_job`` (the template hash is rq's job).
- ``tests/bot/queueing/test_pipelined.py``: replies, redis-py's exception classes, NOSCRIPT
  reload, reconnects and timeouts of the pipelined client against a real Redis.

The queue's own modules (`ingest`, `mailbox`, `drain`, `worker`, ...) use only rq's public job
and exception types and redis-py's client; everything below that goes through these.
"""
