/**
 * The EKS workshop's install, for real, with nth's chart in place of the Go handler's: `helm install` into
 * kube-system with `--set nodeSelector.type=self-managed-spot` on a test bed where three KWOK nodes carry that
 * label and two do not; `kubectl get daemonsets --all-namespaces` then shows 3 desired and 3 ready. `helm upgrade`
 * to queue mode replaces the DaemonSet by the Deployment, and `helm uninstall` leaves nothing behind.
 */
import { Fixtures } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chart, env, kubectl, prepare, run, tools } from "./harness.ts"

const release = "aws-node-termination-handler"
const clients = Fixtures.makeClients(env)
const spot: Array<Fixtures.FakeNode> = []
const others: Array<Fixtures.FakeNode> = []

/** kubectl's answer, which must succeed. */
const ask = async (...args: ReadonlyArray<string>) => {
  const outcome = await kubectl(args)
  expect(outcome.stderr).toBe("")
  expect(outcome.code).toBe(0)
  return outcome.stdout
}

const helm = async (...args: ReadonlyArray<string>) => {
  const outcome = await run(tools().helm, ["--kubeconfig", env.KUBECONFIG, ...args])
  expect(outcome.stderr).toBe("")
  expect(outcome.code).toBe(0)
  return outcome.stdout
}

/** The release's pods: name → node. */
const podsOfRelease = async () => {
  const listed = JSON.parse(
    await ask(
      "get",
      "pods",
      "--namespace",
      "kube-system",
      "-l",
      `app.kubernetes.io/instance=${release}`,
      "-o",
      "json"
    )
  ) as {
    items: Array<{ metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName?: string } }>
  }
  return listed.items
    .filter((p) => p.metadata.deletionTimestamp === undefined)
    .map((p) => p.spec.nodeName ?? "")
}

/** Everything of the release still in the cluster (namespaced kinds in kube-system, and the cluster-wide ones). */
const leftovers = async () => {
  const selector = `app.kubernetes.io/instance=${release}`
  const namespaced = await ask(
    "get",
    "daemonsets,deployments,replicasets,pods,serviceaccounts,services,poddisruptionbudgets,roles,rolebindings,secrets",
    "--namespace",
    "kube-system",
    "-l",
    selector,
    "-o",
    "name"
  )
  const clusterWide = await ask("get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name")
  // Helm's own record of the release (its Secrets carry owner=helm, name=<release>).
  const records = await ask(
    "get",
    "secrets",
    "--namespace",
    "kube-system",
    "-l",
    `owner=helm,name=${release}`,
    "-o",
    "name"
  )
  return `${namespaced}${clusterWide}${records}`.split("\n").filter(Boolean)
}

/**
 * The test bed's KWOK finishes a deleted pod when its grace period ends (30 s by default); the release's pods, like
 * a program that exits on SIGTERM, are marked to go 1 s after deletion, so that replacing them is not a 30 s wait.
 */
const exitPromptly = () =>
  ask(
    "annotate",
    "pods",
    "--namespace",
    "kube-system",
    "-l",
    `app.kubernetes.io/instance=${release}`,
    "--overwrite",
    "testbed.nth.dev/terminate-after=1s"
  )

/** `helm uninstall` of the release, whether or not it is there (its outcome is not asserted). */
const uninstallAny = () =>
  run(tools().helm, [
    "--kubeconfig",
    env.KUBECONFIG,
    "uninstall",
    release,
    "--namespace",
    "kube-system",
    "--wait"
  ])

const until = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 60_000): Promise<A> =>
  Fixtures.waitFor(what, probe, { timeoutMs })

describe("the EKS workshop's install, with nth's chart", () => {
  beforeAll(async () => {
    await prepare()
    // Nothing of an earlier, interrupted run may stand in the way.
    await uninstallAny()
    for (let i = 0; i < 3; i++)
      spot.push(await Fixtures.registerNode(clients, { labels: { type: "self-managed-spot" } }))
    for (let i = 0; i < 2; i++)
      others.push(await Fixtures.registerNode(clients, { labels: { type: "on-demand" } }))
  }, 900_000)

  afterAll(async () => {
    await uninstallAny()
    for (const node of [...spot, ...others]) await Fixtures.deleteNode(clients, node.name).catch(() => {})
  })

  it("installs the DaemonSet on the three self-managed Spot nodes only: 3 desired, 3 ready", async () => {
    await helm(
      "install",
      release,
      "--namespace",
      "kube-system",
      "--set",
      "nodeSelector.type=self-managed-spot",
      chart
    )
    // The guide's check, read as a user reads it: the row of the release's DaemonSet.
    const row = await until("the DaemonSet 3/3 ready", async () => {
      const table = await ask("get", "daemonsets", "--all-namespaces")
      const line = table.split("\n").find((l) => /^kube-system\s+aws-node-termination-handler\s/.test(l))
      const [, , desired, current, ready] = line?.split(/\s+/) ?? []
      return desired === "3" && current === "3" && ready === "3" ? line : undefined
    })
    expect(row).toMatch(/^kube-system\s+aws-node-termination-handler\s+3\s+3\s+3\s+3\s+3\s/)
    expect((await podsOfRelease()).sort()).toEqual(spot.map((n) => n.name).sort())
  })

  it("upgrades to queue mode: the Deployment replaces the DaemonSet", async () => {
    await exitPromptly()
    await helm(
      "upgrade",
      release,
      "--namespace",
      "kube-system",
      "--set",
      "nodeSelector.type=self-managed-spot",
      "--set",
      "enableSqsTerminationDraining=true",
      "--set",
      "queueURL=https://sqs.us-east-1.amazonaws.com/123456789012/nth-events",
      chart
    )
    await until("the Deployment 1/1 ready, the DaemonSet and its pods gone", async () => {
      const daemonSets = await ask(
        "get",
        "daemonsets",
        "--namespace",
        "kube-system",
        "-l",
        `app.kubernetes.io/instance=${release}`,
        "-o",
        "name"
      )
      const ready = await ask(
        "get",
        "deployment",
        release,
        "--namespace",
        "kube-system",
        "-o",
        "jsonpath={.status.readyReplicas}"
      )
      const pods = await podsOfRelease()
      return daemonSets === "" && ready === "1" && pods.length === 1 ? true : undefined
    })
    const [node] = await podsOfRelease()
    expect(spot.map((n) => n.name)).toContain(node)
  })

  it("uninstalls clean: nothing of the release is left", async () => {
    await exitPromptly()
    await helm("uninstall", release, "--namespace", "kube-system", "--wait")
    const left = await until("nothing of the release left", async () => {
      const found = await leftovers()
      return found.length === 0 ? found : undefined
    })
    expect(left).toEqual([])
  })
})
