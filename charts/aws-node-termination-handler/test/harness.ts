/**
 * What the chart's tests share: Helm and kubeconform (built once, cached outside the repo), kubeconform's strict
 * schemas from the test bed's own API server, and rendering, reading back and validating the chart's objects.
 *
 *   beforeAll(prepare, 900_000)
 *   const daemonSet = find(await objectsOf(await rendered("--set", "taintNode=true")), "DaemonSet")
 */
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { promisify } from "node:util"
import { ChartTools, type TestBed } from "@nth/testbed"
import { expect, inject } from "vitest"
import { parseAllDocuments } from "yaml"

const execFileAsync = promisify(execFile)
export const env: TestBed.Environment = inject("nthTestbed")
export const chart = resolve(import.meta.dirname, "..")
export const work = mkdtempSync(join(tmpdir(), "nth-chart-test-"))
const schemas = join(work, "schemas")
let chartTools: ChartTools.ChartTools | undefined

/** helm and kubeconform, once `prepare` has run. */
export const tools = (): ChartTools.ChartTools => {
  if (chartTools === undefined) throw new Error("call prepare() in beforeAll first")
  return chartTools
}

export interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a program, `input` on its stdin; a non-zero exit is an outcome, not an exception. */
export const run = async (file: string, args: ReadonlyArray<string>, input?: string): Promise<Outcome> => {
  const child = execFileAsync(file, [...args], { maxBuffer: 64 * 1024 * 1024 })
  // A program that exits without reading its stdin (most kubectl commands) makes the write fail with EPIPE, an
  // error the stream would otherwise throw as uncaught (a CI run failed on it, all tests passed): its exit says
  // what happened.
  child.child.stdin?.on("error", () => {})
  child.child.stdin?.end(input ?? "")
  return child
    .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }))
    .catch((error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof error.code === "number" ? error.code : 1,
      stdout: error.stdout ?? "",
      stderr: error.stderr ?? ""
    }))
}

/** `run`, which must succeed: its stdout (a failure throws, with the program's stderr). */
export const succeed = async (file: string, args: ReadonlyArray<string>, input?: string) => {
  const outcome = await run(file, args, input)
  if (outcome.code !== 0) {
    throw new Error(
      `${file} ${args.join(" ")} exited with ${outcome.code}: ${(outcome.stderr || outcome.stdout).trim()}`
    )
  }
  return outcome.stdout
}

/**
 * The objects kubectl printed with `-o json`: one object, a `List`'s items, or several objects one after another
 * (`create --dry-run=client` prints one per manifest document, each opening and closing in the first column).
 */
export const jsonObjects = <A = Record<string, unknown>>(text: string): Array<A> => {
  const trimmed = text.trim()
  if (trimmed === "") return []
  const values = JSON.parse(`[${trimmed.replace(/^}\s*\n\{$/gm, "},{")}]`) as Array<{
    kind?: string
    items?: Array<A>
  }>
  return values.flatMap((value) => (value.kind === "List" ? (value.items ?? []) : [value as A]))
}

export const kubectl = (args: ReadonlyArray<string>, input?: string) =>
  run(env.NTH_TESTBED_KUBECTL, ["--kubeconfig", env.KUBECONFIG, ...args], input)

let fileCount = 0
export const file = (name: string, text: string) => {
  fileCount += 1
  const path = join(work, `${fileCount}-${name}`)
  writeFileSync(path, text)
  return path
}

/** `helm template` of the chart as the guide installs it (release aws-node-termination-handler in kube-system). */
export const template = (...args: ReadonlyArray<string>) =>
  run(tools().helm, [
    "template",
    "aws-node-termination-handler",
    chart,
    "--namespace",
    "kube-system",
    ...args
  ])

/** `template`, which must succeed: its manifest. */
export const rendered = async (...args: ReadonlyArray<string>) => {
  const outcome = await template(...args)
  expect(outcome.stderr).toBe("")
  expect(outcome.code).toBe(0)
  return outcome.stdout
}

// A Kubernetes object, as far as these tests look into one (a DaemonSet's fields are read where there is one).
export interface Container {
  readonly name: string
  readonly image: string
  readonly env: ReadonlyArray<{
    readonly name: string
    readonly value?: string
    readonly valueFrom?: unknown
  }>
  readonly [field: string]: unknown
}
export interface PodSpec {
  readonly containers: ReadonlyArray<Container>
  readonly [field: string]: unknown
}
export interface KubeObject {
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
  }
  readonly spec: {
    readonly selector: unknown
    readonly template: {
      readonly metadata: { readonly labels: Record<string, string> }
      readonly spec: PodSpec
    }
    readonly [field: string]: unknown
  }
  readonly rules?: ReadonlyArray<unknown>
  readonly [field: string]: unknown
}

