// The validator rejects what it is there to catch. Each case breaks one file of a copy
// of the manifests the way a hand edit can, and the check must fail that file's object,
// and no other, with the expected error.
// usage: node selftest.mjs DIR
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkDirectory } from "./manifests.mjs";

const container = "/spec/template/spec/containers/0";
const cases = [
    {
        what: "a misspelled securityContext key",
        file: "daemonset.yaml",
        from: "          securityContext:\n            privileged: false",
        to: "          securityContxt:\n            privileged: false",
        error: `${container}/securityContxt: unknown field`,
    },
    {
        what: "a misspelled setting in securityContext",
        file: "daemonset.yaml",
        from: "readOnlyRootFilesystem: true",
        to: "readOnlyRootFileSystem: true",
        error: `${container}/securityContext/readOnlyRootFileSystem: unknown field`,
    },
    {
        what: "a string for an integer",
        file: "daemonset.yaml",
        from: "runAsUser: 0",
        to: 'runAsUser: "0"',
        error: `${container}/securityContext/runAsUser: must be integer`,
    },
    {
        what: "a value outside an enum",
        file: "daemonset.yaml",
        from: "type: RuntimeDefault",
        to: "type: runtimeDefault",
        error: "/spec/template/spec/securityContext/seccompProfile/type: must be equal to one of",
    },
    {
        what: "a required field missing",
        file: "daemonset.yaml",
        from: "- name: agent",
        to: "- workingDir: /",
        error: `${container}: must have required property name`,
    },
    {
        what: "a YAML 1.1 boolean where a string belongs",
        file: "namespace.yaml",
        from: "pod-security.kubernetes.io/enforce: privileged",
        to: "pod-security.kubernetes.io/enforce: on",
        error: "/metadata/labels/pod-security.kubernetes.io~1enforce: must be string",
    },
    {
        what: "a duplicate key",
        file: "daemonset.yaml",
        from: "      hostNetwork: false\n",
        to: "      hostNetwork: false\n      hostNetwork: true\n",
        error: "yaml: Map keys must be unique",
    },
    {
        what: "a kind kubernetes-models has no schema for",
        file: "daemonset.yaml",
        from: "kind: DaemonSet",
        to: "kind: Daemonset",
        error: "/: kubernetes-models has no schema for apiVersion apps/v1 kind Daemonset",
    },
    {
        what: "an apiVersion past its removal",
        file: "daemonset.yaml",
        from: "apiVersion: apps/v1",
        to: "apiVersion: apps/v1beta2",
        error: "/apiVersion: apps/v1beta2 is not a GA version",
    },
    {
        what: "a manifest kustomization.yaml does not list",
        file: "kustomization.yaml",
        from: "  - namespace.yaml\n",
        to: "",
        error: "/resources: ",
    },
];

const source = process.argv[2];
let failed = 0;
for (const c of cases) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-schema-"));
    let got;
    try {
        fs.cpSync(source, dir, { recursive: true });
        const file = path.join(dir, c.file);
        const text = fs.readFileSync(file, "utf8");
        if (!text.includes(c.from)) {
            got = [`${c.file} no longer has ${JSON.stringify(c.from)}: update the case`];
        } else {
            fs.writeFileSync(file, text.replace(c.from, c.to));
            got = (await checkDirectory(dir))
                .filter((r) => r.errors.length > 0)
                .map((r) => `${r.file} ${r.kind} ${r.name}: ${r.errors.join("; ")}`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true });
    }
    const rejected = got.length === 1 && got[0].startsWith(c.file) && got[0].includes(c.error);
    console.log(`${rejected ? "ok  " : "FAIL"}  rejects ${c.what}`);
    if (!rejected) {
        console.log(`        expected ${c.file}: ${c.error}`);
        for (const line of got) {
            console.log(`        got ${line}`);
        }
        failed++;
    }
}
console.log(`${cases.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
