// Validates every object of every file in a directory of Kubernetes manifests against
// the Kubernetes OpenAPI schema (manifests.mjs): one ok or FAIL line per object, then
// the schema's errors of a failed one; exits 1 on any failure.
// usage: node validate.mjs DIR
import { checkDirectory } from "./manifests.mjs";

const results = await checkDirectory(process.argv[2]);
let failed = 0;
for (const { file, kind, name, errors } of results) {
    console.log(`${errors.length === 0 ? "ok  " : "FAIL"}  ${file} ${kind} ${name}`);
    for (const error of errors) {
        console.log(`        ${error}`);
    }
    failed += errors.length === 0 ? 0 : 1;
}
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
