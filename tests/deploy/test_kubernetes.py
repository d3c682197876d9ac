"""k8s/: each kustomization (base and the local overlay) as `kubectl kustomize` renders it, checked
offline: every object against the Kubernetes JSON schemas that kubernetes-validate ships (strict:
an unknown field is an error), then the wiring — references resolve, selectors select, each
service's pods see only its own databases, each database admits only its own service, the Ingress
has the gateway's routes, probes and resources are set, secrets are placeholders.

Each test lists every problem it finds, not only the first."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.deploy.files import (
    K8S_VERSION,
    KUSTOMIZATIONS,
    PLACEHOLDER,
    SECRET_NAME,
    aliases,
    by_kind,
    containers,
    entrypoint_roles,
    gateway_routes,
    kustomize,
    name_of,
    pod_spec,
    publishing_services,
    url_aliases,
)


@pytest.fixture(params=KUSTOMIZATIONS)
def path(request) -> str:
    return request.param


@pytest.fixture
def objects(path) -> tuple[dict, ...]:
    return kustomize(path)


@pytest.fixture
def kinds(objects) -> dict[str, dict[str, dict]]:
    return by_kind(objects)


@pytest.fixture
def workloads(objects) -> list[dict]:
    return [o for o in objects if pod_spec(o) is not None]


def test_every_object_is_valid_against_the_kubernetes_schemas_strictly(path, objects):
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name_of(path, obj)}: {exc.message} at {'/'.join(map(str, exc.path))}")
        except Exception as exc:  # unknown kind/version
            problems.append(f"{name_of(path, obj)}: {getattr(exc, 'message', exc)}")
    assert problems == []


def test_no_object_is_defined_twice(path, objects):
    seen: set[tuple[str, str]] = set()
    twice = []
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in seen:
            twice.append(name_of(path, obj))
        seen.add(key)
    assert twice == []


def test_every_reference_resolves(path, kinds, workloads):
    """ConfigMaps and Secrets a pod mounts or reads, secret keys, autoscalers' targets."""
    problems = []

    def exists(kind: str, name: str, where: str) -> None:
        if name not in kinds.get(kind, {}):
            problems.append(f"{where}: refers to {kind} {name!r}, which is not defined")

    for obj in workloads:
        where = name_of(path, obj)
        spec = pod_spec(obj)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                exists("ConfigMap", volume["configMap"]["name"], where)
            if "secret" in volume:
                exists("Secret", volume["secret"]["secretName"], where)
        for container in containers(spec):
            cwhere = f"{where} container {container['name']}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    exists("ConfigMap", source["configMapRef"]["name"], cwhere)
                if "secretRef" in source:
                    exists("Secret", source["secretRef"]["name"], cwhere)
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = kinds.get("Secret", {}).get(ref["name"])
                    if secret is None or ref["key"] not in secret.get("stringData", {}):
                        problems.append(f"{cwhere}: env {var['name']}: no such secret key {ref}")
    for name, hpa in kinds.get("HorizontalPodAutoscaler", {}).items():
        target = hpa["spec"]["scaleTargetRef"]
        exists(target["kind"], target["name"], f"{path} HPA/{name}")
    assert problems == []


def test_every_container_has_requests_limits_and_a_fixed_image_tag(path, workloads):
    problems = []
    for obj in workloads:
        for container in containers(pod_spec(obj)):
            where = f"{name_of(path, obj)} container {container['name']}"
            resources = container.get("resources", {})
            if not resources.get("requests") or not resources.get("limits"):
                problems.append(f"{where}: resource requests and limits are required")
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{where}: image {image!r} needs a fixed tag")
    assert problems == []


