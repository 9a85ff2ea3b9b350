"""Shared fixtures: real Redis and PostgreSQL (private servers unless REDIS_URL/DATABASE_URL are
set), and the local Kubernetes control plane (see tests/cluster/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot_dev import controlplane, databases
from supportbot_dev.controlplane import Cluster
from supportbot_dev.postgres_server import start_postgres
from supportbot_dev.redis_server import start_redis


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """URL of a Redis server: $REDIS_URL, or a private redis-server for this session."""
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A Redis URL whose keyspace is empty at the start of the test (FLUSHDB before and after)."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    try:
        yield redis_server_url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def pipelined(redis_url: str) -> AsyncIterator[PipelinedRedis]:
    """The webhook's Redis transport (`Ingestor` and `ReportStore` run their scripts on it)."""
    client = PipelinedRedis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """Admin URL of a PostgreSQL server: $DATABASE_URL, or a private cluster for this session."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    server = start_postgres()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test only; dropped afterwards."""
    url = databases.create_database(postgres_server_url)
    try:
        yield url
    finally:
        databases.drop_database(postgres_server_url, url)


@pytest.fixture(scope="session")
def kube_api() -> Iterator[Cluster]:
    """API-only control plane (etcd + kube-apiserver), or the user's cluster when
    USE_EXISTING_CLUSTER=true (with KUBECONFIG)."""
    cluster = controlplane.from_environment(full=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kube_full() -> Iterator[Cluster]:
    """Full control plane: API server + controller-manager + scheduler + KWOK nodes."""
    cluster = controlplane.from_environment(full=True)
    try:
        yield cluster
    finally:
        cluster.stop()
