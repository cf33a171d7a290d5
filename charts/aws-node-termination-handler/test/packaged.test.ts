/**
 * The chart as a user receives it: `helm package`d (scripts/package.ts), holding the chart and nothing of the
 * workspace, its default image the one `pnpm images` builds, and the packaged .tgz installed on the test bed, where
 * its pod becomes Ready, then uninstalled without leftovers.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { repository } from "@nth/images"
import { Fixtures } from "@nth/testbed"
import { beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { chart, env, prepare, run, tools } from "./harness.ts"

const out = mkdtempSync(join(tmpdir(), "nth-chart-package-"))
const clients = Fixtures.makeClients(env)
let tgz: string
let listing: ReadonlyArray<string>

const chartYaml = parse(readFileSync(join(chart, "Chart.yaml"), "utf8")) as {
  version: string
  appVersion: string
}

beforeAll(async () => {
  await prepare()
  const printed = execFileSync(process.execPath, [join(chart, "scripts", "package.ts"), out]).toString("utf8")
  tgz = /saved it to: (\S+\.tgz)/.exec(printed)?.[1] ?? ""
  listing = execFileSync("tar", ["-tzf", tgz]).toString("utf8").trim().split("\n")
}, 600_000)

describe("the packaged chart", () => {
  it("holds the chart (templates, values and their schema, README, examples) and nothing of the workspace", () => {
    expect(tgz).toBe(join(out, `aws-node-termination-handler-${chartYaml.version}.tgz`))
    for (const file of [
      "Chart.yaml",
      "values.yaml",
      "values.schema.json",
      "README.md",
      "templates/daemonset.linux.yaml"
    ])
      expect(listing).toContain(`aws-node-termination-handler/${file}`)
    expect(listing.filter((file) => /\.ts$|\/test\/|node_modules|package\.json|\.vitest/.test(file))).toEqual(
      []
    )
  })

  it("defaults to the image pnpm images builds: ghcr.io/nth/aws-node-termination-handler:<appVersion>", async () => {
    const rendered = await run(tools().helm, ["template", "nth", tgz])
    expect(rendered.code, rendered.stderr).toBe(0)
    expect(rendered.stdout).toContain(`image: ${repository}:${chartYaml.appVersion}`)
  })

  it("installs from the .tgz on the test bed (queue mode: its pod Ready), and uninstalls without leftovers", async () => {
    const namespace = await Fixtures.createNamespace(clients, "chart-pkg")
    // A node of its own for the pod: other test files' nodes come and go.
    const node = await Fixtures.registerNode(clients, {
      labels: { "testbed.nth.dev/chart-package": namespace }
    })
    const helm = (args: ReadonlyArray<string>) => run(tools().helm, ["--kubeconfig", env.KUBECONFIG, ...args])
    try {
      const installed = await helm([
        "install",
        "nth-packaged",
        tgz,
        "--namespace",
        namespace,
        "--set",
        "enableSqsTerminationDraining=true",
        "--set",
        "queueURL=https://sqs.us-east-1.amazonaws.com/123456789012/nth",
        "--set",
        `nodeSelector.testbed\\.nth\\.dev/chart-package=${namespace}`,
        "--wait",
        "--timeout",
        "120s"
      ])
      expect(installed.code, installed.stderr).toBe(0)
      const [listed] = JSON.parse(
        (await helm(["list", "--namespace", namespace, "-o", "json"])).stdout
      ) as Array<{
        chart: string
        status: string
      }>
      expect(listed).toMatchObject({
        chart: `aws-node-termination-handler-${chartYaml.version}`,
        status: "deployed"
      })
      const pods = await clients.core.listNamespacedPod({ namespace })
      expect(pods.items.map((p) => p.spec?.containers[0]?.image)).toEqual([
        `ghcr.io/nth/aws-node-termination-handler:${chartYaml.appVersion}`
      ])
    } finally {
      const removed = await helm([
        "uninstall",
        "nth-packaged",
        "--namespace",
        namespace,
        "--wait",
        "--timeout",
        "60s"
      ])
      expect(removed.code, removed.stderr).toBe(0)
      await Fixtures.deleteNamespace(clients, namespace)
      await Fixtures.deleteNode(clients, node.name)
    }
    expect(
      (await clients.apps.listNamespacedDeployment({ namespace }).catch(() => ({ items: [] }))).items
    ).toEqual([])
  }, 180_000)
})
