/**
 * Helm and kubeconform for the chart's tests, built from the Go module proxy like the test bed's Kubernetes
 * (scripts/build-go.sh, cached outside the repo), and kubeconform's JSON schemas generated from the test bed's own
 * API server (nothing can be downloaded here): its OpenAPI v2 document, one schema file per kind, each holding the
 * definitions it refers to.
 */
import { execFile } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { runScript } from "./assets.ts"
import { cacheDir, versions } from "./paths.ts"

export interface ChartTools {
  readonly helm: string
  readonly kubeconform: string
  /**
   * The Prometheus Operator's CRDs the chart's monitors need, to apply to the test bed: the test bed has no
   * operator, and kubeconform no schema for them.
   */
  readonly monitoringCrds: ReadonlyArray<string>
}

/**
 * The paths of helm, kubeconform and the monitoring CRDs, building what is missing (about 4 minutes on 2 cores the
 * first time).
 */
export const ensureChartTools = async (
  onProgress: (line: string) => void = () => {}
): Promise<ChartTools> => {
  await runScript("build-go.sh", ["helm kubeconform monitoring-crds"], onProgress)
  const crds = join(cacheDir, "monitoring-crds", `v${versions.monitoring}`)
  return {
    helm: join(cacheDir, "helm", `v${versions.helm}`, "helm"),
    kubeconform: join(cacheDir, "kubeconform", `v${versions.kubeconform}`, "kubeconform"),
    monitoringCrds: [join(crds, "servicemonitors.yaml"), join(crds, "podmonitors.yaml")]
  }
}

type Schema = { [key: string]: unknown }

const definitionRef = /^#\/definitions\/(.+)$/

/** The definitions `name` refers to, itself included, transitively. */
const closure = (definitions: Readonly<Record<string, Schema>>, name: string): Set<string> => {
  const seen = new Set<string>()
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) for (const item of value) visit(item)
    else if (typeof value === "object" && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        const ref = key === "$ref" && typeof inner === "string" ? definitionRef.exec(inner)?.[1] : undefined
        if (ref !== undefined && !seen.has(ref) && definitions[ref] !== undefined) {
          seen.add(ref)
          visit(definitions[ref])
        } else visit(inner)
      }
    }
  }
  seen.add(name)
  visit(definitions[name])
  return seen
}

/**
 * A definition as JSON schema for kubeconform: the formats JSON schema does not know are spelt out (an
 * int-or-string is either; a quantity, a string or a number), and with `strict`, an object with declared
 * properties and no `x-kubernetes-preserve-unknown-fields` takes no others (a misspelt field fails).
 */
const toJsonSchema = (value: unknown, strict: boolean): unknown => {
  if (Array.isArray(value)) return value.map((item) => toJsonSchema(item, strict))
  if (typeof value !== "object" || value === null) return value
  const schema = value as Schema
  if (schema.format === "int-or-string" || schema["x-kubernetes-int-or-string"] === true) {
    const { type: _type, format: _format, ...rest } = schema
    return { ...rest, oneOf: [{ type: "string" }, { type: "integer" }] }
  }
  // A resource quantity (`cpu: 1`, `memory: 64Mi`): the API server's OpenAPI v2 types it as a string only.
  if (typeof schema.description === "string" && schema.type === "string" && isQuantity(schema)) {
    const { type: _type, ...rest } = schema
    return { ...rest, oneOf: [{ type: "string" }, { type: "number" }] }
  }
  const out: Schema = {}
  for (const [key, inner] of Object.entries(schema)) out[key] = toJsonSchema(inner, strict)
  if (
    strict &&
    schema.type === "object" &&
    schema.properties !== undefined &&
    schema.additionalProperties === undefined &&
    schema["x-kubernetes-preserve-unknown-fields"] !== true
  )
    out.additionalProperties = false
  return out
}

const isQuantity = (schema: Schema) =>
  (schema.description as string).startsWith("Quantity is a fixed-point representation of a number.")

/** The file name kubeconform looks up with {@link schemaLocation}. */
const fileName = (group: string, version: string, kind: string) =>
  `${kind.toLowerCase()}-${group === "" ? "" : `${group.split(".")[0]}-`}${version}.json`

/**
 * The `-schema-location` of the schemas {@link writeSchemas} writes into `dir`: kubeconform's own naming, the kind
 * and the first part of the group and the version (`deployment-apps-v1.json`, `service-v1.json`).
 */
export const schemaLocation = (dir: string) => `${dir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`

/**
 * Writes a JSON schema for every kind the API server at `kubeconfig` serves into `dir` (made if missing), with
 * `kubectl get --raw /openapi/v2`. Returns how many were written.
 */
export const writeSchemas = async (options: {
  readonly kubectl: string
  readonly kubeconfig: string
  readonly dir: string
  readonly strict?: boolean
}): Promise<number> => {
  const { stdout } = await promisify(execFile)(
    options.kubectl,
    ["--kubeconfig", options.kubeconfig, "get", "--raw", "/openapi/v2"],
    { maxBuffer: 256 * 1024 * 1024 }
  )
  const definitions = (JSON.parse(stdout) as { definitions: Record<string, Schema> }).definitions
  mkdirSync(options.dir, { recursive: true })
  let written = 0
  for (const [name, definition] of Object.entries(definitions)) {
    const kinds = definition["x-kubernetes-group-version-kind"] as
      | ReadonlyArray<{ group: string; version: string; kind: string }>
      | undefined
    for (const { group, version, kind } of kinds ?? []) {
      const used = Object.fromEntries(
        [...closure(definitions, name)].map((ref) => [
          ref,
          toJsonSchema(definitions[ref], options.strict ?? true)
        ])
      )
      const schema = { ...(toJsonSchema(definition, options.strict ?? true) as Schema), definitions: used }
      writeFileSync(join(options.dir, fileName(group, version, kind)), JSON.stringify(schema))
      written += 1
    }
  }
  return written
}