/** The manifest's objects, parsed (Helm's output is YAML documents, one object each; empty ones are skipped). */
export const objectsOf = async (manifest: string): Promise<Array<KubeObject>> => {
  const documents = parseAllDocuments(manifest)
  for (const document of documents) expect(document.errors).toEqual([])
  return documents
    .map((document) => document.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null)
}

export const find = (objects: ReadonlyArray<KubeObject>, kind: string) => {
  const found = objects.filter((o) => o.kind === kind)
  expect(found, kind).toHaveLength(1)
  return found[0] as KubeObject
}

/** The rendered DaemonSet (IMDS mode, Linux). */
export const daemonSetOf = async (...args: ReadonlyArray<string>) =>
  find(await objectsOf(await rendered(...args)), "DaemonSet")

/** The rendered Deployment (queue mode). */
export const deploymentOf = async (...args: ReadonlyArray<string>) =>
  find(await objectsOf(await rendered(...args)), "Deployment")

export const containerOf = (workload: KubeObject): Container => workload.spec.template.spec.containers[0]!

/** The container's environment, name → value (or the valueFrom, as JSON). */
export const envOf = async (...args: ReadonlyArray<string>): Promise<Record<string, string>> =>
  envOfWorkload(await daemonSetOf(...args))

/** A workload's container environment, name → value (or the valueFrom, as JSON); a name given twice fails. */
export const envOfWorkload = (workload: KubeObject): Record<string, string> => {
  const entries = containerOf(workload).env
  const names = entries.map((e) => e.name)
  expect(new Set(names).size, `duplicate variables in ${names.join(", ")}`).toBe(names.length)
  return Object.fromEntries(entries.map((e) => [e.name, e.value ?? JSON.stringify(e.valueFrom)]))
}

/**
 * kubeconform's verdict (strict schemas of the test bed's API server). The Prometheus Operator's kinds are
 * skipped: `dryRunOnServer` checks them against their CRDs.
 */
export const validate = async (manifest: string) => {
  const outcome = await run(tools().kubeconform, [
    "-schema-location",
    ChartTools.schemaLocation(schemas),
    "-skip",
    "ServiceMonitor,PodMonitor",
    "-summary",
    "-output",
    "json",
    file("validate.yaml", manifest)
  ])
  return JSON.parse(outcome.stdout) as {
    resources?: ReadonlyArray<{ kind: string; name: string; status: string; msg: string }>
    summary: { valid: number; invalid: number; errors: number; skipped: number }
  }
}

/**
 * Builds helm, kubeconform and the monitoring CRDs when missing (about 4 minutes the first time), writes
 * kubeconform's schemas from the test bed's API server and applies the CRDs. For `beforeAll`, with a long timeout.
 */
export const prepare = async () => {
  chartTools = await ChartTools.ensureChartTools((line) => console.log(line))
  const written = await ChartTools.writeSchemas({
    kubectl: env.NTH_TESTBED_KUBECTL,
    kubeconfig: env.KUBECONFIG,
    dir: schemas
  })
  expect(written).toBeGreaterThan(50)
  // The monitors' kinds, so that kubectl can read and the API server can check ServiceMonitor and PodMonitor
  // objects (applying a CRD again is a no-op; no test bed test creates monitors for real).
  const applied = await kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    ...chartTools.monitoringCrds.flatMap((crd) => ["-f", crd])
  ])
  expect(applied.stderr).toBe("")
  const established = await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/servicemonitors.monitoring.coreos.com",
    "crd/podmonitors.monitoring.coreos.com"
  ])
  expect(established.stderr).toBe("")
}

/**
 * A server-side dry run of the manifest's objects of `kinds` (those kubeconform has no schema for): the API server
 * checks them against their CRD's schema. The objects' namespaces must exist; nothing is created.
 */
export const dryRunOnServer = async (objects: ReadonlyArray<KubeObject>, kinds: ReadonlyArray<string>) => {
  const chosen = objects.filter((o) => kinds.includes(o.kind))
  expect(chosen.map((o) => o.kind).sort()).toEqual([...kinds].sort())
  return kubectl(
    ["create", "--dry-run=server", "-o", "name", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: chosen })
  )
}
