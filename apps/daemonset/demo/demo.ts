/**
 * The IMDS-mode demo: nth's built DaemonSet program against the test bed's real Kubernetes control plane and an
 * IMDS emulator, on a Spot node about to be interrupted.
 *
 *   ./dev demo            (from the repo root: sets everything up, builds, runs this)
 *
 * It registers a Spot node (plus two spares for the replacements) with a Deployment under a PodDisruptionBudget,
 * a DaemonSet and a pod with emptyDir data; starts `dist/main.js` for that node; posts a Spot interruption
 * notice; and prints what happened, in milliseconds since the notice, and the node's final state. Exits 0 when
 * the node was drained before the two minutes were up.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { type V1Node, type V1Pod, Watch } from "@kubernetes/client-node"
import { ImdsMock } from "@nth/imds-mock"
import { Fixtures, TestBed } from "@nth/testbed"

const appPath = join(import.meta.dirname, "..", "dist", "main.js")
if (!existsSync(appPath)) {
  console.error(`${appPath} is missing: build it first (pnpm --filter @nth/daemonset build)`)
  process.exit(1)
}

const started = Date.now()
const say = (line: string) => console.log(`[demo ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`)

const { env, release } = await TestBed.acquire({ onProgress: (line) => say(`test bed: ${line}`) })
const clients = Fixtures.makeClients(env)
let app: ChildProcess | undefined
let mock: Awaited<ReturnType<typeof ImdsMock.start>> | undefined
let exitCode = 1

const timeline: Array<{ at: number; what: string }> = []
let noticeAt = 0
const mark = (what: string) => {
  if (noticeAt === 0) return
  timeline.push({ at: Date.now() - noticeAt, what })
}

try {
  say("registering a Spot node and two spare nodes")
  const node = await Fixtures.registerNode(clients, {
    labels: { "node.kubernetes.io/lifecycle": "spot", "eks.amazonaws.com/capacityType": "SPOT" }
  })
  await Fixtures.registerNode(clients, { unschedulable: true })
  await Fixtures.registerNode(clients, { unschedulable: true })
  const namespace = await Fixtures.createNamespace(clients, "demo")

  say("deploying: shop (4 replicas, budget maxUnavailable 1), log-agent (DaemonSet), cache (emptyDir)")
  const shop = await Fixtures.createDeployment(clients, namespace, {
    name: "shop",
    replicas: 4,
    preferNode: node.name,
    budget: { maxUnavailable: 1 },
    terminationGracePeriodSeconds: 3
  })
  await Fixtures.createDaemonSet(clients, namespace, { name: "log-agent" })
  const cache = await Fixtures.createDeployment(clients, namespace, {
    name: "cache",
    replicas: 1,
    preferNode: node.name,
    emptyDir: true,
    terminationGracePeriodSeconds: 2
  })
  await Fixtures.waitForReadyPods(clients, namespace, shop, 4)
  await Fixtures.waitForReadyPods(clients, namespace, cache, 1)
  await Fixtures.waitForBudget(clients, namespace, "shop", (s) => s.disruptionsAllowed === 1)
  // The spares take the replacements from here on.
  const nodes = await clients.core.listNode({ labelSelector: "testbed.nth.dev/fake=true" })
  for (const spare of nodes.items) {
    if (spare.metadata?.name !== node.name && spare.spec?.unschedulable) {
      await Fixtures.setUnschedulable(clients, spare.metadata!.name!, false)
    }
  }

  mock = await ImdsMock.start({
    instanceId: node.instanceId,
    instanceType: node.instanceType,
    availabilityZone: node.zone,
    localHostname: node.privateDnsName,
    instanceLifeCycle: "spot"
  })
  say(`IMDS emulator for ${node.instanceId} at ${mock.url}`)

  // Watch the node and its pods to build the timeline, independently of what nth says about itself.
  const watch = new Watch(clients.kubeConfig)
  const cordoned = { done: false }
  const tainted = { done: false }
  const nodeWatch = await watch.watch(
    "/api/v1/nodes",
    { fieldSelector: `metadata.name=${node.name}` },
    (_type, object: V1Node) => {
      if (object.spec?.unschedulable && !cordoned.done) {
        cordoned.done = true
        mark("node cordoned")
      }
      if (
        object.spec?.taints?.some((t) => t.key === "aws-node-termination-handler/spot-itn") &&
        !tainted.done
      ) {
        tainted.done = true
        mark("node tainted aws-node-termination-handler/spot-itn:NoSchedule")
      }
    },
    () => {}
  )
  const evicting = new Set<string>()
  const podWatch = await watch.watch(
    "/api/v1/pods",
    { fieldSelector: `spec.nodeName=${node.name}` },
    (type, pod: V1Pod) => {
      const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`
      if (type === "MODIFIED" && pod.metadata?.deletionTimestamp && !evicting.has(name)) {
        evicting.add(name)
        mark(`pod ${name} evicted`)
      }
      if (type === "DELETED") mark(`pod ${name} gone`)
    },
    () => {}
  )

  say(`starting nth (${appPath}) for node ${node.name}`)
  let drained = false
  app = spawn(process.execPath, [appPath], {
    env: {
      ...process.env,
      NODE_NAME: node.name,
      INSTANCE_METADATA_URL: mock.url,
      KUBECONFIG: env.KUBECONFIG,
      TAINT_NODE: "true",
      EMIT_KUBERNETES_EVENTS: "true",
      JSON_LOGGING: "true",
      UPTIME_FROM_FILE: "/proc/uptime"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const onLog = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) {
      let message = line
      try {
        message = String((JSON.parse(line) as { message?: unknown }).message ?? line)
      } catch {}
      if (/SpotInterruptionNotice received/.test(message)) mark("notice seen by nth")
      if (/node drained/.test(message)) {
        drained = true
        mark("nth: node drained")
      }
      if (process.env.NTH_DEMO_VERBOSE) console.log(`  nth | ${line}`)
    }
  }
  app.stdout?.on("data", onLog)
  app.stderr?.on("data", onLog)
  await Fixtures.waitFor(
    "nth's first poll of the Spot notice path",
    async () => (mock!.requests().some((r) => r.path.endsWith("/spot/instance-action")) ? true : undefined),
    { timeoutMs: 20_000 }
  )

  say("posting a Spot interruption notice: the instance goes away in two minutes")
  noticeAt = Date.now()
  mark("Spot interruption notice posted")
  mock.setSpotInterruption({
    action: "terminate",
    time: new Date(noticeAt + 120_000).toISOString().replace(/\.\d+Z$/, "Z")
  })
  await Fixtures.waitFor("the drain", async () => (drained ? true : undefined), {
    timeoutMs: 120_000,
    intervalMs: 50
  })
  nodeWatch.abort()
  podWatch.abort()

  console.log("\nTimeline (ms since the notice):")
  for (const entry of timeline.sort((a, b) => a.at - b.at))
    console.log(`  ${String(entry.at).padStart(7)}  ${entry.what}`)
  const final = await clients.core.readNode({ name: node.name })
  const left = (await clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node.name}` }))
    .items
  console.log(`\nNode ${node.name}:`)
  console.log(`  unschedulable: ${final.spec?.unschedulable === true}`)
  console.log(
    `  taints: ${(final.spec?.taints ?? []).map((t) => `${t.key}=${(t.value ?? "").slice(0, 20)}…:${t.effect}`).join(", ")}`
  )
  console.log(
    `  pods left: ${left.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(", ") || "none"} (DaemonSet pods stay, as with kubectl)`
  )
  const events = await clients.core.listNamespacedEvent({
    namespace: "default",
    fieldSelector: `involvedObject.name=${node.name}`
  })
  console.log(`  events: ${events.items.map((e) => e.reason).join(", ")}`)
  // The verdict comes from the node itself, not from nth's word: cordoned, and nothing left but DaemonSet pods.
  const notDrained = left.filter((p) => p.metadata?.ownerReferences?.[0]?.kind !== "DaemonSet")
  if (final.spec?.unschedulable !== true || notDrained.length > 0) {
    throw new Error(
      `the node is not drained: ${final.spec?.unschedulable === true ? "cordoned" : "not cordoned"}, ${notDrained.length} pods left that should have gone`
    )
  }
  console.log("\nDrained in time: the node is cordoned and only its DaemonSet pod is left.")
  exitCode = 0
  await Fixtures.deleteNamespace(clients, namespace)
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  app?.kill("SIGTERM")
  await mock?.close()
  await release()
}
process.exit(exitCode)
