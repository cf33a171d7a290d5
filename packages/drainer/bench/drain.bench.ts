/**
 * Drain benchmark: nth's drainer, and `kubectl nth-drain` (the plugin built on it, as an operator runs it),
 * against `kubectl drain`, on identical nodes of the test bed, in one run.
 *
 * Each node holds 110 pods (the default max pods per node): Deployments under budgets that let one pod (or a
 * quarter) go at a time, Deployments without budgets, pods with emptyDir, bare pods and a DaemonSet pod. KWOK
 * finishes every termination a fixed time after it starts, replacements are scheduled onto spare nodes and
 * become Ready there, so the budgets refill as in a cluster. Both drains run with the same permissions
 * (ignore DaemonSets, delete emptyDir data, force).
 *
 *   pnpm --filter @nth/drainer bench     (reuses `pnpm testbed up`, or starts a test bed for the run)
 *
 * Prints, per drainer, the wall time, how long after the last pod was gone it returned, and API requests per
 * pod; then one line with the ratio.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { KubeClient } from "@nth/kube"
import { Fixtures, TestBed } from "@nth/testbed"
import { Effect } from "effect"
import { Drainer } from "../src/index.ts"

const TERMINATE_AFTER = "2s"
const mix = [
  { name: "api", replicas: 6, budget: { maxUnavailable: 1 } },
  { name: "cache", replicas: 20, budget: { maxUnavailable: "25%" } },
  { name: "web", replicas: 50 },
  { name: "scratch", replicas: 20, emptyDir: true }
] as const
const BARE_PODS = 13 // + 1 DaemonSet pod (on every node) = 110

const log = (line: string) => console.log(line)
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const { env, release } = await TestBed.acquire({ onProgress: (line) => log(`[testbed] ${line}`) })
const clients = Fixtures.makeClients(env)

/** Times of the last pod deletion seen on each node, from a watch of our own (independent of the drainers). */
const lastGone = new Map<string, number>()
const watchDeletions = async (nodes: ReadonlyArray<string>) => {
  const { Watch } = await import("@kubernetes/client-node")
  const watch = new Watch(clients.kubeConfig)
  return watch.watch(
    "/api/v1/pods",
    {},
    (type, pod: { spec?: { nodeName?: string } }) => {
      const node = pod.spec?.nodeName
      if (type === "DELETED" && node && nodes.includes(node)) lastGone.set(node, Date.now())
    },
    () => {}
  )
}

const fill = async (namespace: string, node: string) => {
  await Fixtures.setUnschedulable(clients, node, false)
  const template = { preferNode: node, terminateAfter: TERMINATE_AFTER, terminationGracePeriodSeconds: 30 }
  for (const workload of mix) {
    await Fixtures.createDeployment(clients, namespace, {
      ...template,
      name: workload.name,
      replicas: workload.replicas,
      ...("budget" in workload ? { budget: workload.budget } : {}),
      ...("emptyDir" in workload ? { emptyDir: workload.emptyDir } : {})
    })
  }
  for (let i = 0; i < BARE_PODS; i++) {
    await Fixtures.createBarePod(clients, namespace, {
      ...template,
      name: `bare-${i}`,
      nodeName: node,
      labels: { app: "bare" }
    })
  }
  await Fixtures.waitFor(
    `110 ready pods on ${node}`,
    async () => {
      const pods = await clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })
      const ready = pods.items.filter((p) =>
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
      )
      return ready.length >= 110 ? true : undefined
    },
    { timeoutMs: 180_000, intervalMs: 500 }
  )
  for (const workload of mix) {
    if ("budget" in workload) {
      await Fixtures.waitForBudget(clients, namespace, workload.name, (s) => s.disruptionsAllowed > 0)
    }
  }
  await Fixtures.setUnschedulable(clients, node, true)
}

/** The plugin's bundle, built if it is not (it depends on this package, so it cannot be a dependency of it). */
const pluginPath = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "apps",
  "kubectl-plugin",
  "dist",
  "kubectl-nth_drain"
)
if (!existsSync(pluginPath))
  execFileSync("pnpm", ["--filter", "@nth/kubectl-plugin", "build"], { stdio: "inherit" })

const sameFlags = (node: string) => [
  node,
  "--ignore-daemonsets",
  "--delete-emptydir-data",
  "--force",
  "--kubeconfig",
  env.KUBECONFIG
]

