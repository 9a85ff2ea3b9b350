"""The in-memory cluster view: which names exist (any owner), which objects are the tenant's."""

from __future__ import annotations

from supportbot_operator import view


def test_exists_answers_from_the_name_indices_or_does_not_know() -> None:
    cluster = view.ClusterView(
        bots={},
        refs={},
        secrets={},
        configmaps={("ns", "flow"): [{"flow.yaml": "d"}]},
        names={"Service": {("ns", "taken"): ["uid-x"], ("ns", "gone"): []}},
    )
    assert cluster.exists("Service", "ns", "taken") is True
    assert cluster.exists("Service", "ns", "free") is False
    assert cluster.exists("Service", "ns", "gone") is False, "an emptied index entry"
    assert cluster.exists("ConfigMap", "ns", "flow") is True
    assert cluster.exists("ConfigMap", "other", "flow") is False
    assert cluster.exists("Deployment", "ns", "x") is None, "no index: ask the API server"


def test_name_indices_cover_every_child_kind_but_configmaps() -> None:
    plurals = {plural for _, _, plural in view.CHILD_INDICES.values()}
    indexed = {plural for _, _, plural, _ in view.NAME_INDICES.values()}
    assert indexed == plurals - {"configmaps"}
