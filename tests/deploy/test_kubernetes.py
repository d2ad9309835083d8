"""``atoll deploy k8s``: manifests checked offline against the Kubernetes schemas.

The schemas are kubernetes-validate's, of :data:`KUBERNETES_VERSION`, strict: a field the
schema does not know fails too.
"""

import dataclasses

import kubernetes_validate
import pytest
import yaml

from atoll.deploy.kubernetes import KUBERNETES_VERSION, PAUSE, manifests
from atoll.deploy.plan import plan
from runnerly.app import system

TARGET = "runnerly.app:system"
FLEET = ["users", "runs", "stats", "auth"]


def fleet_of(broker="nats", settings=()):
    return plan(system(), TARGET, broker=broker, only=FLEET, settings=settings)


def documents(broker="nats", settings=(), *, secrets=False):
    """The documents of each service's file; of each service's Secret's file with ``secrets``."""
    files = manifests(fleet_of(broker, settings), command="atoll deploy k8s ...")
    return {
        name.removeprefix("secrets/"): list(yaml.safe_load_all(text))
        for name, text in files.items()
        if name.startswith("secrets/") == secrets
    }


def kind(docs, wanted):
    (found,) = [doc for doc in docs if doc["kind"] == wanted]
    return found


@pytest.mark.parametrize("broker", ["nats", "rabbitmq", "redis"])
def test_every_document_is_valid_for_the_pinned_kubernetes_version(broker):
    for secrets in (False, True):
        for name, docs in documents(broker, secrets=secrets).items():
            for doc in docs:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            assert name.removesuffix(".yaml") in FLEET


