"""Settings refuse missing or placeholder tokens outside development and never show secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from nexus_serving.settings import Settings


@pytest.mark.parametrize("tokens", ["", "changeme", "good-token-0123456789,changeme", "short"])
def test_weak_tokens_refused_outside_development(tokens):
    with pytest.raises(ValidationError, match="NEXUS_API_TOKENS"):
        Settings(env="production", api_tokens=SecretStr(tokens))


def test_development_allows_no_tokens():
    assert Settings(env="development").tokens == (b"dev-nexus-token",)


def test_tokens_from_environment_are_split_and_hidden(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEXUS_API_TOKENS", " first-token-0123456789 , second-token-0123456789 ")
    monkeypatch.setenv("NEXUS_ENV", "production")
    settings = Settings()
    assert settings.tokens == (b"first-token-0123456789", b"second-token-0123456789")
    assert "first-token" not in repr(settings)
    assert "first-token" not in str(settings.model_dump())
    assert settings.cache_dir.parts[-2:] == ("serving", "models")


def test_serve_refuses_to_start_without_tokens(monkeypatch: pytest.MonkeyPatch, capsys):
    from nexus_assets.cli import main
    from nexus_serving.settings import get_settings

    monkeypatch.setenv("NEXUS_ENV", "production")
    monkeypatch.delenv("NEXUS_API_TOKENS", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    assert "NEXUS_API_TOKENS" in capsys.readouterr().err
