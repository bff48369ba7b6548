"""The one settings object: TOML under the environment, secret types, enums, errors that name the variable,
the README's table in step with the fields — and the bugs of reading settings in five places (issue 14)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import ROOT, Inbox, free_port
from pydantic import SecretStr

from monitor.config import ConfigError, Settings
from notifier.channels import SmtpSecurity, SmtpSettings
from sandbox.telegram import TelegramEmulator

TOKEN = "424242:AAHsecret-token-value-XYZ0123456789"


def nianbao(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_toml_file_under_environment_with_types(tmp_path: Path) -> None:
    config = tmp_path / "nianbao.toml"
    config.write_text('poll_interval = 600\nsmtp_host = "mail.example.org"\nsmtp_security = "starttls"\n'
                      'web = true\nallowed_hosts = ["127.0.0.1", "10.0.0.5"]\ntelegram_admins = [7, 8]\n'
                      f'telegram_token = "{TOKEN}"\ntimezone = "Asia/Urumqi"\n', encoding="utf-8")
    settings = Settings.from_env({"NIANBAO_CONFIG": str(config), "NIANBAO_POLL_INTERVAL": "900",
                                  "NIANBAO_DATA_DIR": str(tmp_path)})
    assert settings.poll_interval == 900  # the environment wins over the file
    assert settings.web is True and settings.allowed_hosts == ("127.0.0.1", "10.0.0.5")
    assert settings.telegram_admins == (7, 8) and settings.timezone == "Asia/Urumqi"
    assert settings.smtp_security is SmtpSecurity.STARTTLS
    smtp = settings.smtp()
    assert smtp is not None and (smtp.host, smtp.port, smtp.security) == ("mail.example.org", 587, "starttls")
    assert isinstance(settings.telegram_token, SecretStr) and settings.telegram_token.get_secret_value() == TOKEN
    assert settings.database_url == f"sqlite:///{tmp_path / 'nianbao.db'}"
    # the crawl child gets the file's values as variables
    assert settings.child_environment()["NIANBAO_SMTP_HOST"] == "mail.example.org"
    # an explicit file (--config) is used without NIANBAO_CONFIG
    assert Settings.from_env({}, config_file=str(config)).poll_interval == 600


def test_secrets_never_print(tmp_path: Path) -> None:
    settings = Settings.from_env({"NIANBAO_TELEGRAM_TOKEN": TOKEN, "NIANBAO_SMTP_PASSWORD": "smtp-pass-4711",
                                  "NIANBAO_ADMIN_PASSWORD": "admin-pass-4711", "NIANBAO_WEB_SECRET": "web-key-4711",
                                  "NIANBAO_SITES": "https://reader:sites-pass-4711@registry.example/sites.yaml",
                                  "NIANBAO_DATABASE_URL": "postgresql+psycopg://nb:db-pass-4711@db/nianbao"})
    shown = " ".join([repr(settings), str(settings), f"{settings}", str(settings.describe()), repr(settings.smtp())])
    for secret in (TOKEN, "smtp-pass-4711", "admin-pass-4711", "web-key-4711", "sites-pass-4711", "db-pass-4711"):
        assert secret not in shown, secret
    assert settings.describe()["telegram"] == "configured"
    assert repr(SmtpSettings(password="pw-4711")).count("pw-4711") == 0


@pytest.mark.parametrize(("name", "value"), [
    ("NIANBAO_SMTP_SECURITY", "tls"), ("NIANBAO_SMTP_SECURITY", "SSL"), ("NIANBAO_SMTP_SECURITY", "bogus"),
    ("NIANBAO_SMTP_PORT", "abc"), ("NIANBAO_SMTP_PORT", "70000"), ("NIANBAO_POLL_INTERVAL", "soon"),
    ("NIANBAO_SEASON", "spring"), ("NIANBAO_SEASON", "02-30..04-15"), ("NIANBAO_DIGEST_HOUR", "25"),
    ("NIANBAO_WEB", "maybe"), ("NIANBAO_TIMEZONE", "Mars/Olympus"), ("NIANBAO_TELEGRAM_ADMINS", "alice"),
    ("NIANBAO_POLL_JITTER", "0.9"), ("NIANBAO_CRAWL_LOG_LEVEL", "LOUD"),
])
def test_bad_values_are_refused_with_the_variables_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_bad_value_in_the_file_names_variable_and_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('smtp_security = "tls"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"NIANBAO_SMTP_SECURITY \(smtp_security in .*c\.toml\)"):
        Settings.from_env({"NIANBAO_CONFIG": str(config)})
    config.write_text('smtp_hots = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting.*smtp_hots"):
        Settings.from_env({"NIANBAO_CONFIG": str(config)})


def test_a_secret_in_a_bad_value_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"NIANBAO_TELEGRAM_TOKEN": TOKEN, "NIANBAO_SMTP_PORT": "abc"})
    assert TOKEN not in str(caught.value)


def test_smtp_channel_refuses_unknown_security() -> None:
    with pytest.raises(ValueError, match="none, starttls, ssl"):
        SmtpSettings(security="tls")


def test_cli_bad_port_is_one_clear_line_without_traceback(tmp_path: Path) -> None:
    result = nianbao("status", env={"NIANBAO_SMTP_PORT": "abc", "NIANBAO_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "NIANBAO_SMTP_PORT='abc'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _readme_variables() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    return [m.group(1) for line in section.splitlines() if line.startswith("| `NIANBAO_")
            for m in [re.match(r"\| `(NIANBAO_[A-Z0-9_]+)`", line)] if m]


def test_every_setting_is_documented_in_the_readme_table_and_nothing_else() -> None:
    documented = _readme_variables()
    fields = {"NIANBAO_" + name.upper() for name in Settings.model_fields if name != "environment"}
    assert len(documented) == len(set(documented)), "a variable is listed twice"
    assert fields - set(documented) == set(), "settings missing from the README's configuration table"
    assert set(documented) - fields == set(), "the README documents settings that do not exist"


def test_config_file_reaches_the_bot(tmp_path: Path) -> None:
    """`nianbao --config cfg.toml bot` used to say the token was not set (it read the environment only)."""
    emulator = TelegramEmulator(TOKEN).start()
    config = tmp_path / "cfg.toml"
    # the base URL without its /bot suffix, as people write it: it used to put the token into "Invalid port"
    config.write_text(f'data_dir = "{tmp_path}"\ntelegram_token = "{TOKEN}"\n'
                      f'telegram_base_url = "{emulator.base_url.removesuffix("/bot")}"\n', encoding="utf-8")
    assert nianbao("--config", str(config), "db", "upgrade").returncode == 0
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    bot = subprocess.Popen([sys.executable, "-m", "monitor.cli", "--config", str(config), "bot"], cwd=ROOT, env=base,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emulator.wait_for(lambda: bool(emulator.state.commands), timeout=30), "the bot never started"
    finally:
        bot.send_signal(signal.SIGINT)
        _, err = bot.communicate(timeout=20)
        emulator.shutdown()
    assert TOKEN not in err and "not set" not in err


def test_digest_send_uses_the_config_files_smtp_host(tmp_path: Path) -> None:
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = tmp_path / "cfg.toml"
        config.write_text(f'data_dir = "{tmp_path}"\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
                          'smtp_from = "digest@example.org"\n', encoding="utf-8")
        assert nianbao("--config", str(config), "db", "upgrade").returncode == 0
        result = nianbao("--config", str(config), "digest", "--week", "2025-W12", "--to", "office@example.org",
                         "--send")
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 10
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        controller.stop()
    assert [str(m["From"]) for m in inbox.messages] == ["digest@example.org"]


def test_the_smtp_adapter_for_other_callers_has_the_same_rules() -> None:
    assert SmtpSettings.from_env({}) is None
    smtp = SmtpSettings.from_env({"NIANBAO_SMTP_HOST": "m", "NIANBAO_SMTP_SECURITY": "ssl"})
    assert smtp is not None and (smtp.port, smtp.security) == (465, "ssl")
    for name, value in (("NIANBAO_SMTP_SECURITY", "tls"), ("NIANBAO_SMTP_SECURITY", "SSL"),
                        ("NIANBAO_SMTP_PORT", "abc")):
        with pytest.raises(ValueError, match=name):
            SmtpSettings.from_env({"NIANBAO_SMTP_HOST": "m", name: value})
