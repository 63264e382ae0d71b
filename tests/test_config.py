import pytest

from sbems.config import SettingsError, load_settings


def test_defaults_need_no_environment(monkeypatch):
    monkeypatch.delenv("SBEMS_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.timezone == "UTC"
    assert settings.bacnet_write_priority not in (8, 16)


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("SBEMS_TIMEZONE", "Mars/Base", "unknown time zone"),
        ("SBEMS_DATABASE_URL", "mysql://x", "postgresql://"),
        ("SBEMS_MQTT_URL", "http://broker", "mqtt://"),
        ("SBEMS_BACNET_WRITE_PRIORITY", "8", "reserved"),
        ("SBEMS_BACNET_LOCAL_PORT", "not-a-port", "integer"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, var, value, fragment):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(var + ":")
    assert fragment in message
    assert "\n" not in message
