// Checks every object of every file in a directory of Kubernetes manifests against
// the OpenAPI schema of its apiVersion and kind, as kubernetes-models ships it: one
// validator per kind, compiled from the schema with ajv. Those validators accept keys
// the schema does not have (the schema sets no additionalProperties: false), so a
// misspelled key, which the API server drops or refuses depending on its field
// validation, is caught here: see watch.
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const KUSTOMIZATION = "kustomization.yaml";

// apiVersions past beta ("v1", "apps/v1"): kubernetes-models also keeps the schemas of
// alpha and beta versions, among them ones API servers no longer serve (apps/v1beta2,
// extensions/v1beta1).
const GA = /^([a-z0-9.-]+\/)?v[0-9]+$/;

// The kubernetes-models class for apiVersion and kind, or null. Its module is named
// after the apiVersion; a module exports the kind's class along with the classes of
// the objects' parts, which carry no apiVersion or kind.
async function modelClass(apiVersion, kind) {
    let module;
    try {
        module = await import(`kubernetes-models/${apiVersion}`);
    } catch {
        return null;
    }
    const model = module[kind];
    return model?.apiVersion === apiVersion && model?.kind === kind ? model : null;
}

// A copy of value in which every object records which of its keys are read. The
// validators read each property the schema has (`data.runAsUser !== undefined`) and
// list the keys of maps (`for (key in data)`), so a key of an object the validator
// read from, but did not list, is a key the schema does not have. An object it
// neither read from nor listed is free-form (or a part already reported). A property
// whose schema allows anything is not read either, and so reported: none of the kinds
// here has one.
function watch(value, where, records) {
    if (Array.isArray(value)) {
        return value.map((item, i) => watch(item, `${where}/${i}`, records));
    }
    if (value === null || typeof value !== "object") {
        return value;
    }
    const record = { where, keys: Object.keys(value), read: new Set(), listed: false };
    records.push(record);
    const copy = {};
    for (const key of record.keys) {
        copy[key] = watch(value[key], `${where}/${key}`, records);
    }
    return new Proxy(copy, {
        get(target, key, receiver) {
            record.read.add(key);
            return Reflect.get(target, key, receiver);
        },
        ownKeys(target) {
            record.listed = true;
            return Reflect.ownKeys(target);
        },
    });
}

function unknownKeys(records) {
    return records
        .filter((r) => r.read.size > 0 && !r.listed)
        .flatMap((r) => r.keys.filter((k) => !r.read.has(k)).map((k) => `${r.where}/${k}`));
}

// The schema's complaints about one object, as "path: message" lines.
async function objectErrors(object) {
    if (object === null || typeof object !== "object" || Array.isArray(object)) {
        return ["/: not an object"];
    }
    if (!GA.test(object.apiVersion)) {
        return [`/apiVersion: ${object.apiVersion} is not a GA version (vN)`];
    }
    const model = await modelClass(object.apiVersion, object.kind);
    if (model === null) {
        const { apiVersion, kind } = object;
        return [`/: kubernetes-models has no schema for apiVersion ${apiVersion} kind ${kind}`];
    }
    const records = [];
    const watched = watch(object, "", records);
    const errors = [];
    try {
        // validate() runs the kind's validator on `this`: here the watched copy.
        model.prototype.validate.call(watched);
    } catch (error) {
        if (!error.errors) {
            throw error;
        }
        for (const e of error.errors) {
            const allowed = e.params?.allowedValues?.join(", ");
            errors.push(`${e.instancePath || "/"}: ${e.message}${allowed ? ` (${allowed})` : ""}`);
        }
    }
    for (const where of unknownKeys(records)) {
        errors.push(`${where}: unknown field, not in the schema`);
    }
    return errors;
}

// kustomization.yaml is kustomize's, not a Kubernetes object: it must list exactly the
// directory's other files and use no feature beyond that, which would need a check of
// its own here.
function kustomizationErrors(object, manifests) {
    const errors = [];
    const { apiVersion, kind } = object ?? {};
    if (apiVersion !== "kustomize.config.k8s.io/v1beta1" || kind !== "Kustomization") {
        errors.push("/: not a kustomize.config.k8s.io/v1beta1 Kustomization");
    }
    for (const key of Object.keys(object ?? {})) {
        if (!["apiVersion", "kind", "resources"].includes(key)) {
            errors.push(`/${key}: not checked here (only resources is)`);
        }
    }
    const listed = [...(object?.resources ?? [])].sort();
    if (JSON.stringify(listed) !== JSON.stringify(manifests)) {
        errors.push(`/resources: ${listed.join(" ")} is not the other files: ${manifests.join(" ")}`);
    }
    return errors;
}

// The documents of a file as { yamlErrors, object }, read as YAML 1.1 like Kubernetes'
// parser (`on` and `yes` are booleans). Empty documents (a trailing `---`) are left out,
// as kubectl leaves them out.
function documents(text) {
    return parseAllDocuments(text, { version: "1.1" })
        .map((doc) => {
            // The first line: "... at line L, column C:", without the excerpt after it.
            const yamlErrors = [...doc.errors, ...doc.warnings]
                .map((e) => `yaml: ${e.message.split("\n")[0].replace(/:$/, "")}`);
            return { yamlErrors, object: yamlErrors.length > 0 ? undefined : doc.toJS() };
        })
        .filter(({ yamlErrors, object }) => yamlErrors.length > 0 || object !== null);
}

// One result per object of every file in dir: { file, kind, name, errors }.
export async function checkDirectory(dir) {
    const files = fs.readdirSync(dir).sort();
    const manifests = files.filter((f) => f !== KUSTOMIZATION);
    const results = [];
    for (const file of files) {
        const docs = documents(fs.readFileSync(path.join(dir, file), "utf8"));
        if (docs.length === 0) {
            results.push({ file, kind: "-", name: "-", errors: ["no YAML document"] });
        }
        for (const { yamlErrors, object } of docs) {
            const result = { file, kind: object?.kind ?? "-", name: object?.metadata?.name ?? "-" };
            if (yamlErrors.length > 0) {
                result.errors = yamlErrors;
            } else if (file === KUSTOMIZATION && docs.length > 1) {
                result.errors = ["more than one document"];
            } else if (file === KUSTOMIZATION) {
                result.errors = kustomizationErrors(object, manifests);
            } else {
                result.errors = await objectErrors(object);
            }
            results.push(result);
        }
    }
    return results;
}