def test_a_validation_would_catch_a_wrong_field():
    deployment = kind(documents()["users.yaml"], "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_each_service_has_each_kind_with_the_stable_api_versions():
    for docs in documents().values():
        versions = {doc["kind"]: doc["apiVersion"] for doc in docs}
        assert versions == {
            "ConfigMap": "v1",
            "Job": "batch/v1",
            "Deployment": "apps/v1",
            "Service": "v1",
            "HorizontalPodAutoscaler": "autoscaling/v2",
            "PodDisruptionBudget": "policy/v1",
        }


def test_the_deployment_probes_health_and_pauses_before_sigterm():
    deployment = kind(documents()["users.yaml"], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["lifecycle"]["preStop"]["exec"]["command"] == [
        "python", "-c", f"import time; time.sleep({PAUSE})"
    ]  # fmt: skip
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert container["command"] == ["python", "-m", "runnerly", "users"]


@pytest.mark.parametrize(("grace", "drain"), [("10", "0"), ("30", "5")])
def test_the_termination_grace_is_above_the_pause_the_drain_and_the_grace(grace, drain):
    settings = [f"shutdown.grace={grace}", f"shutdown.drain={drain}"]
    for docs in documents(settings=settings).values():
        pod = kind(docs, "Deployment")["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > PAUSE + float(grace) + float(drain)


def test_no_secret_lands_in_a_config_map():
    fleet = fleet_of("rabbitmq")
    files = manifests(fleet, command="atoll deploy k8s ...")
    for service in fleet.services:
        docs = list(yaml.safe_load_all(files[f"{service.name}.yaml"]))
        data = kind(docs, "ConfigMap")["data"]
        secret = {opt.env_var(service.env_prefix) for opt in service.secrets}
        in_file = {
            f"{service.env_prefix}_{key.replace('.', '_').upper()}" for key in service.url_keys
        }
        assert secret, service.name
        assert not (secret | in_file) & set(data)
        assert all("@" not in value for value in data.values())
        secrets = list(yaml.safe_load_all(files[f"secrets/{service.name}.yaml"]))
        options = kind(secrets, "Secret")["stringData"]["options.toml"]
        for opt in service.secrets:
            assert f"{opt.path[-1]} = " in options  # listed, for a person to set
        assert "[broker]\nurl = " in options
        assert "[db]\nurl = " in options


def test_the_pod_reads_its_secrets_as_its_options_file():
    docs = documents()["users.yaml"]
    pod = kind(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": "users-options"}}]
    assert container["env"] == [
        {"name": "USERS_CONFIG", "value": "/etc/atoll/secrets/options.toml"}
    ]
    secret = kind(documents(secrets=True)["users.yaml"], "Secret")
    assert pod["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"]


def test_the_migration_job_upgrades_the_database_with_the_systems_options():
    docs = documents()["runs.yaml"]
    job = kind(docs, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [
        "python", "-m", "atoll", "db", "upgrade", TARGET, "--service", "runs"
    ]  # fmt: skip
    assert container["env"] == [
        {"name": "RUNNERLY_CONFIG", "value": "/etc/atoll/secrets/migrate.toml"}
    ]
    secret = kind(documents(secrets=True)["runs.yaml"], "Secret")
    assert "[runs_db]\nurl = " in secret["stringData"]["migrate.toml"]


def test_the_service_and_budgets_select_the_services_pods_not_the_jobs():
    docs = documents()["stats.yaml"]
    job_labels = kind(docs, "Job")["spec"]["template"]["metadata"]["labels"]
    pod_labels = kind(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for selector in (
        kind(docs, "Service")["spec"]["selector"],
        kind(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        kind(docs, "Deployment")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= job_labels.items()


def test_the_same_input_gives_the_same_bytes():
    first = manifests(fleet_of(), command="c")
    assert first == manifests(fleet_of(), command="c")


def test_the_components_label_picks_what_to_apply_before_the_migration_and_after():
    for docs in documents().values():
        components = {doc["kind"]: doc["metadata"]["labels"]["app.kubernetes.io/component"]
                      for doc in docs}  # fmt: skip
        assert components == {
            "ConfigMap": "config",
            "Job": "migration",
            "Deployment": "service",
            "Service": "service",
            "HorizontalPodAutoscaler": "service",
            "PodDisruptionBudget": "service",
        }


def test_the_secret_is_a_file_apart_not_applied_with_the_rest():
    files = manifests(fleet_of(), command="atoll deploy k8s ...")
    for name in FLEET:
        kinds = [doc["kind"] for doc in yaml.safe_load_all(files[f"{name}.yaml"])]
        assert "Secret" not in kinds
        (secret,) = yaml.safe_load_all(files[f"secrets/{name}.yaml"])
        assert secret["kind"] == "Secret"
        assert secret["metadata"]["name"] == f"{name}-secrets"
        assert "apply the copy once" in files[f"secrets/{name}.yaml"]


def test_the_autoscaler_alone_says_how_many_replicas_run():
    for docs in documents().values():
        assert "replicas" not in kind(docs, "Deployment")["spec"]
        assert kind(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 1


def test_the_migration_job_is_named_after_what_it_runs():
    def job_name(image):
        fleet = plan(system(), TARGET, only=["runs"], image=image)
        (docs,) = [
            list(yaml.safe_load_all(text))
            for name, text in manifests(fleet, command="c").items()
            if name == "runs.yaml"
        ]
        return kind(docs, "Job")["metadata"]["name"]

    first, again, other = job_name("runnerly:1"), job_name("runnerly:1"), job_name("runnerly:2")
    assert first == again
    assert first != other
    assert first.startswith("runs-migrate-")
    assert len(first) == len("runs-migrate-") + 8


def test_a_change_of_the_secrets_template_rolls_the_pods():
    fleet = plan(system(), TARGET, only=["users"])
    (users,) = fleet.services
    # The same options, a Secret of another shape: a secret option less.
    fewer = dataclasses.replace(fleet, services=(dataclasses.replace(users, secrets=()),))

    def checksum(fleet):
        docs = list(yaml.safe_load_all(manifests(fleet, command="c")["users.yaml"]))
        return kind(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]

    assert users.secrets
    assert kind(documents()["users.yaml"], "ConfigMap")["data"] == dict(users.environment)
    assert checksum(fleet) == checksum(fleet)
    assert checksum(fleet) != checksum(fewer)
