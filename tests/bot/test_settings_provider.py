"""The provider setting: MSG91 needs its shared webhook secret, Meta its ids and secrets."""

from __future__ import annotations

import pytest

from supportbot.settings import SettingsError, load_settings
from supportbot.webhook.auth import check_secret
from supportbot.webhook.errors import UnauthorizedError

BASE = {
    "SUPPORTBOT_TENANT_ID": "acme",
    "SUPPORTBOT_INTEGRATED_NUMBER": "919000000000",
    "SUPPORTBOT_REDIS_URL": "redis://127.0.0.1:1/0",
    "SUPPORTBOT_DATABASE_URL": "postgresql://u@127.0.0.1:1/db",
}
META = {
    "SUPPORTBOT_PROVIDER": "meta",
    "SUPPORTBOT_META_PHONE_NUMBER_ID": "106540352242922",
    "SUPPORTBOT_META_APP_SECRET": "app-secret",
    "SUPPORTBOT_META_VERIFY_TOKEN": "verify-me",
}


def test_msg91_is_the_default_and_needs_the_shared_secret() -> None:
    with pytest.raises(SettingsError, match="SUPPORTBOT_WEBHOOK_SECRET is required"):
        load_settings(BASE)
    settings = load_settings({**BASE, "MSG91_WEBHOOK_SECRET": "s3cret"})
    assert settings.provider == "msg91"
    assert settings.webhook_secret is not None


def test_meta_needs_its_number_id_app_secret_and_verify_token_not_the_msg91_secret() -> None:
    settings = load_settings({**BASE, **META})
    assert settings.provider == "meta"
    assert settings.webhook_secret is None
    assert settings.meta_phone_number_id == "106540352242922"
    assert settings.meta_base_url == "https://graph.facebook.com"
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "SUPPORTBOT_PROVIDER": "meta"})
    message = str(caught.value)
    for name in ("META_PHONE_NUMBER_ID", "META_APP_SECRET", "META_VERIFY_TOKEN"):
        assert f"SUPPORTBOT_{name}" in message


@pytest.mark.parametrize(
    "override",
    [
        {"SUPPORTBOT_META_PHONE_NUMBER_ID": "+1 555"},
        {"SUPPORTBOT_META_API_VERSION": "21"},
        {"SUPPORTBOT_PROVIDER": "gupshup"},
    ],
)
def test_bad_provider_values_are_refused_without_echoing_secrets(override: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **META, **override})
    assert "app-secret" not in str(caught.value)


def test_the_msg91_routes_accept_nobody_when_no_shared_secret_is_configured() -> None:
    settings = load_settings({**BASE, **META})
    for header in ("", "anything"):
        with pytest.raises(UnauthorizedError):
            check_secret(header, None, settings)
