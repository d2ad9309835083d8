"""``atoll.deploy.plan``: a system read into what each of its services needs to run alone."""

import pytest

from atoll.deploy.plan import FLEET_OPTIONS, dns_label, plan, sql_identifier
from atoll.errors import ConfigError
from atoll.kernel.entrypoint import load_config
from atoll.service.composition import compose_target
from runnerly.app import system

TARGET = "runnerly.app:system"


def secret_variables(service):
    return {opt.env_var(service.env_prefix) for opt in service.secrets}


def test_each_service_runs_alone_with_the_default_command_or_its_own():
    fleet = plan(
        system(), TARGET, only=["users", "auth"], commands={"auth": "atoll run atoll.auth:service"}
    )
    commands = {service.name: service.command for service in fleet.services}
    assert commands == {
        "users": ("python", "-m", "runnerly", "users"),
        "auth": ("atoll", "run", "atoll.auth:service"),
    }


def test_a_service_with_a_database_is_migrated_by_atoll_db_upgrade_of_the_system():
    (users,) = plan(system(), TARGET, only=["users"]).services
    assert users.has_database
    assert users.migrate == (
        "python", "-m", "atoll", "db", "upgrade", TARGET, "--service", "users"
    )  # fmt: skip


def test_the_environment_holds_the_fleets_options_the_systems_defaults_and_the_settings():
    fleet = plan(
        system(),
        TARGET,
        only=["users", "runs"],
        settings=["auth.jwt.issuer=http://auth:8000", "runs:messages.sign=true"],
    )
    users, runs = fleet.services
    assert users.environment["USERS_SERVER_HOST"] == FLEET_OPTIONS["server.host"]
    assert users.environment["USERS_DB_MIGRATE"] == "never"
    assert users.environment["USERS_BROKER_URL"] == "nats://nats:4222"
    assert users.environment["USERS_AUTH_ANONYMOUS"] == "false"  # the system's default
    assert users.environment["USERS_AUTH_JWT_ISSUER"] == "http://auth:8000"
    assert runs.environment["RUNS_MESSAGES_SIGN"] == "true"
    assert "USERS_MESSAGES_SIGN" not in users.environment


def test_no_secret_and_no_url_with_a_password_is_in_the_environment():
    fleet = plan(system(), TARGET, broker="rabbitmq")
    for service in fleet.services:
        assert not secret_variables(service) & set(service.environment)
        assert f"{service.env_prefix}_BROKER_URL" not in service.environment
        assert f"{service.env_prefix}_DB_URL" not in service.environment
        assert "broker.url" in service.url_keys


def test_the_auth_services_passphrase_is_one_of_its_secrets():
    (auth,) = plan(system(), TARGET, only=["auth"]).services
    assert "tokens.key_passphrase" in {opt.key for opt in auth.secrets}


@pytest.mark.parametrize("name", ["users", "runs", "stats", "auth"])
def test_the_environment_is_a_valid_configuration_of_the_service_alone(name):
    (service,) = plan(
        system(), TARGET, only=[name], settings=["auth.jwt.issuer=http://auth:8000"]
    ).services
    definition = next(s for s in system().services if s.name == name)
    config = load_config(compose_target(definition, serve=True), [], service.environment)
    assert config.section("server").port == 8000
    assert config.origin("server.host").kind == "env"


def test_a_setting_of_a_secret_is_refused():
    with pytest.raises(ConfigError, match=r"clients.client_secret is a secret; .*never inline"):
        plan(system(), TARGET, settings=["users:clients.client_secret=hunter2"])


@pytest.mark.parametrize("broker", ["nats", "rabbitmq", "redis"])
@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("broker.url=nats://user:pw@nats:4222", r"\[broker\] url"),
        ("broker.url=nats://s3cr3t-token@nats:4222", r"\[broker\] url"),  # NATS reads a token
        ("broker.url=nats://nats:4222,u:pw@nats-2:4222", r"\[broker\] url"),
        ("broker.url=redis://:pw@redis:6379/0", r"\[broker\] url"),
        ("users:clients.token_url=http://u:p@auth:8000/oauth/token", r"\[clients\] token_url"),
    ],
)
def test_a_setting_holding_a_password_is_refused_whatever_the_broker(broker, setting, where):
    key = setting.partition("=")[0].rpartition(":")[2]
    with pytest.raises(ConfigError, match=rf"setting {key}: .*secrets file \({where} = \.\.\.\)"):
        plan(system(), TARGET, broker=broker, settings=[setting])


def test_a_password_in_the_options_the_deployment_sets_is_refused_too():
    with pytest.raises(ConfigError, match=r"users: broker.url holds a password; .*\[broker\] url"):
        plan(system(), TARGET, only=["users"], environment={"broker.url": "nats://u:p@nats"})


def test_a_url_without_a_credential_is_a_setting_like_another():
    (users,) = plan(
        system(), TARGET, only=["users"], settings=["broker.url=redis://user@redis:6379/1"]
    ).services
    assert users.environment["USERS_BROKER_URL"] == "redis://user@redis:6379/1"


@pytest.mark.parametrize("key", ["server.port", "server.host", "server.enabled", "server.health"])
def test_a_setting_of_what_the_probes_rely_on_is_refused(key):
    with pytest.raises(ConfigError, match=rf"setting {key}: the files are written for"):
        plan(system(), TARGET, settings=[f"{key}=9000"])


def test_names_are_made_dns_labels_and_sql_identifiers():
    assert dns_label("Shop_API.v2_") == "shop-api-v2"
    assert dns_label("a" * 70) == "a" * 63
    assert sql_identifier("Shop-API.v2") == "shop_api_v2"
    fleet = plan(system(), TARGET, only=["users"])
    assert fleet.database("user-accounts") == "runnerly_user_accounts"


def test_a_setting_that_names_no_option_is_refused():
    with pytest.raises(ConfigError, match=r"setting auth\.jwt\.isuer names no option"):
        plan(system(), TARGET, settings=["auth.jwt.isuer=http://auth:8000"])


@pytest.mark.parametrize("text", ["no-equals", "=value", "nobody:log.level=debug"])
def test_a_malformed_setting_is_refused(text):
    with pytest.raises(ConfigError, match="is not KEY=VALUE or SERVICE:KEY=VALUE"):
        plan(system(), TARGET, settings=[text])


def test_a_service_the_system_lacks_is_refused():
    with pytest.raises(ConfigError, match="has no service 'billing'; its services: users"):
        plan(system(), TARGET, only=["billing"])


def test_the_stop_time_counts_the_pause_the_drain_and_the_grace():
    (users,) = plan(
        system(), TARGET, only=["users"], settings=["shutdown.grace=20", "shutdown.drain=2.5"]
    ).services
    assert (users.grace, users.drain) == (20.0, 2.5)
    assert users.stop_seconds(5) == 5 + 3 + 20 + 5  # 27.5 rounded up, and 5 to spare


def test_a_service_with_components_serves_those_of_its_image():
    (users,) = plan(system(), TARGET, only=["users"]).services
    assert users.environment["USERS_UI_BUILD"] == "never"
