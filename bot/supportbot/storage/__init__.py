"""Conversation history (PostgreSQL via asyncpg), sessions (Redis) and the raw-body archive.

Modules: `migrations` (versioned SQL in `sql/`), `db` (pool from settings), `history`
(conversations and messages), `delivery` (monotonic delivery states, attempts), `turns`,
`queries` (agent-API reads), `export`, `retention`, `archive` (Redis stream -> PostgreSQL),
`sessions` (Redis session state) and `cli` (`supportbot migrate` / `supportbot storage ...`).
Every function takes its pool or Redis client explicitly and filters on the tenant id.
"""