const drainCommand = (file: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; requests: number }>((resolve) => {
    const child = spawn(file, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let requests = 0
    const count = (chunk: Buffer) => {
      // At -v=6 kubectl logs one line per HTTP response.
      for (const line of chunk.toString().split("\n"))
        if (/"Response"|\b(GET|POST|PATCH|PUT|DELETE) https?:\/\//.test(line)) requests += 1
    }
    child.stdout.on("data", count)
    child.stderr.on("data", count)
    child.on("exit", (code) => resolve({ code, requests }))
  })
const kubectlDrain = (node: string) =>
  drainCommand(env.NTH_TESTBED_KUBECTL, ["drain", ...sameFlags(node), "-v=6"])
const pluginDrain = (node: string) => drainCommand(pluginPath, sameFlags(node))

try {
  const pool = "bench"
  const namespaceNth = await Fixtures.createNamespace(clients, "bench-nth")
  const namespaceKubectl = await Fixtures.createNamespace(clients, "bench-kubectl")
  const namespacePlugin = await Fixtures.createNamespace(clients, "bench-plugin")
  log("registering nodes: three to drain, four spares for the replacements")
  const labels = { "testbed.nth.dev/pool": pool }
  const nthNode = await Fixtures.registerNode(clients, { labels, unschedulable: true })
  const kubectlNode = await Fixtures.registerNode(clients, { labels, unschedulable: true })
  const pluginNode = await Fixtures.registerNode(clients, { labels, unschedulable: true })
  const spares = await Promise.all(
    [1, 2, 3, 4].map(() => Fixtures.registerNode(clients, { labels, unschedulable: true }))
  )
  log("placing 110 pods on each node to drain")
  await Fixtures.createDaemonSet(clients, namespaceNth, { name: "agent", terminateAfter: TERMINATE_AFTER })
  await fill(namespaceNth, nthNode.name)
  await fill(namespaceKubectl, kubectlNode.name)
  await fill(namespacePlugin, pluginNode.name)
  for (const spare of spares) await Fixtures.setUnschedulable(clients, spare.name, false)
  const watcher = await watchDeletions([nthNode.name, kubectlNode.name, pluginNode.name])

  log(`draining with nth (${nthNode.name})`)
  const nthStarted = Date.now()
  const { report, requests } = await Effect.runPromise(
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const report = yield* Drainer.drain(nthNode.name, {
        ignoreDaemonSets: true,
        deleteEmptyDirData: true,
        force: true
      })
      return { report, requests: kube.requestCount() }
    }).pipe(Effect.provide(KubeClient.layer({ kubeConfig: clients.kubeConfig })))
  )
  const nthEnded = Date.now()

  log(`draining with kubectl (${kubectlNode.name})`)
  const kubectlStarted = Date.now()
  const kubectl = await kubectlDrain(kubectlNode.name)
  const kubectlEnded = Date.now()

  log(`draining with kubectl nth-drain (${pluginNode.name})`)
  const pluginStarted = Date.now()
  const plugin = await pluginDrain(pluginNode.name)
  const pluginEnded = Date.now()
  watcher.abort()
  if (kubectl.code !== 0) throw new Error(`kubectl drain exited ${kubectl.code}`)
  if (plugin.code !== 0) throw new Error(`kubectl nth-drain exited ${plugin.code}`)
  const pluginWall = pluginEnded - pluginStarted

  const nthWall = nthEnded - nthStarted
  const kubectlWall = kubectlEnded - kubectlStarted
  // Our watch may see the last deletion a moment after the drainer did: never less than zero.
  const nthTail = Math.max(0, nthEnded - (lastGone.get(nthNode.name) ?? nthEnded))
  const kubectlTail = Math.max(0, kubectlEnded - (lastGone.get(kubectlNode.name) ?? kubectlEnded))
  const evicted = report.pods.filter((p) => p.outcome === "Gone").length
  const blocked = report.pods.filter((p) => p.blockedBy.length > 0).length
  log("")
  log(
    `110 pods per node: ${mix.map((w) => `${w.name} ${w.replicas}${"budget" in w ? ` (budget ${JSON.stringify(w.budget)})` : ""}`).join(", ")}, ${BARE_PODS} bare, 1 DaemonSet; each pod finishes ${TERMINATE_AFTER} after its eviction`
  )
  log(
    `nth drain:     ${seconds(nthWall)} wall, returned ${seconds(nthTail)} after the last pod was gone, ${evicted} pods evicted (${blocked} waited on a budget), ${(requests / 110).toFixed(2)} API requests/pod`
  )
  log(
    `kubectl drain: ${seconds(kubectlWall)} wall, returned ${seconds(kubectlTail)} after the last pod was gone, ${(kubectl.requests / 110).toFixed(2)} API requests/pod`
  )
  log(`kubectl nth-drain: ${seconds(pluginWall)} wall, the process included (start, kubeconfig, exit)`)
  log(
    `drain nth vs kubectl ratio: ${(nthWall / kubectlWall).toFixed(2)} (target ≤ 0.50); nth returned ${seconds(nthTail)} after its last termination (target ≤ 1.0 s)`
  )
  log(
    `drain kubectl nth-drain vs kubectl drain ratio: ${(pluginWall / kubectlWall).toFixed(2)} (target ≤ 0.50)`
  )
  await Fixtures.deleteNamespace(clients, namespaceNth)
  await Fixtures.deleteNamespace(clients, namespaceKubectl)
  await Fixtures.deleteNamespace(clients, namespacePlugin)
  for (const node of [nthNode, kubectlNode, pluginNode, ...spares])
    await Fixtures.deleteNode(clients, node.name)
} finally {
  await release()
}
