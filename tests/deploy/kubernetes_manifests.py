#!/usr/bin/env python3
"""The Kubernetes manifests lint clean and keep their least-privilege shape.

usage: kubernetes_manifests.py SOURCE_DIR PALISADE_BINARY

yamllint over deploy/ (deploy/yamllint.yaml), then the DaemonSet's pod is checked
field by field: not privileged, every capability dropped and exactly the unit's
set added back, read-only root, no host namespaces, host paths read-only except
the pins, probes on /healthz, requests and limits, tolerating every taint; the
RBAC is get/list/watch of pods and namespaces and nothing more. The
ConfigMap's policies must be valid and its default policy the one `make install`
puts in /etc/palisade/policies.d.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SOURCE, BINARY = sys.argv[1], sys.argv[2]
K8S = os.path.join(SOURCE, "deploy", "kubernetes")
failures = []
passed = 0


def check(condition, what, details=""):
    global passed
    print(("ok    " if condition else "FAIL  ") + what)
    if condition:
        passed += 1
    else:
        print(details, end="")
        failures.append(what)


def load_all():
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            with open(os.path.join(K8S, name)) as f:
                for doc in yaml.safe_load_all(f):
                    docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def unit_capabilities():
    with open(os.path.join(SOURCE, "systemd", "palisade.service")) as f:
        m = re.search(r"^CapabilityBoundingSet=(.*)$", f.read(), re.M)
    return sorted(c.removeprefix("CAP_") for c in m.group(1).split())


if shutil.which("yamllint") is None:
    print("SKIP: yamllint is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)
lint = subprocess.run(["yamllint", "-s", "-c", os.path.join(SOURCE, "deploy", "yamllint.yaml"),
                       os.path.join(SOURCE, "deploy")], capture_output=True, text=True)
check(lint.returncode == 0, "yamllint -s deploy/", lint.stdout)

docs = load_all()
with open(os.path.join(K8S, "kustomization.yaml")) as f:
    listed = yaml.safe_load(f)["resources"]
check(sorted(listed) == sorted(n for n in os.listdir(K8S)
                               if n.endswith(".yaml") and n != "kustomization.yaml"),
      "kustomization.yaml lists every manifest")

ds = docs[("DaemonSet", "palisade")]
pod = ds["spec"]["template"]["spec"]
(agent,) = pod["containers"]
sc = agent["securityContext"]
caps = sc["capabilities"]

check(sc.get("privileged") is False, "privileged: false")
check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")
check(caps.get("drop") == ["ALL"], "capabilities drop ALL")
check(sorted(caps.get("add", [])) == unit_capabilities(),
      f"capabilities add {sorted(caps.get('add', []))} == the unit's {unit_capabilities()}")
check("SYS_ADMIN" not in caps.get("add", []), "no CAP_SYS_ADMIN")
check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
for ns in ("hostNetwork", "hostIPC"):
    check(pod.get(ns) is False, f"{ns}: false")
# Containers' addresses come from /proc/<pid>/net of their processes.
check(pod.get("hostPID") is True, "hostPID: true")
# The token is for the API server's pods and namespaces, with exactly this RBAC.
check(pod.get("automountServiceAccountToken") is True and
      docs[("ServiceAccount", "palisade")].get("automountServiceAccountToken") is not False,
      "the service account token is mounted")
check(pod.get("serviceAccountName") == "palisade", "the pod runs as ServiceAccount palisade")
env = {e["name"]: e for e in agent.get("env", [])}
check(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
      == "spec.nodeName", "NODE_NAME is the node's name (downward API)")
role = docs[("ClusterRole", "palisade")]
check(role["rules"] == [{"apiGroups": [""], "resources": ["pods", "namespaces"],
                         "verbs": ["get", "list", "watch"]}],
      "ClusterRole palisade: get, list, watch of pods and namespaces, nothing more",
      f"{role['rules']}\n")
binding = docs[("ClusterRoleBinding", "palisade")]
check(binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "palisade"} and
      binding["subjects"] == [{"kind": "ServiceAccount", "name": "palisade",
                               "namespace": "palisade-system"}],
      "ClusterRoleBinding palisade binds the role to the agent's ServiceAccount alone")
check(sorted(k for k, _ in docs if k in ("Role", "RoleBinding", "ClusterRole",
                                          "ClusterRoleBinding"))
      == ["ClusterRole", "ClusterRoleBinding"], "no other role or binding")
check({"operator": "Exists"} in pod.get("tolerations", []), "tolerates every taint")

for name in ("livenessProbe", "readinessProbe"):
    get = agent.get(name, {}).get("httpGet", {})
    check(get.get("path") == "/healthz" and get.get("port") == "metrics",
          f"{name} on /healthz of the metrics port")
ports = {p["name"]: p["containerPort"] for p in agent.get("ports", [])}
res = agent.get("resources", {})
check(all(k in res.get("requests", {}) for k in ("cpu", "memory")), "cpu and memory requests")
check(all(k in res.get("limits", {}) for k in ("cpu", "memory")), "cpu and memory limits")

volumes = {v["name"]: v for v in pod["volumes"]}
host_paths = {}
for m in agent["volumeMounts"]:
    vol = volumes[m["name"]]
    if "hostPath" in vol:
        host_paths[vol["hostPath"]["path"]] = m
writable = sorted(p for p, m in host_paths.items() if not m.get("readOnly"))
check(writable == ["/sys/fs/bpf/palisade"],
      f"host paths read-only except the pins (writable: {writable})")
check(all(m.get("mountPropagation") != "Bidirectional" for m in agent["volumeMounts"]),
      "no Bidirectional mount propagation (it needs a privileged container)")
for path in ("/run/containerd", "/run/crio", "/var/run", "/run", "/var/lib/docker"):
    check(path not in host_paths, f"{path} (a runtime socket) is not mounted")

config_doc = docs[("ConfigMap", "palisade-config")]
config = yaml.safe_load(config_doc["data"]["palisade.yaml"])
mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
args = agent["args"]
config_path = args[args.index("--config") + 1]
check(os.path.dirname(config_path) in mounts and
      volumes[mounts[os.path.dirname(config_path)]["name"]].get("configMap", {})
      .get("name") == "palisade-config", f"--config {config_path} is the ConfigMap")
check(config["stateDir"] in mounts and
      volumes[mounts[config["stateDir"]]["name"]]["hostPath"]["path"] == "/sys/fs/bpf/palisade",
      "stateDir is the host's /sys/fs/bpf/palisade")
check(config["cgroupRoot"] in mounts, "cgroupRoot is a mounted host path")
check(os.path.dirname(config["controlSocket"]) in mounts, "controlSocket's directory is a volume")
policy_mount = mounts.get(config["policyDir"], {})
check(volumes.get(policy_mount.get("name"), {}).get("configMap", {}).get("name")
      == "palisade-policies" and "subPath" not in policy_mount,
      "policyDir is the policies ConfigMap, mounted whole (no subPath: updates arrive)")
check(config["metrics"]["listen"].endswith(":%d" % ports.get("metrics", -1)),
      "metrics.listen is the probed port")

policies = docs[("ConfigMap", "palisade-policies")]["data"]
with open(os.path.join(SOURCE, "deploy", "etc", "palisade", "policies.d", "default.yaml")) as f:
    check(policies.get("default.yaml") == f.read(),
          "the ConfigMap's default.yaml is deploy/etc/palisade/policies.d/default.yaml")
with tempfile.TemporaryDirectory() as tmp:
    for name, text in policies.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    result = subprocess.run([BINARY, "policy", "check", tmp], capture_output=True, text=True)
    check(result.returncode == 0, "palisade policy check on the ConfigMap's policies",
          result.stdout)

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
