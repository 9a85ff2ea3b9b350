"""The fault suite (issue 11): each fault against the real processes, measured by the ledger.

- `plan`: which faults, how long, and the load around them (the full and the short suite);
- `load`: the customers (N customers x M messages, duplicate deliveries, NUL texts);
- `inject`: the faults themselves (PostgreSQL and Redis crashes, MSG91 5xx, worker SIGKILLs,
  idle and slowloris connections) and their heal;
- `runner`: one fault's run: a fresh stack, the load, the fault mid-load, the wait for answers;
- `table`: the results table and the pass/fail verdict (pure); `cli`: the command line.
"""
