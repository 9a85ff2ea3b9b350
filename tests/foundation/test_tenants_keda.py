"""The examples made local (`supportbot_dev.tenants.localise`): KEDA's Redis keys and settings
follow the tenant's local Redis URL, so a QueueDepth example scales on the right database."""

from __future__ import annotations

from supportbot_dev import tenants


def test_globex_keda_settings_follow_the_local_redis() -> None:
    (globex,) = [d for d in tenants.example_dirs() if d.name == "02-globex-telecom"]
    values = tenants.TenantValues(
        redis_url="redis://127.0.0.1:6390/2",
        database_url="postgresql://u@127.0.0.1:5432/db",
        msg91_base_url="http://127.0.0.1:1",
        openrouter_base_url="http://127.0.0.1:2/api/v1",
    )
    docs = tenants.localise(tenants.load_example(globex), values)
    bot = tenants.supportbot_of(docs)
    keda = bot["spec"]["worker"]["autoscaling"]["keda"]
    assert (keda["redisDatabase"], keda["redisTls"]) == (2, False)
    secret_name = bot["spec"]["storage"]["redisUrlSecretRef"]["name"]
    (secret,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == secret_name]
    data = secret["stringData"]
    assert data[keda["redisAddressKey"]] == "127.0.0.1:6390"
    assert data[keda["redisPasswordKey"]] == ""
    assert data[bot["spec"]["storage"]["redisUrlSecretRef"]["key"]] == values.redis_url
