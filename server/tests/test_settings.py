from __future__ import annotations

import os
from pathlib import Path

import pytest

from neon_server.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in [n for n in os.environ if n.startswith("NEON_")]:
        monkeypatch.delenv(name)
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


def test_temporal_defaults_run_the_embedded_dev_server(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.temporal_embedded
    assert settings.temporal_dir == clean_env / "temporal"
    assert settings.temporal_namespace == "default"
    assert settings.temporal_dev_port == 0
    assert settings.agents_path == clean_env / "agents"
    assert settings.agent_task_queue == "neon-agents"
    assert settings.agent_worker is True
    assert settings.agent_worker_factory == "neon.execute.worker:create_worker"


def test_temporal_cluster_settings_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("NEON_TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("NEON_TEMPORAL_TLS", "true")
    monkeypatch.setenv("NEON_TEMPORAL_TLS_CA", str(ca))
    monkeypatch.setenv("NEON_AGENTS_PATH", str(tmp_path / "specs"))
    monkeypatch.setenv("NEON_AGENT_WORKER", "false")
    settings = load_settings()
    assert not settings.temporal_embedded
    assert settings.temporal_address == "temporal.internal:7233"
    assert settings.temporal_tls_ca == ca
    assert settings.agents_path == tmp_path / "specs"
    assert settings.agent_worker is False
    assert load_settings(agents_path=".").agents_path == Path(".")  # an explicit value is kept as given


def test_bad_temporal_settings_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"temporal_address \[--temporal-address\]: .*must be host:port"):
        load_settings(temporal_address="http://temporal:7233")
    monkeypatch.setenv("NEON_TEMPORAL_API_KEY", "secret")
    with pytest.raises(SettingsError, match=r"temporal_api_key \[NEON_TEMPORAL_API_KEY\]: .*temporal_address is "
                                            r"empty"):
        load_settings()
    monkeypatch.delenv("NEON_TEMPORAL_API_KEY")
    with pytest.raises(SettingsError, match=r"temporal_tls_ca .*file .*missing.pem does not exist"):
        load_settings(temporal_address="t:7233", temporal_tls=True, temporal_tls_ca=str(tmp_path / "missing.pem"))
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match=r"temporal_tls_cert .*temporal_tls is false"):
        load_settings(temporal_address="t:7233", temporal_tls_cert=str(cert))
    with pytest.raises(SettingsError, match=r"temporal_tls_key .*set both or neither"):
        load_settings(temporal_address="t:7233", temporal_tls=True, temporal_tls_cert=str(cert))
    with pytest.raises(SettingsError, match=r"temporal_dev_port \[--temporal-dev-port\]"):
        load_settings(temporal_dev_port=70000)
    with pytest.raises(SettingsError, match=r"agent_worker_factory .*must be module:function"):
        load_settings(agent_worker_factory="just_a_module")
