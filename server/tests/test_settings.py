from __future__ import annotations

from pathlib import Path

import pytest

from neon_server.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("NEON_HOME", "NEON_CONFIG", "NEON_PORT", "NEON_HOST", "NEON_ANALYTICS_URL",
                 "NEON_METADATA_URL", "NEON_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEON_HOME", str(tmp_path))
    return tmp_path


def test_embedded_defaults_live_under_home(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.home == clean_env
    assert settings.port == 3000
    assert settings.host == "127.0.0.1"
    assert settings.analytics_url == f"chdb://{clean_env / 'chdb'}"
    assert settings.metadata_url == f"sqlite:///{clean_env / 'neon.db'}"


def test_precedence_explicit_over_env_over_config_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "neon.toml").write_text('port = 4100\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    assert load_settings().port == 4100
    assert load_settings().host == "0.0.0.0"
    monkeypatch.setenv("NEON_PORT", "4200")
    assert load_settings().port == 4200
    assert load_settings().log_level == "debug"  # still from the file
    assert load_settings(port=4300).port == 4300


def test_config_file_named_by_env_and_neon_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[neon]\nport = 4500\n')
    monkeypatch.setenv("NEON_CONFIG", str(config))
    assert load_settings().port == 4500


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_PORT", "99999")
    with pytest.raises(SettingsError, match=r"port \[NEON_PORT\].*65535.*99999"):
        load_settings()


def test_bad_explicit_value_names_the_flag() -> None:
    with pytest.raises(SettingsError, match=r"log_level \[--log-level\]"):
        load_settings(log_level="loud")


def test_unknown_or_bad_config_file_keys_are_named(clean_env: Path) -> None:
    (clean_env / "neon.toml").write_text('prot = 1\nport = "x"\n')
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert "prot [config file key 'prot']: Extra inputs are not permitted" in message
    assert "port [config file key 'port']" in message


def test_bad_urls_say_what_is_accepted() -> None:
    with pytest.raises(SettingsError, match=r"analytics_url.*chdb://, clickhouse://, clickhouses://"):
        load_settings(analytics_url="mysql://x")
    with pytest.raises(SettingsError, match=r"metadata_url.*sqlite:///PATH"):
        load_settings(metadata_url="mongodb://x")


def test_missing_or_broken_config_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 3")
    monkeypatch.setenv("NEON_CONFIG", str(broken))
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings()


def test_url_for_clients() -> None:
    assert load_settings(host="0.0.0.0", port=0).url_for_clients(4321) == "http://127.0.0.1:4321"
    assert load_settings(public_url="https://neon.example.com/").url_for_clients(1) == "https://neon.example.com"
