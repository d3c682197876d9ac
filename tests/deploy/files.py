"""The split deployment's files, read offline for tests/deploy/: the Kubernetes manifests as
`kubectl kustomize` renders them, docker/compose.yaml, the gateway template, the Dockerfile and the
entrypoint's roles; and what each service owns (shop.topology)."""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import yaml

from events.schemas import event_types
from shop.topology import ALIAS_FOR_APP, SERVICES, service_for_alias

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.32.0"  # the kubectl here; kubernetes-validate ships schemas for 1.25 … 1.37
KUSTOMIZATIONS = ("k8s/base", "k8s/overlays/local")
COMPOSE = ROOT / "docker" / "compose.yaml"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
TEMPLATE = ROOT / "docker" / "gateway" / "nginx.conf.template"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
PLACEHOLDER = "CHANGE-ME"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PRIVATE_KEY|PUBLIC_KEY")
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def aliases(service: str) -> set[str]:
    """The database aliases `service` owns."""
    return set(SERVICES[service].aliases)


def publishing_services() -> set[str]:
    """The services whose apps publish an event type (`shop.<app>.<fact>.v<N>`): each needs a relay."""
    return {service_for_alias(ALIAS_FOR_APP[t.split(".")[1]]).name for t in event_types()}


def url_aliases(keys) -> set[str]:
    """The aliases of the DATABASE_URL_<ALIAS> names among `keys`."""
    return {k.removeprefix("DATABASE_URL_").lower() for k in keys if k.startswith("DATABASE_URL_")}


def entrypoint_roles() -> set[str]:
    """The roles docker/entrypoint.sh runs (its case labels)."""
    return set(re.findall(r"^  ([a-z-]+)\)$", ENTRYPOINT.read_text(), re.M))


def gateway_routes() -> dict[str, str]:
    """location prefix -> upstream, from the gateway template."""
    routes = {}
    for prefix, body in re.findall(r"location (/[a-z/]+/) \{(.*?)\n\s*\}\n", TEMPLATE.read_text(), re.S):
        upstream = re.search(r"set \$service ([a-z]+);", body)
        if upstream:
            routes[prefix] = upstream.group(1)
    return routes


@cache
def kustomize(path: str) -> tuple[dict, ...]:
    """The objects `kubectl kustomize <path>` renders (AssertionError if it cannot)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, f"{path}: kubectl is needed to render the kustomization (kubectl kustomize)"
    done = subprocess.run([kubectl, "kustomize", str(ROOT / path)], capture_output=True, text=True)
    assert done.returncode == 0, f"{path}: kubectl kustomize failed: {done.stderr.strip()}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def by_kind(objects) -> dict[str, dict[str, dict]]:
    """kind -> name -> object."""
    found: dict[str, dict[str, dict]] = {}
    for obj in objects:
        found.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    return found


def pod_spec(obj: dict) -> dict | None:
    """The pod template's spec of a workload; None for other kinds."""
    return obj["spec"]["template"]["spec"] if obj["kind"] in WORKLOADS else None


def containers(spec: dict) -> list[dict]:
    """A pod spec's init containers and containers."""
    return spec.get("initContainers", []) + spec["containers"]


def name_of(path: str, obj: dict) -> str:
    return f"{path} {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_schema() -> dict:
    """The Compose Specification's JSON schema, as the check-jsonschema package vendors it
    (check_jsonschema/builtin_schemas/vendor/compose-spec.json, from
    github.com/compose-spec/compose-spec, Apache-2.0; pinned in requirements-dev.txt)."""
    vendor = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    return json.loads((vendor / "compose-spec.json").read_text())
