"""deploy/k8s parses, and its objects agree with each other and with the code (queues, ports, settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.broker.topology import WEBHOOKS_QUEUE, WORK_QUEUES
from shared.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SECRET = "billing-secrets"
CONFIG = "billing-config"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc is not None]


@pytest.fixture(scope="module")
def applied() -> list[dict[str, Any]]:
    """Every object `kubectl apply -k deploy/k8s` creates."""
    kustomization = documents("kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in documents(name)]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def config_data(objects: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = of_kind(objects, "ConfigMap")[CONFIG]["data"]
    return data


def test_every_file_parses_and_every_object_is_named() -> None:
    files = sorted(K8S.glob("*.yaml"))
    assert {f.name for f in files} >= {
        "kustomization.yaml",
        "ingress.yaml",
        "processor.yaml",
        "refunds.yaml",
        "webhooks.yaml",
    }
    for path in files:
        for doc in documents(path.name):
            assert doc.get("apiVersion") and doc.get("kind"), path.name
            assert doc["kind"] == "Kustomization" or doc["metadata"]["name"], path.name


def test_each_service_is_a_deployment_with_probes_limits_and_the_secret(applied: list[dict[str, Any]]) -> None:
    deployments = of_kind(applied, "Deployment")
    assert set(deployments) == {"billing-ingress", "billing-processor", "billing-refunds", "billing-webhooks"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        box = container(deployment)
        assert box["args"] == [name.removeprefix("billing-")]
        assert box["resources"]["requests"] and box["resources"]["limits"], name
        sources = {next(iter(ref.values()))["name"] for ref in box["envFrom"]}
        assert sources == {CONFIG, SECRET}, name
        ports = {p["name"]: p["containerPort"] for p in box["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            assert box[probe]["httpGet"]["port"] in ports, f"{name} {probe} names no declared port"


def test_ingress_probes_health_and_is_served_and_scaled_on_cpu(applied: list[dict[str, Any]]) -> None:
    ingress = of_kind(applied, "Deployment")["billing-ingress"]
    box = container(ingress)
    assert box["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert box["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    config = config_data(applied)
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports == {"http": int(config["BILLING_HTTP_PORT"]), "metrics": int(config["BILLING_METRICS_PORT_INGRESS"])}
    service = of_kind(applied, "Service")["billing-ingress"]
    assert service["spec"]["selector"].items() <= ingress["spec"]["template"]["metadata"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"], "/metrics must not be exposed"
    annotations = ingress["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["metrics"] != ports["http"]
    hpa = of_kind(applied, "HorizontalPodAutoscaler")["billing-ingress"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "billing-ingress"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_workers_scale_on_their_queues_and_probe_their_metrics_port(applied: list[dict[str, Any]]) -> None:
    scaled = of_kind(applied, "ScaledObject")
    auth = of_kind(applied, "TriggerAuthentication")
    config = config_data(applied)
    for queue in [work.name for work in WORK_QUEUES] + [WEBHOOKS_QUEUE]:
        worker = queue.removeprefix("billing.")
        name = f"billing-{worker}"
        (trigger,) = scaled[name]["spec"]["triggers"]
        assert scaled[name]["spec"]["scaleTargetRef"]["name"] == name
        assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == queue
        assert scaled[name]["spec"]["minReplicaCount"] >= 1, "a worker at zero replicas takes no command"
        (ref,) = auth[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert (ref["name"], ref["key"]) == (SECRET, "BILLING_AMQP_URL")
        box = container(of_kind(applied, "Deployment")[name])
        port = int(config[f"BILLING_METRICS_PORT_{worker.upper()}"])
        assert {p["containerPort"] for p in box["ports"]} == {port}
        assert box["livenessProbe"]["httpGet"]["path"] == "/metrics"


def test_migrations_run_as_a_job_and_the_config_is_valid_settings(applied: list[dict[str, Any]]) -> None:
    job = of_kind(applied, "Job")["billing-migrate"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] in {"OnFailure", "Never"}
    assert spec["containers"][0]["args"] == ["migrate"]
    config = config_data(applied)
    assert all(isinstance(value, str) for value in config.values()), "ConfigMap values must be strings"
    settings = Settings(
        **{k.removeprefix("BILLING_").lower(): v for k, v in config.items() if k.startswith("BILLING_")}
    )
    assert settings.env == "production" and settings.tracing == "off"
    secret = documents("secret.example.yaml")[0]
    assert secret["metadata"]["name"] == SECRET
    assert set(secret["stringData"]) == {"BILLING_SECRET_KEY", "BILLING_DATABASE_URL", "BILLING_AMQP_URL"}
    assert "secret.example.yaml" not in documents("kustomization.yaml")[0]["resources"]
