/**
 * Helm and kubeconform as the chart's tests will use them: built from the Go module proxy (cached outside the
 * repo), kubeconform validating against schemas generated from the test bed's own API server, helm rendering a
 * chart offline.
 */
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { beforeAll, describe, expect, inject, it } from "vitest"
import { ChartTools } from "../src/index.ts"

const run = promisify(execFile)
const env = inject("nthTestbed")
let tools: ChartTools.ChartTools
const schemas = mkdtempSync(join(tmpdir(), "nth-schemas-"))
const work = mkdtempSync(join(tmpdir(), "nth-chart-"))

/** kubeconform's verdict on `manifest` (strict schemas of the test bed's API server). */
const validate = async (manifest: string) => {
  const file = join(work, `manifest-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(file, manifest)
  const result = await run(tools.kubeconform, [
    "-schema-location",
    ChartTools.schemaLocation(schemas),
    "-summary",
    "-output",
    "json",
    file
  ]).catch((error: { stdout: string; code: number }) => ({ stdout: error.stdout, code: error.code }))
  return JSON.parse(result.stdout) as {
    resources?: ReadonlyArray<{ kind: string; status: string; msg: string }>
    summary: { valid: number; invalid: number; errors: number; skipped: number }
  }
}

const deployment = (spec: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
${spec}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: web:1
          ports: [{ containerPort: 8080 }]
          resources: { limits: { memory: 64Mi, cpu: 100m } }
          readinessProbe: { httpGet: { path: /healthz, port: 8080 } }
`

describe("chart tools", () => {
  beforeAll(async () => {
    tools = await ChartTools.ensureChartTools((line) => console.log(line))
    const written = await ChartTools.writeSchemas({
      kubectl: env.NTH_TESTBED_KUBECTL,
      kubeconfig: env.KUBECONFIG,
      dir: schemas
    })
    expect(written).toBeGreaterThan(50)
  }, 900_000)

  it("are the versions asked for", async () => {
    expect((await run(tools.helm, ["version", "--short"])).stdout).toMatch(/^v4\.3\.2/)
    const kubeconform = await run(tools.kubeconform, ["-v"])
    expect(`${kubeconform.stdout}${kubeconform.stderr}`).toMatch(/v?0\.8\.0/)
  })

  it("kubeconform checks manifests against the test bed's own API: types, unknown fields, int-or-string", async () => {
    expect((await validate(deployment("  replicas: 2"))).summary).toMatchObject({
      valid: 1,
      invalid: 0,
      errors: 0
    })
    // A quantity as a number, as values files often give it.
    const numericCpu = await validate(deployment("  replicas: 2").replace("cpu: 100m", "cpu: 1"))
    expect(numericCpu.summary).toMatchObject({ valid: 1, invalid: 0 })
    const misspelt = await validate(deployment("  replica: 2"))
    expect(misspelt.summary).toMatchObject({ valid: 0, invalid: 1 })
    expect(misspelt.resources?.[0]?.msg).toMatch(/replica/)
    expect((await validate(deployment('  replicas: "two"'))).summary).toMatchObject({ invalid: 1 })
    // A port by name and by number are both int-or-string.
    const named = await validate(
      deployment("  replicas: 1")
        .replace("port: 8080 }", 'port: "http" }')
        .replace("containerPort: 8080", "containerPort: 8080, name: http")
    )
    expect(named.summary).toMatchObject({ valid: 1, invalid: 0 })
  })

  it("helm renders a chart offline, and kubeconform accepts what it renders", async () => {
    const chart = join(work, "demo")
    mkdirSync(join(chart, "templates"), { recursive: true })
    writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    writeFileSync(join(chart, "values.yaml"), "replicas: 2\n")
    writeFileSync(
      join(chart, "templates", "deployment.yaml"),
      deployment("  replicas: {{ .Values.replicas }}")
    )
    await run(tools.helm, ["lint", chart])
    const rendered = await run(tools.helm, ["template", "demo", chart, "--set", "replicas=3"])
    expect(rendered.stdout).toContain("replicas: 3")
    expect((await validate(rendered.stdout)).summary).toMatchObject({ valid: 1, invalid: 0, errors: 0 })
  })
})
