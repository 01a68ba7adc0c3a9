"""Settings: `.env.example` documents every setting, precedence (CLI > env > .env > default), validation."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from app.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = ROOT / ".env.example"
DOCS = ROOT / "docs" / "configuration.md"

# `NAME=value`, optionally commented out (`# NAME=value`).
ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def primary_env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        assert isinstance(first, str)
        return first
    assert isinstance(alias, str), f"{field_name} has no env alias"
    return alias


ALL_ENV_NAMES = {name: primary_env_name(name) for name in Settings.model_fields}


def env_example_assignments() -> dict[str, tuple[bool, str]]:
    """name -> (commented out, value) for every assignment line in .env.example."""
    out: dict[str, tuple[bool, str]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = ASSIGNMENT.match(line.strip())
        if m:
            assert m["name"] not in out, f"{m['name']} appears twice in .env.example"
            out[m["name"]] = (bool(m["commented"]), m["value"])
    return out


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting from the caller's environment or .env leaks in: empty cwd, every alias unset."""
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias or field_name]
        for n in names:
            if isinstance(n, str):
                monkeypatch.delenv(n, raising=False)
                monkeypatch.delenv(n.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- .env.example cannot drift ---------------------------------------------------------------------


def test_env_example_lists_every_setting() -> None:
    documented = env_example_assignments()
    missing = sorted(env for env in ALL_ENV_NAMES.values() if env not in documented)
    assert not missing, f".env.example lacks {missing}"


def test_env_example_has_a_comment_for_every_setting() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for env in ALL_ENV_NAMES.values():
        idx = next(i for i, line in enumerate(lines) if ASSIGNMENT.match(line.strip())
                   and ASSIGNMENT.match(line.strip())["name"] == env)  # type: ignore[index]
        above = lines[idx - 1].strip()
        assert above.startswith("#") and not ASSIGNMENT.match(above), f"{env} has no comment line above it"


def test_env_example_groups_in_order() -> None:
    """Original names first, then OPS_*, then the OpenStack OS_* variables (all commented out)."""
    names = list(env_example_assignments())
    original = [n for n in names if not n.startswith(("OPS_", "OS_"))]
    ours = [n for n in names if n.startswith("OPS_")]
    openstack = [n for n in names if n.startswith("OS_")]
    assert names == original + ours + openstack
    assert set(original) == {"MCP_LOG_LEVEL", "FASTMCP_TYPE", "FASTMCP_HOST", "FASTMCP_PORT",
                             "REMOTE_AUTH_ENABLE", "REMOTE_SECRET_KEY", "ALLOW_MODIFY_OPERATIONS"}
    assignments = env_example_assignments()
    assert all(assignments[n][0] for n in openstack), "OS_* variables must be commented out"
    for required in ("OS_CLOUD", "OS_AUTH_URL", "OS_APPLICATION_CREDENTIAL_ID", "OS_CACERT"):
        assert required in openstack


def test_env_example_holds_no_secret_value() -> None:
    assignments = env_example_assignments()
    for name in ("REMOTE_SECRET_KEY", "OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET"):
        commented, value = assignments[name]
        assert commented and value == "", f"{name} must be commented out and empty"


def test_env_example_values_are_the_defaults(clean_env: Path) -> None:
    """Copied as-is to .env, the example loads and changes nothing: its values are the real defaults."""
    shutil.copy(ENV_EXAMPLE, clean_env / ".env")
    from_example = load_settings()
    (clean_env / ".env").unlink()
    defaults = load_settings()
    assert from_example.model_dump() == defaults.model_dump()
    # and every active line really was read (a typo in a name would be ignored silently)
    active = {n for n, (commented, _) in env_example_assignments().items() if not commented}
    assert active <= set(ALL_ENV_NAMES.values())


def test_configuration_doc_lists_every_setting() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = sorted(env for env in ALL_ENV_NAMES.values() if f"`{env}`" not in text)
    assert not missing, f"docs/configuration.md lacks {missing}"


# --- precedence: CLI override > environment > .env > default ------------------------------------------


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert (s.transport, s.host, s.port, s.log_level) == ("stdio", "127.0.0.1", 8080, "INFO")
    assert s.auth_enable is False and s.secret_key is None and s.allow_modify_operations is False
    assert s.allow_unauthenticated_remote is False and s.poller_enabled is True
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith("snapshot.db")


def test_dotenv_beats_default(clean_env: Path) -> None:
    (clean_env / ".env").write_text("FASTMCP_PORT=9001\nMCP_LOG_LEVEL=debug\nOPS_POLL_INTERVALS='{\"servers\": 30}'\n")
    s = load_settings()
    assert s.port == 9001 and s.log_level == "DEBUG"
    assert s.poll_interval("servers") == 30.0 and s.poll_interval("flavors", 600.0) == 600.0
    assert s.host == "127.0.0.1"  # untouched keys keep their default


def test_env_beats_dotenv(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("FASTMCP_PORT=9001\nFASTMCP_HOST=127.0.0.2\n")
    monkeypatch.setenv("FASTMCP_PORT", "9002")
    s = load_settings()
    assert s.port == 9002
    assert s.host == "127.0.0.2"  # only in .env


def test_cli_beats_env_and_dotenv(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("FASTMCP_PORT=9001\nFASTMCP_TYPE=streamable-http\n")
    monkeypatch.setenv("FASTMCP_PORT", "9002")
    monkeypatch.setenv("REMOTE_AUTH_ENABLE", "true")
    s = load_settings(port=9003, auth_enable=False)
    assert s.port == 9003 and s.auth_enable is False
    assert s.transport == "streamable-http"


def test_none_overrides_are_ignored(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An absent CLI flag (argparse default None) does not hide the environment."""
    monkeypatch.setenv("FASTMCP_PORT", "9002")
    monkeypatch.setenv("OPS_POLLER_ENABLED", "false")
    s = load_settings(port=None, poller_enabled=None, host=None)
    assert s.port == 9002 and s.poller_enabled is False and s.host == "127.0.0.1"


def test_cli_flags_map_onto_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` flags go through load_settings and beat the environment."""
    from app.cli import build_parser
    from app.server_cli import _settings_from

    monkeypatch.setenv("FASTMCP_PORT", "9002")
    monkeypatch.setenv("FASTMCP_TYPE", "stdio")
    args = build_parser().parse_args(
        ["serve", "--type", "streamable-http", "--port", "9100", "--host", "0.0.0.0", "--auth-enable",
         "--secret-key", "s3cret", "--no-poller", "--log-level", "warning", "--database-url", "sqlite:///x.db"]
    )
    s = _settings_from(args)
    assert (s.transport, s.port, s.host, s.auth_enable, s.poller_enabled, s.log_level, s.database_url) == (
        "streamable-http", 9100, "0.0.0.0", True, False, "WARNING", "sqlite:///x.db")
    assert s.secret_key is not None and s.secret_key.get_secret_value() == "s3cret"


def test_secret_is_not_printed(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_SECRET_KEY", "very-secret-token")
    s = load_settings()
    assert "very-secret-token" not in repr(s) and "very-secret-token" not in str(s.model_dump())
    assert s.secret_key is not None and s.secret_key.get_secret_value() == "very-secret-token"


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [-1, 65536, 100000])
def test_bad_port_override(clean_env: Path, port: int) -> None:
    with pytest.raises(ValidationError, match="port|FASTMCP_PORT"):
        load_settings(port=port)


@pytest.mark.parametrize("value", ["abc", "70000", "8080.5"])
def test_bad_port_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FASTMCP_PORT", value)
    with pytest.raises(ValidationError, match="FASTMCP_PORT"):
        load_settings()


def test_bad_log_level(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="log_level|MCP_LOG_LEVEL"):
        load_settings(log_level="LOUD")
    monkeypatch.setenv("MCP_LOG_LEVEL", "verbose")
    with pytest.raises(ValidationError, match="MCP_LOG_LEVEL"):
        load_settings()


def test_log_level_is_case_insensitive(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_LOG_LEVEL", "warning")
    assert load_settings().log_level == "WARNING"


@pytest.mark.parametrize("value", ["sse", "http", "STDIO"])
def test_bad_transport(clean_env: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FASTMCP_TYPE", value)
    with pytest.raises(ValidationError, match="FASTMCP_TYPE"):
        load_settings()
    with pytest.raises(ValidationError):
        load_settings(transport=value)


def test_empty_variables_mean_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`FOO=` in a shell or .env is treated as not set (the default applies), not as an empty value."""
    for name in ("FASTMCP_TYPE", "OS_CLOUD", "REMOTE_SECRET_KEY", "OPS_ALLOWED_HOSTS"):
        monkeypatch.setenv(name, "")
    s = load_settings()
    assert (s.transport, s.os_cloud, s.secret_key, s.allowed_hosts) == ("stdio", None, None, [])


def test_list_settings_take_commas_or_json(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_ALLOWED_HOSTS", "mcp.example.com, 127.0.0.1:8080")
    assert load_settings().allowed_hosts == ["mcp.example.com", "127.0.0.1:8080"]
    monkeypatch.setenv("OPS_ALLOWED_HOSTS", '["a.example"]')
    assert load_settings().allowed_hosts == ["a.example"]


@pytest.mark.parametrize(("env", "value"), [
    ("OPS_POLL_INTERVAL", "0"),
    ("OPS_POLL_INTERVAL", "-5"),
    ("OPS_SDK_CONCURRENCY", "0"),
    ("OPS_SDK_CONCURRENCY", "65"),
    ("OPS_PAGE_SIZE", "0"),
    ("OPS_LEASE_TTL", "0"),
    ("REMOTE_AUTH_ENABLE", "maybe"),
])
def test_bad_numbers_and_booleans(clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=env):
        load_settings()


def test_bad_value_in_dotenv_is_reported(clean_env: Path) -> None:
    (clean_env / ".env").write_text("FASTMCP_PORT=http\n")
    with pytest.raises(ValidationError, match="FASTMCP_PORT"):
        load_settings()


def test_json_settings_from_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_ALLOWED_HOSTS", '["mcp.example.com", "mcp.example.com:443"]')
    monkeypatch.setenv("OPS_POLL_INTERVALS", '{"servers": 15, "hypervisors": 120}')
    s = load_settings()
    assert s.allowed_hosts == ["mcp.example.com", "mcp.example.com:443"]
    assert s.poll_interval("servers") == 15.0 and s.poll_interval("hypervisors") == 120.0
    assert s.poll_interval("networks") == s.default_poll_interval == 60.0


@pytest.mark.parametrize(("env", "field"), [("HOST", "host"), ("PORT", "port"), ("SECRET_KEY", "secret_key"),
                                            ("DATABASE_URL", "database_url"), ("TRANSPORT", "transport")])
def test_generic_env_names_are_not_read(clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: str,
                                        field: str) -> None:
    """Only the documented names configure the server: a Django `SECRET_KEY` or a PaaS `PORT`/`HOST`
    in the environment must not become the bearer token or the bind address."""
    default = getattr(load_settings(), field)
    monkeypatch.setenv(env, {"PORT": "5000", "TRANSPORT": "streamable-http"}.get(env, "0.0.0.0"))
    assert getattr(load_settings(), field) == default
