#!/usr/bin/env python3
"""Static checks of Veza's deployment files: the Dockerfile, compose.yaml and the Kubernetes
overlays under deploy/kubernetes. tests/deploy.rs runs it (and `just test` through it).

Prints one line per check to stderr ("ok" or "FAIL" and what was checked), then one JSON object
on stdout: the counts, the failures, and the KEDA scaler query of every ScaledObject of every
overlay with the queues it must count, which tests/deploy.rs runs against a real platform.
Exits 1 when a check failed, 2 when a tool it needs is missing (scripts/system-deps.sh installs
them: dockerfile-parse, check-jsonschema, kubernetes-validate, PyYAML).

    python3 tests/deploy/check.py [--binaries DIR] [--fallback-only]

--binaries names the folder of built veza-api and veza-worker: their shared libraries are then
mapped to Debian packages (dpkg -S) that the runtime image must install.

The overlays are rendered with `kubectl kustomize` when kubectl is on PATH, and always with the
small renderer below (resources, namespace, labels, images, replicas, config and secret
generators, strategic-merge patches by file): where both ran, their output must agree, so the
overlays stay within what the fallback understands (deploy/kubernetes/README.md).
--fallback-only renders with the fallback alone, as on a machine without kubectl.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

try:
    import kubernetes_validate
    import yaml
    from dockerfile_parse import DockerfileParser
except ImportError as missing:  # pragma: no cover - exercised on a machine without them
    print(f"missing Python package: {missing.name} (run scripts/system-deps.sh)", file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
# Schemas bundled with kubernetes-validate (pinned in scripts/system-deps.sh): the oldest and the
# newest it ships, so the manifests hold across the Kubernetes versions in support.
KUBERNETES_VERSIONS = ("1.34.0", "1.37.0")
# The worker's default drain when VEZA_SHUTDOWN_TIMEOUT_SECONDS is unset (README.md).
DEFAULT_SHUTDOWN_TIMEOUT = 30
# Secrets an overlay expects to exist in the cluster rather than render (README: "Secrets").
EXTERNAL_SECRETS = {"production": {"veza-secrets"}}
# Packages of debian:bookworm-slim itself (apt and dpkg need them): no install line needed.
BASE_IMAGE_PACKAGES = {
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "zlib1g",
    "liblzma5",
    "libzstd1",
    "libbz2-1.0",
}


class Report:
    """The checks' outcomes, one line each on stderr."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
            print(f"ok   {what}", file=sys.stderr)
        else:
            self.failures.append(what)
            print(f"FAIL {what}", file=sys.stderr)
        return ok


# --- Shared facts ------------------------------------------------------------------------------


def queue_names() -> list[str]:
    """The queues of README.md's "Queues" table (a test holds that table to the job registry)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Queues", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z]+)` \|", section, re.MULTILINE)


def release_grace_seconds() -> int:
    """RELEASE_GRACE of worker/src/shutdown.rs: the time after the drain for cancelled jobs to
    be released."""
    source = (ROOT / "worker" / "src" / "shutdown.rs").read_text()
    found = re.search(r"RELEASE_GRACE: Duration = Duration::from_secs\((\d+)\)", source)
    if not found:
        raise SystemExit("RELEASE_GRACE not found in worker/src/shutdown.rs")
    return int(found.group(1))


def split_list(value: str) -> list[str]:
    return [part.strip() for part in str(value).split(",") if part.strip()]


def interpolate(value: str) -> str:
    """Compose's ${NAME:-default} / ${NAME-default} with the default taken; literal text as is."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", str(value))


