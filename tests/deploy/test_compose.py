"""docker/compose.yaml, checked offline: against the Compose Specification's JSON schema, then the
wiring — depends_on targets exist and can satisfy their condition, networks, volumes and bind
mounts exist, each service's containers get only their own database URLs and network, secrets
come only as ${...} from docker/.env (docker/.env.example lists them as placeholders), and the
gateway's upstreams and template values are given.

Each test lists every problem it finds, not only the first."""

from __future__ import annotations

import re

import jsonschema

from shop.topology import SERVICES
from tests.deploy.files import (
    COMPOSE,
    ENV_EXAMPLE,
    PLACEHOLDER,
    SECRET_NAME,
    TEMPLATE,
    aliases,
    compose,
    compose_schema,
    entrypoint_roles,
    gateway_routes,
    publishing_services,
    url_aliases,
)

DATA_NETWORKS = {f"{s}-data" for s in SERVICES}


def services() -> dict[str, dict]:
    return compose().get("services", {})


def environment(svc: dict) -> dict:
    env = svc.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def test_compose_yaml_follows_the_compose_specification():
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert [f"{e.message} at {'/'.join(map(str, e.absolute_path))}" for e in errors] == []


def test_every_dependency_exists_and_can_meet_its_condition():
    problems = []
    for name, svc in services().items():
        depends = svc.get("depends_on", {})
        for target, spec in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            other = services().get(target)
            if other is None:
                problems.append(f"{name}: depends_on {target!r}, which is not a service")
                continue
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy" and "healthcheck" not in other:
                problems.append(f"{name}: waits for {target} to be healthy, but it has no healthcheck")
            if condition == "service_completed_successfully" and other.get("restart", "no") != "no":
                problems.append(
                    f"{name}: waits for {target} to complete, but it restarts ({other.get('restart')})"
                )
            if "profiles" in other and "profiles" not in svc:
                problems.append(
                    f"{name}: depends on {target}, which only runs in profiles {other['profiles']}"
                )
    assert problems == []


def test_every_network_volume_mount_and_build_exists():
    problems = []
    networks = set(compose().get("networks", {}))
    volumes = set(compose().get("volumes", {}))
    roles = entrypoint_roles()
    for name, svc in services().items():
        for net in svc.get("networks", []):
            if net not in networks:
                problems.append(f"{name}: network {net!r} is not declared")
        for mount in svc.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                if not (COMPOSE.parent / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
            elif source not in volumes:
                problems.append(f"{name}: volume {source!r} is not declared")
        if "build" in svc:
            context = COMPOSE.parent / svc["build"]["context"]
            if not (context / svc["build"]["dockerfile"]).exists():
                problems.append(f"{name}: build: no Dockerfile there")
            command = svc.get("command", ["web"])
            if command[0] not in roles:
                problems.append(f"{name}: role {command[0]!r} is not in docker/entrypoint.sh")
    assert problems == []


def test_secrets_come_from_the_env_file_never_from_compose_yaml():
    written_here = [
        f"{name}: {key} must come from docker/.env (${{...}}), not be written here"
        for name, svc in services().items()
        for key, value in environment(svc).items()
        if SECRET_NAME.search(key) and "${" not in str(value)
    ]
    assert written_here == []


def test_each_service_sees_only_its_own_databases_on_its_own_network():
    problems = []
    for name, svc in services().items():
        env = environment(svc)
        selected = env.get("SHOP_SERVICES")
        own_networks = set(svc.get("networks", [])) & DATA_NETWORKS
        if selected and "build" in svc:
            seen = url_aliases(env)
            if name != "topics" and seen != aliases(selected):
                problems.append(
                    f"{name}: sees databases {sorted(seen)}, {selected} owns {sorted(aliases(selected))}"
                )
            for key, url in env.items():
                if key.startswith("DATABASE_URL_") and f"@postgres-{selected}:" not in str(url):
                    problems.append(f"{name}: {key} points outside the {selected} database")
            if own_networks - {f"{selected}-data"}:
                problems.append(f"{name}: joins another service's database network: {sorted(own_networks)}")
        own_database = name.removeprefix("postgres-")
        if name.startswith("postgres-") and set(svc.get("networks", [])) != {f"{own_database}-data"}:
            problems.append(f"{name}: a service's database must sit on that service's data network only")
        if own_networks and not selected and not name.startswith("postgres-"):
            problems.append(f"{name}: is no service but joins {sorted(own_networks)}")
    for network in DATA_NETWORKS:
        if not compose().get("networks", {}).get(network, {}).get("internal"):
            problems.append(f"network {network} must be internal")
    assert problems == []


def test_every_required_value_is_in_the_env_example_secrets_as_placeholders():
    """Everything ${X:?} asks for is in docker/.env.example; a secret there is a placeholder."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    problems = []
    for var in sorted(set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", COMPOSE.read_text()))):
        if var not in example:
            problems.append(f"{var} is required by compose.yaml but missing in docker/.env.example")
        elif SECRET_NAME.search(var) and PLACEHOLDER not in example[var]:
            problems.append(f"{var} must be a {PLACEHOLDER} placeholder in docker/.env.example")
    assert problems == []


def test_the_gateway_routes_to_services_and_gets_every_template_value():
    problems = []
    env = environment(services().get("gateway", {}))
    for host in re.findall(r"server ([a-z0-9-]+):\d+", " ".join(str(v) for v in env.values())):
        if host not in services():
            problems.append(f"gateway: upstream {host!r} is not a service")
    for placeholder in set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", TEMPLATE.read_text())) - set(env):
        problems.append(f"gateway: the template needs {placeholder}")
    for upstream in set(gateway_routes().values()):
        if f"{upstream}-web" not in services():
            problems.append(f"the gateway template routes to {upstream}, which has no web service")
    assert problems == []


def test_every_service_that_publishes_events_runs_a_relay():
    relays = {
        environment(svc).get("SHOP_SERVICES")
        for svc in services().values()
        if svc.get("command") == ["relay"]
    }
    assert publishing_services() == {"shop", "catalog", "orders", "delivery"}
    assert sorted(publishing_services() - relays) == []
