"""Development harness: private Redis/PostgreSQL servers and the local Kubernetes control plane.

Used by the test fixtures, `make cluster`, the demo and the load tests. Not shipped in the wheel.
"""
