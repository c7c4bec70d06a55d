"""deploy/k8s renders with kustomize (offline), every core resource validates against the Kubernetes
schema, the KEDA resources use only fields KEDA knows, and the manifests agree with the code: commands,
probes, settings names, Redis users and passwords, GPUs, the ui port, the job volume."""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.cli import SERVICES
from services.common import keys
from tests.unit.deploy.contract import (
    ACL_COMMAND,
    ACL_FILE,
    DATA_DIR,
    DEPLOY,
    GPU_SERVICES,
    JOB_SERVICES,
    REDIS_USERS,
    SECRET_KEYS,
    env_file,
    env_names,
    own_secrets,
    redis_password_var,
    settings_class,
)

KUBECTL = shutil.which("kubectl")
if KUBECTL is None and os.environ.get("EMOSTREAM_REQUIRE_KUBECTL"):  # CI renders for real (.ci/run)
    raise RuntimeError("kubectl is not on PATH and EMOSTREAM_REQUIRE_KUBECTL is set")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not on PATH (`kubectl kustomize` renders deploy/k8s offline)"
)
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (the `test` extra has it)"
)

K8S = DEPLOY / "k8s"
TREES = {
    "default": K8S,
    "external-redis": K8S / "overlays" / "external-redis",
    "redis-cluster": K8S / "overlays" / "redis-cluster",
}
#: settings an overlay adds to the ConfigMap beyond deploy/.env.example's
OVERLAY_SETTINGS = {"redis-cluster": {"EMOSTREAM_REDIS_CLUSTER", "EMOSTREAM_REDIS_SHARDS"}}
NAMESPACE = "emostream"
#: the schemas kubernetes-validate ships offline; strict: an unknown field (a typo) fails
KUBERNETES_VERSION = "1.30"
REDIS_PORT = 6379
UI_PORT = settings_class("ui").model_fields["port"].default

# KEDA's custom resources have no schema in kubernetes-validate. The allowed fields below are copied from
# the KEDA documentation (keda.sh/docs/2.21: reference/scaledobject-spec, concepts/authentication,
# scalers/redis-streams), looked up when these manifests were written.
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
SCALE_TARGET_REF = {"apiVersion", "kind", "name", "envSourceContainerName"}
TRIGGER = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
AUTHENTICATION_REF = {"name", "kind"}
#: the metadata both Redis stream scalers take
STREAMS_METADATA = {
    "usernameFromEnv",
    "passwordFromEnv",
    "stream",
    "consumerGroup",
    "pendingEntriesCount",
    "streamLength",
    "lagCount",
    "activationLagCount",
    "enableTLS",
    "unsafeSsl",
    "databaseIndex",
}
REDIS_STREAMS_METADATA = STREAMS_METADATA | {
    "address",
    "addressFromEnv",
    "host",
    "hostFromEnv",
    "port",
    "portFromEnv",
}
# On a Redis Cluster: the redis-cluster-streams scaler (keda.sh/docs/2.21/scalers/redis-cluster-streams,
# from kedacore/keda-docs content/docs/2.21/scalers/redis-cluster-streams.md): a list of nodes instead of
# one address, no host/port pair, and the same TriggerAuthentication parameters as redis-streams.
REDIS_CLUSTER_STREAMS_METADATA = STREAMS_METADATA | {
    "addresses",
    "addressesFromEnv",
    "hosts",
    "hostsFromEnv",
    "ports",
    "portsFromEnv",
}
#: the parameters a TriggerAuthentication may give the redis-streams (and redis-cluster-streams) scaler
REDIS_STREAMS_AUTH_PARAMETERS = {"username", "password", "tls", "ca", "cert", "key", "keyPassword"}
TRIGGER_AUTHENTICATION_SPEC = {
    "podIdentity",
    "secretTargetRef",
    "env",
    "hashiCorpVault",
    "azureKeyVault",
    "awsSecretManager",
    "gcpSecretManager",
    "boundServiceAccountToken",
}  # filePath is for ClusterTriggerAuthentication only
TRIGGER_AUTH_ENV = {"parameter", "name", "containerName"}
TRIGGER_AUTH_SECRET_TARGET_REF = {"parameter", "name", "key"}


