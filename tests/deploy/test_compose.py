"""``atoll deploy compose``: a compose file for a system's fleet, checked for what matters.

No compose schema is at hand: the tests read the file and check its structure, the order
the containers start in, and that every secret is a file, never a value in the file.
"""

import re
from pathlib import Path

import pytest
import yaml

from atoll.deploy.compose import compose_file, secret_files
from atoll.deploy.plan import DEFAULT_PASSWORD_PLACEHOLDER, plan
from runnerly.app import system

TARGET = "runnerly.app:system"
FLEET = ["users", "runs", "stats", "auth"]


def fleet_of(broker="nats", **choices):
    return plan(system(), TARGET, broker=broker, only=FLEET, **choices)


def compose(broker="nats", **choices):
    return yaml.safe_load(compose_file(fleet_of(broker, **choices), command="atoll deploy ..."))


@pytest.mark.parametrize("broker", ["nats", "rabbitmq", "redis"])
def test_every_container_has_an_image_and_what_it_depends_on_is_there(broker):
    document = compose(broker)
    services = document["services"]
    assert set(services) == {
        "postgres", "databases", broker, *FLEET, *(f"{name}-migrate" for name in FLEET)
    }  # fmt: skip
    for name, service in services.items():
        assert service["image"], name
        for other, condition in service.get("depends_on", {}).items():
            assert other in services, f"{name} depends on {other}, which is not there"
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[other], f"{other} is waited for, unchecked"


def test_a_service_starts_once_its_migration_has_completed_and_the_broker_is_healthy():
    services = compose()["services"]
    assert services["users"]["depends_on"] == {
        "nats": {"condition": "service_healthy"},
        "users-migrate": {"condition": "service_completed_successfully"},
    }
    assert services["users-migrate"]["depends_on"] == {
        "databases": {"condition": "service_completed_successfully"}
    }
    assert services["users-migrate"]["command"] == [
        "python", "-m", "atoll", "db", "upgrade", TARGET, "--service", "users"
    ]  # fmt: skip
    assert services["databases"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_the_databases_job_makes_a_database_per_service_where_missing():
    script = compose()["services"]["databases"]["command"][-1]
    assert "for name in runnerly_users runnerly_runs runnerly_stats runnerly_auth;" in script
    # $$: a dollar sign to compose; the name quoted, an identifier to PostgreSQL.
    assert '--dbname postgres --command "CREATE DATABASE \\"$$name\\"" || exit 1' in script
    assert "/run/secrets/postgres-password" in script


def test_each_service_runs_alone_with_its_health_checked_and_time_to_stop():
    users = compose()["services"]["users"]
    assert users["command"] == ["python", "-m", "runnerly", "users"]
    assert "/health/ready" in users["healthcheck"]["test"][-1]
    assert users["stop_grace_period"] == "15s"  # the grace of 10 s, and 5 to spare
    assert users["ports"] == ["127.0.0.1:8001:8000"]


def test_nats_runs_with_jetstream():
    assert "-js" in compose("nats")["services"]["nats"]["command"]


def test_rabbitmq_gets_its_user_from_a_secret_and_the_services_its_url_from_theirs():
    document = compose("rabbitmq")
    rabbitmq = document["services"]["rabbitmq"]
    assert rabbitmq["secrets"] == [
        {"source": "rabbitmq", "target": "/etc/rabbitmq/conf.d/90-atoll.conf"}
    ]
    assert "USERS_BROKER_URL" not in document["services"]["users"]["environment"]


def test_every_secret_used_is_declared_as_a_file_and_every_file_is_used():
    document = compose("rabbitmq")
    declared = document["secrets"]
    used = set()
    for service in document["services"].values():
        for secret in service.get("secrets", []):
            used.add(secret["source"] if isinstance(secret, dict) else secret)
    assert used == set(declared)
    assert all(set(entry) == {"file"} for entry in declared.values())
    assert all(entry["file"].startswith("./secrets/") for entry in declared.values())


def test_each_service_reads_its_secrets_file_as_its_options_file():
    document = compose()
    users = document["services"]["users"]
    assert users["secrets"] == ["users"]
    assert users["environment"]["USERS_CONFIG"] == "/run/secrets/users"
    migrate = document["services"]["users-migrate"]
    assert migrate["environment"] == {"RUNNERLY_CONFIG": "/run/secrets/users-migrate"}


@pytest.mark.parametrize("broker", ["nats", "rabbitmq", "redis"])
def test_no_secret_value_and_no_secret_option_is_in_the_file(broker):
    fleet = fleet_of(broker)
    text = compose_file(fleet, command="atoll deploy ...")
    assert DEFAULT_PASSWORD_PLACEHOLDER not in text
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), "a URL with a password"
    services = yaml.safe_load(text)["services"]
    for service in fleet.services:
        environment = services[service.name]["environment"]
        secret = {opt.env_var(service.env_prefix) for opt in service.secrets}
        assert not secret & set(environment)
        assert f"{service.env_prefix}_DB_URL" not in environment


def test_the_same_input_gives_the_same_bytes():
    assert compose_file(fleet_of(), command="c") == compose_file(fleet_of(), command="c")


def test_the_secrets_files_listed_at_the_top_are_those_declared():
    fleet = fleet_of("rabbitmq")
    text = compose_file(fleet, command="atoll deploy ...")
    header = text.split("\nname:", 1)[0]
    for path in secret_files(fleet).values():
        assert Path(path).name in header
