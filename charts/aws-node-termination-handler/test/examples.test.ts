/**
 * Every values file in examples/: `helm lint --strict` passes with it, and its manifest renders the objects it
 * promises, valid against the test bed's API (kubeconform for built-in kinds, a server-side dry run for the
 * Prometheus Operator's). A file added to examples/ without an entry here fails the first test.
 */
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import {
  chart,
  dryRunOnServer,
  type KubeObject,
  objectsOf,
  prepare,
  run,
  template,
  tools,
  validate
} from "./harness.ts"

const examples = join(chart, "examples")

/** What each example renders (kind/name), or the refusal it meets. */
const expected: Record<string, { readonly objects: ReadonlyArray<string> } | { readonly refused: string }> = {
  "imds-defaults.yaml": { objects: ["DaemonSet/aws-node-termination-handler"] },
  "guide-self-managed-spot.yaml": { objects: ["DaemonSet/aws-node-termination-handler"] },
  "windows.yaml": {
    objects: ["DaemonSet/aws-node-termination-handler", "DaemonSet/aws-node-termination-handler-win"]
  },
  "metrics-imds.yaml": {
    objects: ["DaemonSet/aws-node-termination-handler", "PodMonitor/aws-node-termination-handler"]
  },
  "queue-mode.yaml": {
    objects: ["Deployment/aws-node-termination-handler", "PodDisruptionBudget/aws-node-termination-handler"]
  },
  "metrics-queue.yaml": {
    objects: [
      "Deployment/aws-node-termination-handler",
      "Service/aws-node-termination-handler",
      "ServiceMonitor/aws-node-termination-handler"
    ]
  },
  "webhook.yaml": { objects: ["DaemonSet/aws-node-termination-handler"] }
}

/** Every release renders these beside its workloads. */
const always = [
  "ClusterRole/aws-node-termination-handler",
  "ClusterRoleBinding/aws-node-termination-handler",
  "ServiceAccount/aws-node-termination-handler"
]

const monitors = (objects: ReadonlyArray<KubeObject>) =>
  objects.map((o) => o.kind).filter((kind) => kind === "ServiceMonitor" || kind === "PodMonitor")

describe("examples/", () => {
  beforeAll(prepare, 900_000)

  it("has an expectation here for each file", () => {
    expect(readdirSync(examples).sort()).toEqual(Object.keys(expected).sort())
  })

  it.each(Object.entries(expected))("%s", async (name, expectation) => {
    const values = join(examples, name)
    const lint = await run(tools().helm, ["lint", "--strict", chart, "-f", values])
    const outcome = await template("-f", values)
    if ("refused" in expectation) {
      // helm lint reports a template's `fail` as information, not as a failure; install and template fail.
      expect(lint.stderr).toContain(expectation.refused)
      expect(outcome.code).not.toBe(0)
      expect(outcome.stderr).toContain(expectation.refused)
      return
    }
    expect(lint.stdout).toContain("0 chart(s) failed")
    expect(outcome.stderr).toBe("")
    const objects = await objectsOf(outcome.stdout)
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [...always, ...expectation.objects].sort()
    )
    const verdict = await validate(outcome.stdout)
    expect(verdict.summary).toEqual({
      valid: objects.length - monitors(objects).length,
      invalid: 0,
      errors: 0,
      skipped: monitors(objects).length
    })
    if (monitors(objects).length > 0) {
      expect(await dryRunOnServer(objects, monitors(objects))).toMatchObject({ code: 0, stderr: "" })
    }
  })
})