@functools.cache
def render(tree: str) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(TREES[tree])], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {TREES[tree]}: {done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def named(name: str, actual: str) -> bool:
    """``actual`` is ``name``, or a generated ``name-<hash>`` (configMapGenerator, secretGenerator)."""
    return re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", actual) is not None


def all_of(tree: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in render(tree) if doc["kind"] == kind]


def one(tree: str, kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in all_of(tree, kind) if named(name, doc["metadata"]["name"])]
    assert len(found) == 1, f"{tree}: {len(found)} {kind} named {name}"
    return found[0]


def deployment(tree: str, service: str) -> dict[str, Any]:
    return one(tree, "Deployment", f"emostream-{service}")


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def secret_ref(entry: dict[str, Any]) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def secret_name(tree: str) -> str:
    return one(tree, "Secret", "emostream-secrets")["metadata"]["name"]  # type: ignore[no-any-return]


def config(tree: str) -> dict[str, str]:
    return one(tree, "ConfigMap", "emostream-config")["data"]  # type: ignore[no-any-return]


def key_shards(tree: str) -> int:
    """The key shards the tree's services use (``connect.redis_client``): 0 unless on a Redis Cluster."""
    data = config(tree)
    cluster = data.get("EMOSTREAM_REDIS_CLUSTER", "").lower() in {"1", "true", "yes", "on"}
    return int(data.get("EMOSTREAM_REDIS_SHARDS", "16")) if cluster else 0


def check_command(service: str) -> list[str]:
    return ["python", "-m", f"services.{service}", "--check"]


@pytest.fixture(autouse=True)
def single_redis_key_layout() -> Iterator[None]:
    keys.configure(0)  # a single Redis's key names unless a test configures the cluster's shards
    yield
    keys.configure(0)


@pytest.mark.parametrize("tree", TREES)
def test_renders_into_one_namespace(tree: str) -> None:
    docs = render(tree)
    assert one(tree, "Namespace", NAMESPACE)
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    assert {d["metadata"]["name"] for d in all_of(tree, "Deployment")} == {f"emostream-{s}" for s in SERVICES}


@pytest.mark.parametrize("tree", TREES)
def test_core_resources_validate_against_the_kubernetes_schema(tree: str) -> None:
    for doc in render(tree):
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: test_keda_* below
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.path))
            pytest.fail(f"{tree}: {doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_mirrors_python_module(tree: str, service: str) -> None:
    dep = deployment(tree, service)
    c = container(dep)
    assert c["image"] == f"emostream-{service}:latest"
    assert c["command"] == ["python", "-m", f"services.{service}"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if service == "ui" and probe == "readinessProbe":
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": UI_PORT}
        else:
            assert c[probe]["exec"]["command"] == check_command(service), probe
    assert set(env_of(c)) <= env_names(service), "an env var no settings class of this service reads"
    assert [ref["configMapRef"]["name"] for ref in c["envFrom"]] == [
        one(tree, "ConfigMap", "emostream-config")["metadata"]["name"]
    ]
    instance = env_of(c)["EMOSTREAM_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert instance == "metadata.name", "each replica its own consumer name"


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_its_own_redis_user(tree: str, service: str) -> None:
    env = env_of(container(deployment(tree, service)))
    assert env["EMOSTREAM_REDIS_USERNAME"]["value"] == service
    assert secret_ref(env["EMOSTREAM_REDIS_PASSWORD"]) == (secret_name(tree), redis_password_var(service))
    assert not any("secretRef" in ref for ref in container(deployment(tree, service))["envFrom"]), (
        "no service sees every password"
    )


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_only_its_own_secrets(tree: str, service: str) -> None:
    env = env_of(container(deployment(tree, service)))
    refs = {secret_ref(e) for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {(secret_name(tree), key) for key in own_secrets(service)}


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("service", SERVICES)
def test_resources_and_gpus(tree: str, service: str) -> None:
    resources = container(deployment(tree, service))["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])
    gpus = resources["limits"].get("nvidia.com/gpu")
    assert gpus == (1 if service in GPU_SERVICES else None)


@pytest.mark.parametrize("tree", TREES)
def test_every_pod_is_locked_down(tree: str) -> None:
    workloads = all_of(tree, "Deployment") + all_of(tree, "StatefulSet")
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in pod["containers"] + pod.get("initContainers", []):
            where = f"{workload['metadata']['name']}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert not sc.get("privileged", False), where
            assert sc["readOnlyRootFilesystem"] is True, where
            if c["image"].startswith("emostream-"):
                tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert tmp and tmp[0]["name"] in tmp_volumes, f"{where}: a writable /tmp"


@pytest.mark.parametrize("tree", TREES)
def test_config_map_mirrors_env_example(tree: str) -> None:
    data = config(tree)
    example = env_file(DEPLOY / ".env.example")
    assert set(data) - OVERLAY_SETTINGS.get(tree, set()) == set(example), (
        "deploy/k8s/base/config.env and deploy/.env.example list the same settings"
    )
    for name, value in example.items():
        if name != "EMOSTREAM_REDIS_URL":
            assert data[name] == value, name
    assert set(data) <= set().union(*(env_names(s) for s in SERVICES))


@pytest.mark.parametrize("tree", TREES)
def test_secret_holds_placeholders_for_every_password(tree: str) -> None:
    data = one(tree, "Secret", "emostream-secrets")["data"]
    assert set(data) == SECRET_KEYS
    assert set(env_file(DEPLOY / "secrets.env.example")) == SECRET_KEYS, "the same keys as compose's"
    for key, value in data.items():
        assert base64.b64decode(value).decode().startswith("change-me-"), f"{key}: a placeholder only"


@pytest.mark.parametrize("tree", TREES)
def test_ui_port_service_and_login(tree: str) -> None:
    ui = deployment(tree, "ui")
    c = container(ui)
    env = env_of(c)
    assert env["EMOSTREAM_HOST"]["value"] == "0.0.0.0"
    assert env["EMOSTREAM_PORT"]["value"] == str(UI_PORT)
    assert c["ports"] == [{"name": "http", "containerPort": UI_PORT}]
    assert secret_ref(env["EMOSTREAM_UI_PASSWORD"]) == (secret_name(tree), "EMOSTREAM_UI_PASSWORD"), (
        "login on"
    )
    assert secret_ref(env["EMOSTREAM_API_TOKEN"]) == (secret_name(tree), "EMOSTREAM_API_TOKEN")
    service = one(tree, "Service", "emostream-ui")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": UI_PORT, "targetPort": "http"}]
    assert service["selector"].items() <= ui["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("service", SERVICES)
def test_job_volume_shared_by_ui_and_ingest(tree: str, service: str) -> None:
    claim = one(tree, "PersistentVolumeClaim", "emostream-jobs")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "ui replicas and ingest on other nodes"
    pod = deployment(tree, service)["spec"]["template"]["spec"]
    claims = {
        v["name"]
        for v in pod["volumes"]
        if v.get("persistentVolumeClaim", {}).get("claimName") == "emostream-jobs"
    }
    mounted = {
        m["mountPath"] for m in container(deployment(tree, service))["volumeMounts"] if m["name"] in claims
    }
    if service in JOB_SERVICES:
        assert mounted == {DATA_DIR}
        assert env_of(container(deployment(tree, service)))["EMOSTREAM_DATA_DIR"]["value"] == DATA_DIR
    else:
        assert not mounted


def test_default_runs_redis_with_the_acl_users_and_a_volume() -> None:
    tree = "default"
    redis = one(tree, "StatefulSet", "emostream-redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = redis["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == "emostream-ui:latest", "the ui image carries services.cli"
    assert init["command"] == ACL_COMMAND
    env = env_of(init)
    assert set(env) == {redis_password_var(u) for u in REDIS_USERS}
    assert all(secret_ref(e) == (secret_name(tree), name) for name, e in env.items())

    server = container(redis)
    args = server["args"]
    assert args[args.index("--aclfile") + 1] == ACL_FILE
    assert args[args.index("--appendonly") + 1] == "yes"
    assert any(v["name"] == "acl" and "emptyDir" in v for v in pod["volumes"]), "written at every start"
    for c in (init, server):
        assert any(m["name"] == "acl" and m["mountPath"] == "/acl" for m in c["volumeMounts"]), c["name"]
    assert secret_ref(env_of(server)["EMOSTREAM_REDIS_PASSWORD_ADMIN"]) == (
        secret_name(tree),
        "EMOSTREAM_REDIS_PASSWORD_ADMIN",
    )
    for probe in ("readinessProbe", "livenessProbe"):
        shell, flag, script = server[probe]["exec"]["command"]
        assert (shell, flag) == ("sh", "-c")
        assert (
            'redis-cli --no-auth-warning --user admin --pass "$EMOSTREAM_REDIS_PASSWORD_ADMIN" ping' in script
        )

    service = one(tree, "Service", "emostream-redis")
    assert service["spec"]["selector"].items() <= redis["spec"]["template"]["metadata"]["labels"].items()
    assert [p["port"] for p in service["spec"]["ports"]] == [REDIS_PORT]
    url = urlsplit(config(tree)["EMOSTREAM_REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "emostream-redis", REDIS_PORT)


def test_external_redis_overlay_has_no_redis_of_its_own() -> None:
    tree = "external-redis"
    assert not all_of(tree, "StatefulSet")
    assert not [s for s in all_of(tree, "Service") if s["metadata"]["name"] == "emostream-redis"]
    assert config(tree)["EMOSTREAM_REDIS_URL"].startswith("rediss://")


def test_redis_cluster_overlay_watches_the_shard_tagged_streams() -> None:
    tree = "redis-cluster"
    data = config(tree)
    assert data["EMOSTREAM_REDIS_CLUSTER"] == "1"
    shards = int(data["EMOSTREAM_REDIS_SHARDS"])
    assert shards > 0
    assert not all_of(tree, "StatefulSet"), "no Redis of its own"
    assert not [s for s in all_of(tree, "Service") if s["metadata"]["name"] == "emostream-redis"]
    url = urlsplit(data["EMOSTREAM_REDIS_URL"])
    scaled = {
        s["spec"]["scaleTargetRef"]["name"].removeprefix("emostream-"): s
        for s in all_of(tree, "ScaledObject")
    }
    assert set(scaled) == set(GPU_SERVICES)
    keys.configure(shards)
    try:
        for service, so in scaled.items():
            kind, group = keys.GROUPS[service]
            for trigger in so["spec"]["triggers"]:
                meta = trigger["metadata"]
                assert trigger["type"] == "redis-cluster-streams"
                assert "address" not in meta, "redis-cluster-streams takes addresses"
                assert f"{url.hostname}:{url.port or REDIS_PORT}" in meta["addresses"].split(",")
                assert meta["consumerGroup"] == group
                camera = keys.camera_of_stream(meta["stream"])
                assert keys.tag_of(meta["stream"]), "a shard-tagged name"
                assert meta["stream"] == keys.stream(kind, camera), "the name the services use"
    finally:
        keys.configure(0)


@pytest.mark.parametrize("tree", TREES)
def test_keda_scales_detector_and_classifier_on_group_lag(tree: str) -> None:
    scaled = all_of(tree, "ScaledObject")
    auths = {a["metadata"]["name"]: a for a in all_of(tree, "TriggerAuthentication")}
    targets = {s["spec"]["scaleTargetRef"]["name"] for s in scaled}
    assert targets == {f"emostream-{s}" for s in GPU_SERVICES}, "one ScaledObject per GPU service"
    url = urlsplit(config(tree)["EMOSTREAM_REDIS_URL"])
    cluster = key_shards(tree) > 0
    keys.configure(key_shards(tree))  # the stream names the services use (reset by the fixture)
    for so in scaled:
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        assert set(spec) <= SCALED_OBJECT_SPEC
        assert set(spec["scaleTargetRef"]) <= SCALE_TARGET_REF
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        service = spec["scaleTargetRef"]["name"].removeprefix("emostream-")
        dep = deployment(tree, service)
        assert "replicas" not in dep["spec"], "KEDA owns the replica count"
        kind, group = keys.GROUPS[service]
        assert spec["triggers"]
        for trigger in spec["triggers"]:
            assert set(trigger) <= TRIGGER
            assert trigger["type"] == ("redis-cluster-streams" if cluster else "redis-streams")
            meta = trigger["metadata"]
            assert set(meta) <= (REDIS_CLUSTER_STREAMS_METADATA if cluster else REDIS_STREAMS_METADATA)
            assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata is a map of strings"
            assert meta["consumerGroup"] == group
            camera = keys.camera_of_stream(meta["stream"])
            assert meta["stream"] == keys.stream(kind, camera)
            assert int(meta["lagCount"]) > 0 and int(meta["activationLagCount"]) >= 0
            assert not {"pendingEntriesCount", "streamLength"} & set(meta), "scaled on lag alone"
            nodes = [a.strip().rsplit(":", 1) for a in meta["addresses" if cluster else "address"].split(",")]
            assert cluster or len(nodes) == 1
            port = str(url.port or REDIS_PORT)
            if tree == "default":
                assert nodes == [[f"emostream-redis.{NAMESPACE}.svc", port]], "seen from KEDA's namespace"
            else:
                assert [url.hostname, port] in nodes, "the node the services use"
            assert meta.get("enableTLS", "false") == ("true" if url.scheme == "rediss" else "false")
            ref = trigger["authenticationRef"]
            assert set(ref) <= AUTHENTICATION_REF
            check_trigger_authentication(tree, auths[ref["name"]], container(dep))


def check_trigger_authentication(tree: str, auth: dict[str, Any], target: dict[str, Any]) -> None:
    """Only fields KEDA knows; what it reads exists: the target container's env vars, the Secret's keys."""
    spec = auth["spec"]
    assert set(spec) <= TRIGGER_AUTHENTICATION_SPEC
    env = env_of(target)
    parameters: set[str] = set()
    for entry in spec.get("env", []):
        assert set(entry) <= TRIGGER_AUTH_ENV
        assert entry["name"] in env, f"KEDA reads {entry['name']} from the target container"
        parameters.add(entry["parameter"])
    for entry in spec.get("secretTargetRef", []):
        assert set(entry) <= TRIGGER_AUTH_SECRET_TARGET_REF
        assert entry["name"] == secret_name(tree)
        assert entry["key"] in SECRET_KEYS
        parameters.add(entry["parameter"])
    assert parameters <= REDIS_STREAMS_AUTH_PARAMETERS
    assert {"username", "password"} <= parameters, "default is off in users.acl: KEDA must log in"