def test_web_pods_are_probed_on_healthz_and_readyz(path, workloads):
    problems = []
    for obj in workloads:
        if obj["spec"]["template"]["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "web":
            continue
        container = pod_spec(obj)["containers"][0]
        for probe, url in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            if container.get(probe, {}).get("httpGet", {}).get("path") != url:
                problems.append(f"{name_of(path, obj)}: {probe} must GET {url}")
    assert problems == []


def test_each_services_pods_serve_it_and_see_only_its_own_databases(path, kinds, workloads):
    """SHOP_SERVICES is the service; the database URLs are those of its own aliases only."""
    problems = []
    for obj in workloads:
        labels = obj["spec"]["template"]["metadata"].get("labels", {})
        service = labels.get("shop.service")
        if not service or labels.get("app.kubernetes.io/component") == "postgres":
            continue
        for container in containers(pod_spec(obj)):
            seen_urls: set[str] = set()
            selected = set()
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    secret = kinds.get("Secret", {}).get(source["secretRef"]["name"], {})
                    seen_urls |= url_aliases(secret.get("stringData", {}))
                if "configMapRef" in source:
                    config = kinds.get("ConfigMap", {}).get(source["configMapRef"]["name"], {})
                    if "SHOP_SERVICES" in config.get("data", {}):
                        selected.add(config["data"]["SHOP_SERVICES"])
            where = f"{name_of(path, obj)} container {container['name']}"
            if selected != {service}:
                problems.append(f"{where}: SHOP_SERVICES {selected} != {service!r}")
            if seen_urls != aliases(service):
                problems.append(
                    f"{where} sees databases {sorted(seen_urls)}, {service} owns {sorted(aliases(service))}"
                )
    assert problems == []


def test_every_service_selects_a_pod(path, kinds, workloads):
    selecting_nothing = [
        f"{path} Service/{name}: selector {svc['spec'].get('selector', {})} selects no pod"
        for name, svc in kinds.get("Service", {}).items()
        if not any(
            svc["spec"].get("selector", {}).items()
            <= w["spec"]["template"]["metadata"].get("labels", {}).items()
            for w in workloads
        )
    ]
    assert selecting_nothing == []


def test_each_database_admits_only_its_own_service(path, kinds):
    problems = []
    policies = list(kinds.get("NetworkPolicy", {}).values())
    for name, sts in kinds.get("StatefulSet", {}).items():
        labels = sts["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") != "postgres":
            continue
        service = labels.get("shop.service")
        guarding = [
            p for p in policies if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
        ]
        if not guarding:
            problems.append(f"{path} StatefulSet/{name}: no NetworkPolicy guards this database")
        for policy in guarding:
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    allowed = peer.get("podSelector", {}).get("matchLabels", {})
                    if allowed.get("shop.service") != service or "namespaceSelector" in peer:
                        problems.append(
                            f"{path} NetworkPolicy/{policy['metadata']['name']}: "
                            f"admits {peer} to the {service} database"
                        )
    assert problems == []


def test_the_ingress_carries_the_gateways_routes(path, kinds):
    problems = []
    routes = gateway_routes()
    for name, ingress in kinds.get("Ingress", {}).items():
        where = f"{path} Ingress/{name}"
        seen = {}
        for rule in ingress["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backend = p["backend"]["service"]
                target = kinds.get("Service", {}).get(backend["name"])
                if target is None:
                    problems.append(f"{where}: refers to Service {backend['name']!r}, which is not defined")
                ports = [port.get("name") for port in (target or {}).get("spec", {}).get("ports", [])]
                if backend["port"].get("name") not in ports:
                    problems.append(f"{where}: {backend['name']} has no port {backend['port']}")
                seen[p["path"]] = backend["name"].removesuffix("-web")
        if seen != routes:
            problems.append(f"{where}: routes {seen} differ from the gateway's {routes}")
    assert problems == []


def test_secrets_in_the_repository_are_placeholders(path, kinds):
    problems = []
    for name, secret in kinds.get("Secret", {}).items():
        for key, value in secret.get("stringData", {}).items():
            if (SECRET_NAME.search(key) or key.startswith("DATABASE_URL_")) and PLACEHOLDER not in value:
                problems.append(
                    f"{path} Secret/{name}: {key} must be a {PLACEHOLDER} placeholder in the repo"
                )
        if secret.get("data"):
            problems.append(
                f"{path} Secret/{name}: base64 data in the repo; templates use stringData placeholders"
            )
    assert problems == []


def test_every_shop_container_runs_a_role_of_the_entrypoint(path, workloads):
    roles = entrypoint_roles()
    unknown = [
        f"{name_of(path, obj)}: unknown role {container.get('args', [''])[0]!r}"
        for obj in workloads
        for container in containers(pod_spec(obj))
        if container["image"].split(":")[0].endswith("shop") and container.get("args", [""])[0] not in roles
    ]
    assert unknown == []


def test_every_service_that_publishes_events_runs_a_relay(path, workloads):
    relays = {
        obj["spec"]["template"]["metadata"]["labels"].get("shop.service")
        for obj in workloads
        if any(c.get("args") == ["relay"] for c in containers(pod_spec(obj)))
    }
    assert sorted(publishing_services() - relays) == []
