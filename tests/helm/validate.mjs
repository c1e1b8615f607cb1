// Validates what tests/helm/render printed: every object against the Kubernetes API
// schemas (npm kubernetes-models, and @kubernetes-models/prometheus-operator for the
// ServiceMonitor), and the merged values against the chart's values.schema.json.
//
//   node validate.mjs RENDERED_JSON VALUES_SCHEMA   (exit 1 with one line per problem)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv from "ajv";
import { monitoringCoreosCom } from "@kubernetes-models/prometheus-operator";

const require = createRequire(import.meta.url);
const [renderedPath, schemaPath] = process.argv.slice(2);
const rendered = JSON.parse(readFileSync(renderedPath, "utf8"));
const problems = [];

function modelFor(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") return monitoringCoreosCom.v1[kind];
  try {
    return require(`kubernetes-models/${apiVersion}/${kind}`)[kind];
  } catch {
    return undefined;
  }
}

for (const object of rendered.objects) {
  const what = `${object.kind}/${object.metadata?.name}`;
  const Model = modelFor(object.apiVersion, object.kind);
  if (!Model) {
    problems.push(`${what}: no schema for ${object.apiVersion} ${object.kind}`);
    continue;
  }
  try {
    new Model(object).validate();
  } catch (e) {
    problems.push(`${what}: ${e.message}`);
  }
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateValues = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
if (!validateValues(rendered.values)) {
  for (const e of validateValues.errors) problems.push(`values${e.instancePath}: ${e.message}`);
}

for (const p of problems) console.log(p);
console.log(`${rendered.objects.length} objects checked, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);