def seconds(duration: str | int) -> float:
    """A Compose duration (`45s`, `1m30s`, `2m`) in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration.strip():
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


def quantity(value: str | float) -> float:
    """A Kubernetes quantity (`500m`, `2`, `1536Mi`, `2Gi`) as a number (cores or bytes)."""
    text = str(value)
    suffixes = {
        "m": 1e-3,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
    }
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([a-zA-Z]*)", text)
    if not found or (found.group(2) and found.group(2) not in suffixes):
        raise ValueError(f"not a quantity: {text!r}")
    return float(found.group(1)) * suffixes.get(found.group(2), 1)


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile_stages(path: Path) -> list[dict]:
    """The stages of a Dockerfile, each with its base, its name and its instructions."""
    parser = DockerfileParser(path=str(path))
    args: dict[str, str] = {}
    stages: list[dict] = []
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "COMMENT":
            continue
        if instruction == "ARG" and not stages:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip()
        elif instruction == "FROM":
            found = re.fullmatch(
                r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*", value, re.IGNORECASE
            )
            if not found:
                raise ValueError(f"unreadable FROM {value!r}")
            base = re.sub(
                r"\$\{(\w+)\}|\$(\w+)",
                lambda m: args.get(m.group(1) or m.group(2), ""),
                found.group(1),
            )
            stages.append(
                {"base": base, "name": found.group(2) or str(len(stages)), "instructions": []}
            )
        elif stages:
            stages[-1]["instructions"].append((instruction, value))
    return stages


def check_dockerfile(report: Report, binaries: Path | None) -> None:
    stages = dockerfile_stages(ROOT / "Dockerfile")
    by_name = {stage["name"]: stage for stage in stages}
    report.check(len(stages) >= 2, f"Dockerfile: a multi-stage build ({len(stages)} stages)")

    def chain(stage: dict) -> list[dict]:
        """The stage and the stages it is built FROM, base first."""
        seen = [stage]
        while seen[0]["base"] in by_name:
            seen.insert(0, by_name[seen[0]["base"]])
        return seen

    def last(stage: dict, instruction: str) -> str | None:
        values = [v for s in chain(stage) for i, v in s["instructions"] if i == instruction]
        return values[-1] if values else None

    used = {stage["base"] for stage in stages}
    for stage in stages:
        for instruction, value in stage["instructions"]:
            if instruction == "COPY":
                used.update(re.findall(r"--from=(\S+)", value))
    finals = [stage for stage in stages if stage["name"] not in used]
    report.check(
        stages[-1] in finals and len(finals) >= 1,
        f"Dockerfile: final images {[s['name'] for s in finals]} (the last stage is one)",
    )
    for stage in finals:
        name = stage["name"]
        root_base = chain(stage)[0]["base"]
        report.check(
            root_base == "debian:bookworm-slim",
            f"Dockerfile {name}: runs on debian:bookworm-slim (is {root_base})",
        )
        user = last(stage, "USER")
        uid = (user or "").split(":")[0].strip()
        report.check(
            uid.isdigit() and int(uid) != 0,
            f"Dockerfile {name}: final USER is a numeric non-root uid (is {user!r})",
        )
        healthcheck = last(stage, "HEALTHCHECK") or ""
        report.check(
            "CMD" in healthcheck and re.search(r"/(readyz|healthz)\b", healthcheck) is not None,
            f"Dockerfile {name}: a HEALTHCHECK on a health route ({healthcheck[-60:]!r})",
        )
        report.check(last(stage, "EXPOSE") is not None, f"Dockerfile {name}: EXPOSEs its port")
        entrypoint = last(stage, "ENTRYPOINT") or ""
        report.check(
            re.search(r"veza-(api|worker)", entrypoint) is not None,
            f"Dockerfile {name}: ENTRYPOINT runs a Veza binary ({entrypoint!r})",
        )

    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]
    rust_version = workspace["rust-version"]
    builders = [s for s in stages if s["base"].startswith("rust:")]
    report.check(
        any(s["base"] == f"rust:{rust_version}-bookworm" for s in builders),
        f"Dockerfile: builds on rust:{rust_version}-bookworm, the workspace's rust-version "
        f"(builders: {[s['base'] for s in builders]})",
    )
    builds = [
        v for s in builders for i, v in s["instructions"] if i == "RUN" and "cargo build" in v
    ]
    report.check(
        any(
            "--release" in b and "--locked" in b and "veza-api" in b and "veza-worker" in b
            for b in builds
        ),
        "Dockerfile: `cargo build --release --locked` of veza-api and veza-worker",
    )
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (".cargo", "Cargo.lock", "Cargo.toml", "migrations", "jobs", "api", "worker"):
        report.check(
            not any(pattern.strip("/") in (needed, "*", "**") for pattern in ignored),
            f".dockerignore keeps {needed} in the build context",
        )
    for secret in (".env", ".git"):
        report.check(secret in ignored, f".dockerignore leaves {secret} out of the build context")

    # Each final image installs the Debian package of every shared library its binary needs.
    def installed(stage: dict) -> set[str]:
        packages: set[str] = set()
        for ancestor in chain(stage):
            for instruction, value in ancestor["instructions"]:
                if instruction == "RUN" and "apt-get install" in value:
                    words = value.split("apt-get install", 1)[1].split("&&")[0].split()
                    packages.update(w for w in words if not w.startswith("-") and w != "\\")
        return packages

    for stage in finals:
        report.check(
            "ca-certificates" in installed(stage),
            f"Dockerfile {stage['name']}: installs ca-certificates",
        )
    if binaries is None:
        print(
            "note: no --binaries: the runtime libraries were not compared with the binaries'",
            file=sys.stderr,
        )
        return
    for stage in finals:
        found = re.search(r"(veza-[a-z]+)", last(stage, "ENTRYPOINT") or "")
        if found is None:
            continue
        binary = found.group(1)
        path = binaries / binary
        if not report.check(path.exists(), f"{path} exists (for its shared libraries)"):
            continue
        packages = library_packages(path)
        missing = sorted(set(packages) - installed(stage) - BASE_IMAGE_PACKAGES)
        report.check(
            not missing,
            f"Dockerfile {stage['name']}: installs the packages of {binary}'s shared libraries "
            f"({', '.join(sorted(set(packages)))}); missing: {missing}",
        )


def library_packages(binary: Path) -> dict[str, str]:
    """Debian package of each shared library `binary` needs directly (DT_NEEDED), by package."""
    needed = re.findall(
        r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
        subprocess.run(
            ["readelf", "-d", str(binary)], capture_output=True, text=True, check=True
        ).stdout,
    )
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    # `libfoo.so.1 => /path/libfoo.so.1 (0x…)`, and the loader as `/lib64/ld-linux….so.2 (0x…)`.
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.MULTILINE))
    resolved.update(
        (Path(path).name, path) for path in re.findall(r"^\s*(/\S+) \(0x", ldd, re.MULTILINE)
    )
    packages: dict[str, str] = {}
    for soname in needed:
        path = resolved.get(soname)
        if path is None:
            packages[f"<unresolved {soname}>"] = soname
            continue
        candidates = [path, str(Path(path).resolve())]
        candidates += [c.removeprefix("/usr") for c in candidates] + [
            "/usr" + c for c in candidates
        ]
        for candidate in candidates:
            owner = subprocess.run(
                ["dpkg", "-S", candidate], capture_output=True, text=True, check=False
            )
            if owner.returncode == 0:
                packages[owner.stdout.split(":", 1)[0].strip()] = soname
                break
        else:
            packages[f"<no package for {path}>"] = soname
    return packages


# --- compose.yaml ------------------------------------------------------------------------------


def check_compose(report: Report, queues: list[str], grace: int) -> dict[str, dict]:
    """Checks compose.yaml; returns its worker groups ({group: {queues, maintenance}})."""
    validation = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report.check(
        validation.returncode == 0,
        "compose.yaml: valid against the Compose specification (check-jsonschema vendor.compose-spec)"
        + ("" if validation.returncode == 0 else f":\n{validation.stdout}{validation.stderr}"),
    )
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose.get("services", {})
    veza = {name: s for name, s in services.items() if "veza-" in str(s.get("image", ""))}
    migrate = services.get("migrate", {})
    report.check(
        migrate.get("command") == ["migrate"] and "veza-api" in str(migrate.get("image")),
        "compose.yaml: a one-shot `migrate` service runs `veza-api migrate`",
    )
    groups: dict[str, dict] = {}
    for name, service in veza.items():
        if name == "migrate":
            continue
        depends = service.get("depends_on", {})
        report.check(
            isinstance(depends, dict)
            and depends.get("migrate", {}).get("condition") == "service_completed_successfully",
            f"compose.yaml {name}: starts after migrate completed successfully",
        )
        report.check(
            "test" in service.get("healthcheck", {}), f"compose.yaml {name}: has a healthcheck"
        )
        env = {k: interpolate(v) for k, v in (service.get("environment") or {}).items()}
        if "veza-worker" in str(service.get("image")):
            drain = int(env.get("VEZA_SHUTDOWN_TIMEOUT_SECONDS", DEFAULT_SHUTDOWN_TIMEOUT))
            stop = seconds(service.get("stop_grace_period", "10s"))
            report.check(
                stop > drain + grace,
                f"compose.yaml {name}: stop_grace_period {stop:g} s > drain {drain} s + release {grace} s",
            )
            group = name.removeprefix("worker-")
            groups[group] = {
                "queues": split_list(env.get("VEZA_QUEUES", ",".join(queues))),
                "maintenance": env.get("VEZA_MAINTENANCE", "true") == "true",
            }
    check_groups(report, "compose.yaml", groups, queues)
    return groups


def check_groups(report: Report, where: str, groups: dict[str, dict], queues: list[str]) -> None:
    """Every queue served by exactly one worker group, and one group runs the maintenance."""
    served = [q for group in groups.values() for q in group["queues"]]
    report.check(
        sorted(served) == sorted(queues),
        f"{where}: the worker groups {sorted(groups)} serve every queue once ({sorted(served)} vs {sorted(queues)})",
    )
    report.check(
        sum(group["maintenance"] for group in groups.values()) >= 1,
        f"{where}: a worker group runs the maintenance",
    )


# --- Kubernetes: rendering ---------------------------------------------------------------------


def render_kubectl(directory: Path) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory}: {out.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
}


def render_fallback(directory: Path) -> list[dict]:
    """A small kustomize: what deploy/kubernetes uses, and an error for anything else."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise RuntimeError(
            f"{directory}: the fallback renderer does not understand {sorted(unknown)}"
        )
    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs.extend(render_fallback(path))
        else:
            docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    global_options = kustomization.get("generatorOptions", {})
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in kustomization.get(key, []):
            unknown = set(generator) - {"name", "envs", "literals", "behavior", "options", "type"}
            if unknown:
                raise RuntimeError(
                    f"{directory}: generator keys {sorted(unknown)} are not supported"
                )
            data: dict[str, str] = {}
            for env_file in generator.get("envs", []):
                for line in (directory / env_file).read_text().splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        name, _, value = line.partition("=")
                        data[name.strip()] = value
            for literal in generator.get("literals", []):
                name, _, value = literal.partition("=")
                data[name] = value
            options = {**global_options, **generator.get("options", {})}
            behavior = generator.get("behavior", "create")
            existing = [
                d for d in docs if d["kind"] == kind and d["metadata"]["name"] == generator["name"]
            ]
            if behavior in ("merge", "replace"):
                if not existing:
                    raise RuntimeError(
                        f"{directory}: nothing to {behavior} for {kind} {generator['name']}"
                    )
                target = existing[0]
                if kind == "Secret":
                    old = {
                        k: base64.b64decode(v).decode() for k, v in target.get("data", {}).items()
                    }
                else:
                    old = dict(target.get("data", {}))
                data = {**old, **data} if behavior == "merge" else data
            else:
                target = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
                if kind == "Secret":
                    target["type"] = generator.get("type", "Opaque")
                docs.append(target)
            if options.get("labels"):
                target["metadata"].setdefault("labels", {}).update(options["labels"])
            if kind == "Secret":
                target["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            else:
                target["data"] = data
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise RuntimeError(
                f"{directory}: only `patches: - path: FILE` is supported, not {patch}"
            )
        for change in yaml.safe_load_all((directory / patch["path"]).read_text()):
            targets = [
                d
                for d in docs
                if d["kind"] == change["kind"]
                and d["metadata"]["name"] == change["metadata"]["name"]
            ]
            if len(targets) != 1:
                raise RuntimeError(f"{directory}/{patch['path']}: {len(targets)} targets")
            merge(targets[0], change)
    for replica in kustomization.get("replicas", []):
        for doc in docs:
            if (
                doc["kind"] in ("Deployment", "StatefulSet")
                and doc["metadata"]["name"] == replica["name"]
            ):
                doc["spec"]["replicas"] = replica["count"]
    for image in kustomization.get("images", []):
        for doc in docs:
            for container in containers(doc):
                name = re.sub(r"(@.*|:[^/]*)$", "", container["image"])
                if name == image["name"]:
                    tag = container["image"][len(name) :]
                    new_name = image.get("newName", name)
                    container["image"] = new_name + (
                        f":{image['newTag']}" if "newTag" in image else tag
                    )
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise RuntimeError(f"{directory}: labels reach metadata only in the fallback renderer")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    return docs


def merge(target: dict, change: dict) -> None:
    """A strategic merge patch as deploy/kubernetes uses it: maps merge, lists of named items
    (containers, env, volumes, ports) merge by name, other lists are replaced."""
    for key, value in change.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif (
            isinstance(value, list)
            and isinstance(current, list)
            and all(isinstance(i, dict) and "name" in i for i in value + current)
        ):
            # As kustomize orders them: the patch's items first, then the others.
            patched = []
            for item in value:
                same = [i for i in current if i["name"] == item["name"]]
                if same:
                    merge(same[0], item)
                    patched.append(same[0])
                else:
                    patched.append(item)
            current[:] = patched + [i for i in current if all(i is not p for p in patched)]
        else:
            target[key] = value


def pod_spec(doc: dict) -> dict | None:
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def containers(doc: dict) -> list[dict]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    return spec.get("containers", []) + spec.get("initContainers", [])


def normalized(docs: list[dict]) -> list[dict]:
    """Two renderings made comparable: sorted, generated names without kustomize's hash
    suffix, Secret data decoded."""
    generated = {
        d["metadata"]["name"]: re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"])
        for d in docs
        if d["kind"] in ("ConfigMap", "Secret")
    }
    text = json.dumps(docs, sort_keys=True)
    for full, short in generated.items():
        text = text.replace(f'"{full}"', f'"{short}"')
    result = json.loads(text)
    for doc in result:
        if doc["kind"] == "Secret":
            doc["data"] = {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
    return sorted(result, key=lambda d: (d["kind"], d["metadata"]["name"]))


# --- Kubernetes: checks ------------------------------------------------------------------------


def check_overlay(
    report: Report,
    overlay: str,
    docs: list[dict],
    queues: list[str],
    grace: int,
    compose_groups: dict[str, dict],
) -> list[dict]:
    """Checks one rendered overlay; returns its KEDA queries."""
    where = f"overlays/{overlay}"
    find = lambda kind: {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}
    deployments, config_maps, secrets = find("Deployment"), find("ConfigMap"), find("Secret")
    jobs, auths = find("Job"), find("TriggerAuthentication")
    available_secrets = set(secrets) | EXTERNAL_SECRETS.get(overlay, set())

    # Schemas: every kind but KEDA's (no schema of theirs ships with kubernetes-validate).
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                problem = ""
            except (
                kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError,
                kubernetes_validate.InvalidSchemaError,
                kubernetes_validate.utils.VersionNotSupportedError,
            ) as err:
                problem = f": {type(err).__name__}: {str(err).splitlines()[0]}"
            report.check(
                not problem, f"{where} {name}: valid for Kubernetes {version} (strict){problem}"
            )

    # Every container of every workload: resources, a non-root pod, no privilege escalation.
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        pod_security = spec.get("securityContext", {})
        report.check(
            pod_security.get("runAsNonRoot") is True and int(pod_security.get("runAsUser", 0)) > 0,
            f"{where} {name}: the pod runs as non-root with a runAsUser",
        )
        for container in containers(doc):
            what = f"{where} {name} container {container['name']}"
            resources = container.get("resources", {})
            complete = all(
                resource in resources.get(side, {})
                for side in ("requests", "limits")
                for resource in ("cpu", "memory")
            )
            if report.check(complete, f"{what}: cpu and memory requests and limits"):
                report.check(
                    all(
                        quantity(resources["requests"][r]) <= quantity(resources["limits"][r])
                        for r in ("cpu", "memory")
                    ),
                    f"{what}: requests within limits ({resources})",
                )
            security = container.get("securityContext", {})
            report.check(
                security.get("allowPrivilegeEscalation") is False
                and security.get("readOnlyRootFilesystem") is True
                and "ALL" in security.get("capabilities", {}).get("drop", []),
                f"{what}: no privilege escalation, read-only root, no capabilities",
            )
            check_references(report, what, container, config_maps, secrets, available_secrets)

    # Deployments: probes on the health routes; workers: grace above drain + release.
    groups: dict[str, dict] = {}
    for name, deployment in deployments.items():
        spec = pod_spec(deployment)
        for container in spec["containers"]:
            what = f"{where} Deployment/{name} container {container['name']}"
            ports = {p.get("name") for p in container.get("ports", [])} | {
                p["containerPort"] for p in container.get("ports", [])
            }
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = container.get(probe, {}).get("httpGet", {})
                report.check(
                    get.get("path") == path and get.get("port") in ports,
                    f"{what}: {probe} on {path} at a declared port ({get})",
                )
            env = effective_env(container, config_maps)
            if "veza-worker" not in container["image"]:
                continue
            drain_text = env.get("VEZA_SHUTDOWN_TIMEOUT_SECONDS")
            report.check(
                drain_text is not None, f"{what}: VEZA_SHUTDOWN_TIMEOUT_SECONDS is set explicitly"
            )
            drain = int(drain_text or DEFAULT_SHUTDOWN_TIMEOUT)
            termination = spec.get("terminationGracePeriodSeconds", 30)
            report.check(
                termination > drain + grace,
                f"{what}: terminationGracePeriodSeconds {termination} > drain {drain} + release {grace}",
            )
            threads = env.get("VEZA_CPU_THREADS")
            if threads is not None:
                limit = quantity(container.get("resources", {}).get("limits", {}).get("cpu", "0"))
                report.check(
                    int(threads) <= max(1, round(limit)),
                    f"{what}: VEZA_CPU_THREADS {threads} fits the CPU limit {limit:g}",
                )
            report.check(
                env.get("VEZA_METRICS_LISTEN", "").startswith("0.0.0.0:"),
                f"{what}: VEZA_METRICS_LISTEN listens beyond loopback, for the probes",
            )
            groups[name.removeprefix("veza-worker-")] = {
                "deployment": name,
                "queues": split_list(env.get("VEZA_QUEUES", ",".join(queues))),
                "maintenance": env.get("VEZA_MAINTENANCE", "true") == "true",
            }
    check_groups(report, where, groups, queues)
    for group, facts in groups.items():
        other = compose_groups.get(group)
        report.check(
            other is not None
            and sorted(other["queues"]) == sorted(facts["queues"])
            and other["maintenance"] == facts["maintenance"],
            f"{where} worker group {group}: the same queues and maintenance as compose.yaml's worker-{group}",
        )

    # The migration Job and what it needs carry the label the apply order selects.
    migrations = [
        j for j in jobs.values() if any(c.get("args") == ["migrate"] for c in containers(j))
    ]
    report.check(len(migrations) == 1, f"{where}: one Job runs `veza-api migrate`")
    for doc in [*migrations, *config_maps.values(), *secrets.values(), *find("Namespace").values()]:
        report.check(
            doc["metadata"].get("labels", {}).get("veza/phase") == "pre-rollout",
            f"{where} {doc['kind']}/{doc['metadata']['name']}: labelled veza/phase=pre-rollout",
        )

    # KEDA, checked by hand: its schemas are not available offline.
    queries = []
    for name, auth in auths.items():
        report.check(
            auth["apiVersion"] == "keda.sh/v1alpha1",
            f"{where} TriggerAuthentication/{name}: keda.sh/v1alpha1",
        )
        refs = auth.get("spec", {}).get("secretTargetRef", [])
        report.check(
            any(r.get("parameter") == "connection" and r.get("key") == "DATABASE_URL" for r in refs)
            and all(r.get("name") in available_secrets for r in refs),
            f"{where} TriggerAuthentication/{name}: the connection comes from DATABASE_URL of an existing Secret",
        )
    scaled = find("ScaledObject")
    targeted = set()
    for name, scaled_object in scaled.items():
        what = f"{where} ScaledObject/{name}"
        spec = scaled_object.get("spec", {})
        report.check(scaled_object["apiVersion"] == "keda.sh/v1alpha1", f"{what}: keda.sh/v1alpha1")
        target = spec.get("scaleTargetRef", {})
        target_name = target.get("name")
        targeted.add(target_name)
        report.check(
            target.get("kind", "Deployment") == "Deployment" and target_name in deployments,
            f"{what}: scaleTargetRef names a rendered Deployment ({target_name})",
        )
        low, high = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
        report.check(
            isinstance(low, int) and isinstance(high, int) and 0 <= low <= high and high >= 1,
            f"{what}: 0 <= minReplicaCount {low} <= maxReplicaCount {high}",
        )
        group = next((g for g, f in groups.items() if f["deployment"] == target_name), None)
        if group is not None and groups[group]["maintenance"]:
            report.check(
                isinstance(low, int) and low >= 1,
                f"{what}: a group that runs the maintenance never scales to zero (min {low})",
            )
        if group == "media":
            report.check(low == 0, f"{what}: the media group scales to zero (min {low})")
        triggers = spec.get("triggers", [])
        report.check(
            len(triggers) == 1 and triggers[0].get("type") == "postgresql",
            f"{what}: one trigger, of type postgresql",
        )
        for trigger in triggers:
            metadata = trigger.get("metadata", {})
            query = metadata.get("query", "")
            try:
                target_value = float(metadata.get("targetQueryValue", "0"))
                activation = float(metadata.get("activationTargetQueryValue", "0"))
            except ValueError:
                target_value, activation = 0.0, -1.0
            report.check(
                isinstance(metadata.get("targetQueryValue"), str)
                and target_value > 0
                and activation >= 0,
                f"{what}: targetQueryValue {metadata.get('targetQueryValue')!r} > 0 (a string, as KEDA wants)",
            )
            report.check(
                trigger.get("authenticationRef", {}).get("name") in auths,
                f"{what}: authenticationRef names a rendered TriggerAuthentication",
            )
            counted = sorted(
                set(re.findall(r"'([a-z]+)'", query)) - {"Pending", "Queued", "Running", "Failed"}
            )
            report.check(
                "apalis.jobs" in query and "$" not in query and "veza_job_state" not in query,
                f"{what}: the query reads apalis.jobs, binds no parameter and calls no function",
            )
            if group is not None:
                report.check(
                    counted == sorted(groups[group]["queues"]),
                    f"{what}: the query counts the queues its Deployment serves ({counted})",
                )
                queries.append(
                    {
                        "overlay": overlay,
                        "name": name,
                        "group": group,
                        "queues": groups[group]["queues"],
                        "query": query,
                    }
                )
    report.check(
        targeted == {facts["deployment"] for facts in groups.values()},
        f"{where}: every worker Deployment has a ScaledObject ({sorted(targeted)})",
    )
    return queries


def effective_env(container: dict, config_maps: dict[str, dict]) -> dict[str, str]:
    """The container's environment as its process sees it: envFrom ConfigMaps, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref in config_maps:
            env.update({k: str(v) for k, v in config_maps[ref].get("data", {}).items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def check_references(
    report: Report,
    what: str,
    container: dict,
    config_maps: dict,
    secrets: dict,
    available_secrets: set[str],
) -> None:
    """ConfigMaps must be rendered; Secrets rendered or expected (EXTERNAL_SECRETS), with every
    key a container needs (unless optional) when rendered."""
    names = [item["name"] for item in container.get("env", [])]
    report.check(len(names) == len(set(names)), f"{what}: no variable is set twice in env")
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            report.check(
                source["configMapRef"]["name"] in config_maps,
                f"{what}: envFrom ConfigMap is rendered",
            )
        if "secretRef" in source:
            report.check(
                source["secretRef"]["name"] in available_secrets, f"{what}: envFrom Secret exists"
            )
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            continue
        if not report.check(
            ref["name"] in available_secrets, f"{what}: {item['name']} from Secret {ref['name']}"
        ):
            continue
        if ref["name"] in secrets and not ref.get("optional"):
            report.check(
                ref["key"] in secrets[ref["name"]].get("data", {}),
                f"{what}: Secret {ref['name']} has the key {ref['key']}",
            )


def check_kubernetes(
    report: Report, queues: list[str], grace: int, compose_groups: dict
) -> list[dict]:
    overlays = sorted(
        p.name for p in (KUBERNETES / "overlays").iterdir() if (p / "kustomization.yaml").exists()
    )
    report.check(
        {"dev", "production"} <= set(overlays),
        f"deploy/kubernetes: overlays dev and production ({overlays})",
    )
    kubectl = shutil.which("kubectl") if "--fallback-only" not in sys.argv else None
    queries = []
    for overlay in overlays:
        directory = KUBERNETES / "overlays" / overlay
        try:
            fallback = render_fallback(directory)
        except (RuntimeError, OSError, KeyError) as err:
            report.check(False, f"overlays/{overlay}: the fallback renderer reads it: {err}")
            continue
        docs = fallback
        if kubectl:
            try:
                docs = render_kubectl(directory)
            except RuntimeError as err:
                report.check(False, f"overlays/{overlay}: {err}")
                continue
            same = normalized(docs) == normalized(fallback)
            report.check(
                same, f"overlays/{overlay}: kubectl kustomize and the fallback renderer agree"
            )
            if not same:
                dump = lambda d: yaml.safe_dump_all(normalized(d), sort_keys=True).splitlines()
                for line in difflib.unified_diff(
                    dump(docs), dump(fallback), "kubectl", "fallback", lineterm="", n=2
                ):
                    print(f"     {line}", file=sys.stderr)
        else:
            print(
                f"note: overlays/{overlay} rendered by the fallback only (no kubectl)",
                file=sys.stderr,
            )
        queries += check_overlay(report, overlay, docs, queues, grace, compose_groups)
    return queries


def main() -> int:
    binaries = None
    if "--binaries" in sys.argv:
        binaries = Path(sys.argv[sys.argv.index("--binaries") + 1])
    report = Report()
    queues = queue_names()
    report.check(len(queues) >= 10, f"README.md lists the queues ({queues})")
    grace = release_grace_seconds()
    check_dockerfile(report, binaries)
    compose_groups = check_compose(report, queues, grace)
    queries = check_kubernetes(report, queues, grace, compose_groups)
    print(
        json.dumps(
            {
                "passed": report.passed,
                "failed": len(report.failures),
                "failures": report.failures,
                "renderer": "fallback"
                if "--fallback-only" in sys.argv or not shutil.which("kubectl")
                else "kubectl kustomize",
                "queries": queries,
            }
        )
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
