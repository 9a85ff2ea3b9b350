"""The examples made local (`supportbot_dev.tenants.localise`): KEDA's Redis keys and settings
follow the tenant's local Redis URL, so a QueueDepth example scales on the right database."""

from __future__ import annotations

from supportbot.flow import validate_flow_text
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


def test_flow_http_steps_are_pointed_at_the_fake_order_backend() -> None:
    """Each example's order lookup calls the demo's fake backend: the URL origin replaced, the
    backend allow-listed, the backend key filled in, and the flow still valid with that list."""
    for directory in tenants.example_dirs():
        values = tenants.TenantValues(
            redis_url="redis://127.0.0.1:6390/2",
            database_url="postgresql://u@127.0.0.1:5432/db",
            msg91_base_url="http://127.0.0.1:1",
            openrouter_base_url="http://127.0.0.1:2/api/v1",
            orders_backend_url="http://127.0.0.1:8790",
        )
        docs = tenants.localise(tenants.load_example(directory), values)
        flow_spec = tenants.supportbot_of(docs)["spec"]["flow"]
        assert flow_spec["httpAllowHosts"] == ["127.0.0.1:8790"]
        ref = flow_spec["configMapRef"]
        (cm,) = [
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == ref["name"]
        ]
        text = cm["data"][ref["key"]]
        assert 'url: "http://127.0.0.1:8790/api/orders/{{order_id}}"' in text
        assert validate_flow_text(text, flow_spec["httpAllowHosts"]) == []
        for backend_ref in flow_spec["backendSecretRefs"]:
            (secret,) = [
                d
                for d in docs
                if d["kind"] == "Secret" and d["metadata"]["name"] == backend_ref["name"]
            ]
            assert secret["stringData"][backend_ref["key"]] == tenants.SIM_ORDERS_KEY
