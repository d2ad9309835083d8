"""``atoll.deploy.documents``: the secrets files read back as the options files they are."""

import pytest

import atoll
from atoll.deploy.documents import migrate_options_file, options_file
from atoll.deploy.plan import plan
from atoll.kernel.entrypoint import load_config
from atoll.persistence.schema import Schema
from atoll.service.composition import compose_target
from runnerly.app import system

TARGET = "runnerly.app:system"


@pytest.mark.parametrize("broker", ["nats", "rabbitmq"])
@pytest.mark.parametrize("name", ["users", "runs", "stats", "auth"])
def test_a_services_secrets_file_and_environment_are_its_configuration(name, broker, tmp_path):
    fleet = plan(system(), TARGET, broker=broker, only=[name])
    (service,) = fleet.services
    path = tmp_path / "options.toml"
    path.write_text(options_file(fleet, service, "postgres", "s3cret"))
    definition = next(s for s in system().services if s.name == name)
    environment = {**service.environment, service.config_env: str(path)}
    config = load_config(compose_target(definition, serve=True), [], environment)
    url = f"postgresql+asyncpg://atoll:s3cret@postgres:5432/runnerly_{name}"
    assert config.section("db").url == url
    assert config.origin("db.url").kind == "file"
    if broker == "rabbitmq":
        assert config.section("broker").url == "amqp://atoll:s3cret@rabbitmq:5672/"
    assert "s3cret" not in config.describe()  # a URL's password is shown masked


@pytest.mark.parametrize("name", ["users", "auth"])
def test_a_migration_jobs_file_is_the_systems_configuration(name, tmp_path):
    fleet = plan(system(), TARGET, only=[name])
    (service,) = fleet.services
    path = tmp_path / "migrate.toml"
    path.write_text(migrate_options_file(fleet, service, "postgres", "s3cret"))
    config = load_config(
        compose_target(system(), serve=False), [], {fleet.migrate_config_env: str(path)}
    )
    assert config.section(f"{name}_db").url.endswith(f"@postgres:5432/runnerly_{name}")


def test_the_migration_job_of_a_system_of_one_service_reads_the_file_it_is_given(tmp_path):
    """A system of one takes the prefix of its service (NOTES), not of its name (SHOP)."""
    notes = atoll.Service("notes")
    notes.database(Schema())
    shop = atoll.System(notes, name="shop")
    fleet = plan(shop, "shop:system")
    (service,) = fleet.services
    path = tmp_path / "migrate.toml"
    path.write_text(migrate_options_file(fleet, service, "postgres", "s3cret"))
    environ = {fleet.migrate_config_env: str(path)}
    config = load_config(compose_target(shop, serve=False), [], environ)
    assert config.section("notes_db").url.endswith("@postgres:5432/shop_notes")
