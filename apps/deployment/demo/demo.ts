/**
 * The queue-mode demo: nth's built Deployment program against the test bed's real Kubernetes control plane and
 * moto (SQS, EventBridge, EC2, Auto Scaling with lifecycle actions).
 *
 *   ./dev demo queue      (from the repo root: sets everything up, builds, runs this)
 *
 * It makes an Auto Scaling group with a termination lifecycle hook whose two instances are KWOK nodes running a
 * Deployment under a PodDisruptionBudget (plus a DaemonSet, and two spare nodes for the replacements); an SQS queue
 * fed by an EventBridge rule; starts `dist/main.js` on that queue; then a scale-in (the test bed fires the hook as
 * Auto Scaling would, and the hook's event goes on the bus: moto fires no hooks itself) and a Spot interruption
 * warning for the other instance. It prints, per event, what happened in milliseconds since the event, from nth's
 * JSON log lines, the API server (node and pod watches) and the emulator's record of lifecycle actions; then checks
 * the outcome against the cluster and the emulator. Exits 0 only when both nodes were drained and the lifecycle
 * action was recorded as completed (CONTINUE) by the emulator.
 *
 * NTH_DEMO_VERBOSE=1 also prints nth's own log lines.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { AttachInstancesCommand, DescribeAutoScalingInstancesCommand } from "@aws-sdk/client-auto-scaling"
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs"
import { type V1Node, type V1Pod, type V1PodTemplateSpec, Watch } from "@kubernetes/client-node"
import { AwsEvents, Fixtures, TestBed } from "@nth/testbed"

const appPath = join(import.meta.dirname, "..", "dist", "main.js")
if (!existsSync(appPath)) {
  console.error(`${appPath} is missing: build it first (pnpm --filter @nth/deployment build)`)
  process.exit(1)
}

const started = Date.now()
const say = (line: string) => console.log(`[demo ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`)
const verbose = Boolean(process.env.NTH_DEMO_VERBOSE)

const { env, release } = await TestBed.acquire({ onProgress: (line) => say(`test bed: ${line}`) })
const clients = Fixtures.makeClients(env)

// Everything of this run carries its id: a test bed may be shared with test runs (or another demo).
const runId = randomBytes(3).toString("hex")
const runLabel = "demo.nth.dev/run"
// Every queue's rule gets every event published on the bus: nth acts only on instances with this run's tag.
const managedTag = `nth.dev/demo-${runId}`
const group = `demo-workers-${runId}`
const hook = "nth-drain"
const replicas = 6

interface Entry {
  readonly at: number
  readonly what: string
  readonly source: "demo" | "nth" | "API" | "moto"
}

/** One of the two events and what became of it. */
interface Tracked {
  readonly title: string
  readonly node: Fixtures.FakeNode
  readonly taintKey: string
  t0: number
  readonly entries: Array<Entry>
  readonly messages: Set<string>
  drained: boolean
  deleted: boolean
  blocked: number
}

let app: ChildProcess | undefined
let queue: Fixtures.EventQueue | undefined
let namespace: string | undefined
const nodeNames: Array<string> = []
const aborts: Array<{ abort: () => void }> = []
let exitCode = 1
let stopping = false

try {
  say(
    `registering the Auto Scaling group ${group} (termination lifecycle hook ${hook}) with two instances as nodes`
  )
  const tags = { [managedTag]: "" }
  const scaleIn = await Fixtures.registerNode(clients, {
    tags,
    autoScalingGroup: { name: group },
    labels: { [runLabel]: runId }
  })
  const spot = await Fixtures.registerNode(clients, {
    tags,
    labels: {
      [runLabel]: runId,
      "node.kubernetes.io/lifecycle": "spot",
      "eks.amazonaws.com/capacityType": "SPOT"
    }
  })
  // Attached here rather than by registerNode: moto's CreateAutoScalingGroup replaces a group of the same name
  // (AWS answers AlreadyExists), which would drop the first instance from it.
  await clients.autoScaling.send(
    new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [spot.instanceId] })
  )
  nodeNames.push(scaleIn.name, spot.name)
  say("registering two spare nodes (cordoned until the workload is placed)")
  for (let i = 0; i < 2; i++) {
    const spare = await Fixtures.registerNode(clients, { unschedulable: true, labels: { [runLabel]: runId } })
    nodeNames.push(spare.name)
  }
  namespace = await Fixtures.createNamespace(clients, "demo")

  say(
    `deploying shop (${replicas} replicas spread on the group's nodes, budget maxUnavailable 1) and log-agent (DaemonSet)`
  )
  const template = (labels: Record<string, string>, spread: boolean): V1PodTemplateSpec => ({
    metadata: { labels },
    spec: {
      containers: [
        {
          name: "app",
          image: "registry.k8s.io/pause:3.10",
          resources: { requests: { cpu: "10m", memory: "16Mi" } }
        }
      ],
      terminationGracePeriodSeconds: 2,
      nodeSelector: { "testbed.nth.dev/fake": "true", [runLabel]: runId },
      ...(spread
        ? {
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: "kubernetes.io/hostname",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: labels }
              }
            ]
          }
        : {})
    }
  })
  const shop = { app: "shop" }
  await clients.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: "shop", labels: shop },
      spec: { replicas, selector: { matchLabels: shop }, template: template(shop, true) }
    }
  })
  await clients.policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name: "shop" }, spec: { selector: { matchLabels: shop }, maxUnavailable: 1 } }
  })
  const agent = { app: "log-agent" }
  await clients.apps.createNamespacedDaemonSet({
    namespace,
    body: {
      metadata: { name: "log-agent", labels: agent },
      spec: { selector: { matchLabels: agent }, template: template(agent, false) }
    }
  })
  const placed = await Fixtures.waitForReadyPods(clients, namespace, shop, replicas)
  await Fixtures.waitForReadyPods(clients, namespace, agent, 4)
  await Fixtures.waitForBudget(clients, namespace, "shop", (s) => s.disruptionsAllowed === 1)
  const on = (node: string) => placed.filter((p) => p.spec?.nodeName === node).length
  say(
    `shop pods: ${on(scaleIn.name)} on ${scaleIn.name}, ${on(spot.name)} on ${spot.name}; budget allows 1 disruption`
  )
  if (on(scaleIn.name) === 0 || on(spot.name) === 0)
    throw new Error("the scheduler did not spread shop on both nodes")
  for (const spare of nodeNames.slice(2)) await Fixtures.setUnschedulable(clients, spare, false)

  queue = await Fixtures.createEventQueue(clients, "nth-demo")
  say(
    `SQS queue ${queue.queueUrl.replace(/^.*\//, "")} fed by EventBridge rule ${queue.ruleName} (aws.autoscaling, aws.ec2, aws.health)`
  )

  const events: ReadonlyArray<Tracked> = [
    {
      title: `scale-in: Auto Scaling terminates ${scaleIn.instanceId} (node ${scaleIn.name}), hook ${hook}`,
      node: scaleIn,
      taintKey: "aws-node-termination-handler/asg-lifecycle-termination",
      t0: 0,
      entries: [],
      messages: new Set(),
      drained: false,
      deleted: false,
      blocked: 0
    },
    {
      title: `Spot interruption warning for ${spot.instanceId} (node ${spot.name})`,
      node: spot,
      taintKey: "aws-node-termination-handler/spot-itn",
      t0: 0,
      entries: [],
      messages: new Set(),
      drained: false,
      deleted: false,
      blocked: 0
    }
  ]
  const [scaleInEvent, spotEvent] = events as [Tracked, Tracked]
  const byInstance = (instanceId: unknown) => events.find((e) => e.node.instanceId === instanceId)
  const byNode = (nodeName: unknown) => events.find((e) => e.node.name === nodeName)
  const mark = (event: Tracked | undefined, what: string, source: Entry["source"], at = Date.now()) => {
    if (event === undefined || event.t0 === 0) return
    event.entries.push({ at: at - event.t0, what, source })
  }

  // The API server's view, independent of what nth says about itself.
  const watch = new Watch(clients.kubeConfig)
  const seen = new Set<string>()
  /** True the first time only, for each key. */
  const once = (key: string) => {
    if (seen.has(key)) return false
    seen.add(key)
    return true
  }
  aborts.push(
    await watch.watch(
      "/api/v1/nodes",
      { labelSelector: `${runLabel}=${runId}` },
      (_type, node: V1Node) => {
        const event = byNode(node.metadata?.name)
        if (event === undefined || event.t0 === 0) return
        if (node.spec?.unschedulable && once(`cordon ${event.node.name}`)) mark(event, "cordoned", "API")
        const taint = node.spec?.taints?.find((t) => t.key === event.taintKey)
        if (taint && once(`taint ${event.node.name}`))
          mark(event, `tainted ${taint.key}:${taint.effect}`, "API")
      },
      () => {}
    )
  )
  aborts.push(
    await watch.watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (type, pod: V1Pod) => {
        const event = byNode(pod.spec?.nodeName)
        const name = pod.metadata?.name
        if (event === undefined || event.t0 === 0) return
        if (pod.metadata?.deletionTimestamp && once(`evicted ${name}`))
          mark(event, `pod ${name} evicted`, "API")
        if (type === "DELETED" && once(`gone ${name}`)) mark(event, `pod ${name} gone`, "API")
      },
      () => {}
    )
  )

  // nth's view: its JSON log lines, tied to an event by their instance annotation (or their message's).
  const receivedAt = new Map<string, number>()
  const messageEvent = new Map<string, Tracked>()
  const warnings: Array<string> = []
  const onLine = (line: string) => {
    if (verbose) console.log(`  nth | ${line}`)
    let log: {
      message?: unknown
      level?: unknown
      timestamp?: unknown
      annotations?: Record<string, unknown>
    }
    try {
      log = JSON.parse(line)
    } catch {
      return
    }
    const message = Array.isArray(log.message) ? log.message.join(" ") : String(log.message ?? "")
    const at = typeof log.timestamp === "string" ? Date.parse(log.timestamp) : Date.now()
    const annotations = log.annotations ?? {}
    const messageId = typeof annotations.messageId === "string" ? annotations.messageId : undefined
    let event = byInstance(annotations.instance)
    if (event && messageId && !messageEvent.has(messageId)) {
      messageEvent.set(messageId, event)
      event.messages.add(messageId)
      const received = receivedAt.get(messageId)
      if (received !== undefined) mark(event, "message received", "nth", received)
    }
    if (event === undefined && messageId) event = messageEvent.get(messageId)
    if (message === "message received" && messageId && !receivedAt.has(messageId))
      receivedAt.set(messageId, at)
    if (log.level === "WARN" || log.level === "ERROR" || log.level === "FATAL") warnings.push(message)
    if (event === undefined) return
    switch (message) {
      case "node found":
        return mark(event, `node found: ${String(annotations.node)}`, "nth", at)
      case "drain: done": {
        // The drain step's end (its pods gone); "node drained" is logged after the lifecycle action's completion.
        const evicted = event.entries.filter((e) => e.what.endsWith(" evicted")).length
        return mark(event, `drained: ${evicted} pods evicted, the DaemonSet's pod stays`, "nth", at)
      }
      case "node drained":
        event.drained = true
        return
      case "PodBlocked":
        event.blocked++
        return
      case "lifecycle action completed (CONTINUE)":
        return mark(event, message, "nth", at)
      case "message deleted":
        event.deleted = true
        return mark(event, message, "nth", at)
    }
  }

  say(`starting nth (${appPath}) on the queue, MANAGED_TAG=${managedTag}, TAINT_NODE=true`)
  app = spawn(process.execPath, [appPath], {
    env: {
      PATH: process.env.PATH ?? "",
      KUBECONFIG: env.KUBECONFIG,
      AWS_REGION: env.AWS_REGION,
      AWS_ENDPOINT: env.AWS_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queue.queueUrl,
      NODE_NAME: "nth-demo",
      MANAGED_TAG: managedTag,
      TAINT_NODE: "true",
      EMIT_KUBERNETES_EVENTS: "true",
      JSON_LOGGING: "true",
      LOG_LEVEL: "debug"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let startedUp = false
  let pending = ""
  const onChunk = (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines.filter(Boolean)) {
      if (line.includes("nth started in queue mode")) startedUp = true
      onLine(line)
    }
  }
  app.stdout?.on("data", onChunk)
  app.stderr?.on("data", onChunk)
  const exited = new Promise<number | null>((resolve) => app?.on("exit", resolve))
  void exited.then((code) => {
    if (!stopping) say(`nth exited early (code ${code})`)
  })
  await Fixtures.waitFor("nth's start", async () => (startedUp ? true : undefined), { timeoutMs: 30_000 })

  say(
    `scale-in: the test bed fires ${hook} for ${scaleIn.instanceId} as Auto Scaling would, and its event goes on the bus`
  )
  scaleInEvent.t0 = Date.now()
  const action = await Fixtures.startLifecycleAction(clients, {
    autoScalingGroupName: group,
    lifecycleHookName: hook,
    instanceId: scaleIn.instanceId
  })
  const firedAt = (action as { startedAt?: unknown }).startedAt
  mark(
    scaleInEvent,
    "lifecycle hook fired: instance Terminating:Wait, action token issued",
    "moto",
    typeof firedAt === "number" ? Math.round(firedAt * 1000) : Date.now()
  )
  await Fixtures.publishEvents(clients, [
    AwsEvents.asgTerminateLifecycleAction({
      autoScalingGroupName: group,
      lifecycleHookName: hook,
      lifecycleActionToken: action.lifecycleActionToken,
      instanceId: scaleIn.instanceId
    })
  ])
  mark(scaleInEvent, "hook's event put on the bus (EventBridge PutEvents)", "demo")

  say(`Spot: an EC2 Spot Instance Interruption Warning for ${spot.instanceId} goes on the bus`)
  spotEvent.t0 = Date.now()
  await Fixtures.publishEvents(clients, [AwsEvents.spotInterruptionWarning(spot.instanceId)])
  mark(spotEvent, "Spot warning put on the bus (EventBridge PutEvents)", "demo")

  const recorded = async () =>
    (await Fixtures.lifecycleActions(clients)).find(
      (a) => a.lifecycleActionToken === action.lifecycleActionToken
    )
  await Fixtures.waitFor(
    "both drains, the lifecycle action's completion and both messages' deletes",
    async () =>
      events.every((e) => e.drained && e.deleted) && (await recorded())?.state === "completed"
        ? true
        : undefined,
    { timeoutMs: 90_000, intervalMs: 100 }
  )
  // The emulator's own record of the completion, with its time.
  const completion = (await recorded()) as Fixtures.RecordedLifecycleAction & { completedAt?: number | null }
  if (typeof completion.completedAt === "number") {
    mark(
      scaleInEvent,
      `lifecycle action recorded as completed (${completion.result}) by the emulator`,
      "moto",
      Math.round(completion.completedAt * 1000)
    )
  }

  // What is left to check, from the cluster and the emulator, not from nth's word.
  const problems: Array<string> = []
  const check = (ok: boolean, line: string) => {
    console.log(`  ${ok ? "ok  " : "FAIL"}  ${line}`)
    if (!ok) problems.push(line)
  }
  const notDaemonSet = (p: V1Pod) => p.metadata?.ownerReferences?.[0]?.kind !== "DaemonSet"
  const podsOn = async (node: string) =>
    (await clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items
  // Evicted pods end when their grace period does (KWOK): give the last ones that long.
  for (const event of events) {
    await Fixtures.waitFor(
      `the last pods evicted from ${event.node.name} to end`,
      async () => ((await podsOn(event.node.name)).filter(notDaemonSet).length === 0 ? true : undefined),
      { timeoutMs: 15_000 }
    ).catch(() => undefined)
  }
  const queueCounts = async () => {
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue!.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
      })
    )
    return {
      visible: Number(Attributes?.ApproximateNumberOfMessages ?? "-1"),
      inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? "-1")
    }
  }
  await Fixtures.waitFor("the queue empty", async () => {
    const counts = await queueCounts()
    return counts.visible === 0 && counts.inFlight === 0 ? true : undefined
  }).catch(() => undefined)
  for (const abort of aborts) abort.abort()

  for (const [index, event] of events.entries()) {
    console.log(`\nEvent ${index + 1}: ${event.title}`)
    console.log(`  ${"ms".padStart(6)}  ${"what".padEnd(76)} seen by`)
    for (const entry of [...event.entries].sort((a, b) => a.at - b.at))
      console.log(`  ${String(entry.at).padStart(6)}  ${entry.what.padEnd(76)} ${entry.source}`)
    if (event.blocked > 0)
      console.log(
        `          (the budget refused ${event.blocked === 1 ? "1 eviction" : `${event.blocked} evictions`} with 429 on the way: nth tried again)`
      )
  }

  console.log("\nChecks (against the cluster and the emulator):")
  for (const event of events) {
    const node = await clients.core.readNode({ name: event.node.name })
    const taint = node.spec?.taints?.find((t) => t.key === event.taintKey)
    const left = await podsOn(event.node.name)
    const stray = left.filter(notDaemonSet)
    check(node.spec?.unschedulable === true, `${event.node.name} unschedulable (cordoned)`)
    check(taint !== undefined, `${event.node.name} tainted ${event.taintKey}:${taint?.effect ?? "-"}`)
    check(
      stray.length === 0,
      `${event.node.name}: no pods left but DaemonSet ones (left: ${left.map((p) => p.metadata?.name).join(", ") || "none"})`
    )
  }
  const final = await recorded()
  check(
    final?.state === "completed" && final.result === "CONTINUE",
    `lifecycle action ${action.lifecycleActionToken.slice(0, 8)}… for ${scaleIn.instanceId}: ${final?.state ?? "missing"}, ${final?.result ?? "no result"} (emulator's record)`
  )
  const instances = await clients.autoScaling.send(
    new DescribeAutoScalingInstancesCommand({ InstanceIds: [scaleIn.instanceId] })
  )
  const lifecycleState = instances.AutoScalingInstances?.[0]?.LifecycleState
  check(
    lifecycleState === "Terminating:Proceed",
    `${scaleIn.instanceId} in Auto Scaling: ${lifecycleState ?? "unknown"}`
  )
  const counts = await queueCounts()
  check(
    counts.visible === 0 && counts.inFlight === 0,
    `queue empty (${counts.visible} visible, ${counts.inFlight} in flight)`
  )
  const shopPods = (
    await clients.core.listNamespacedPod({ namespace, labelSelector: "app=shop" })
  ).items.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
  )
  const onSpares = shopPods.filter((p) => nodeNames.slice(2).includes(p.spec?.nodeName ?? "")).length
  check(
    shopPods.length === replicas && onSpares === replicas,
    `shop: ${shopPods.length}/${replicas} pods Ready, ${onSpares} of them on the spare nodes`
  )
  const nodeEvents = await clients.core.listNamespacedEvent({ namespace: "default" })
  for (const event of events) {
    const reasons = nodeEvents.items
      .filter((e) => e.involvedObject?.name === event.node.name)
      .map((e) => e.reason)
    console.log(`        Events on ${event.node.name}: ${reasons.join(", ") || "none"}`)
  }
  if (warnings.length > 0) console.log(`        nth's warnings: ${warnings.join(" | ")}`)

  stopping = true
  app.kill("SIGTERM")
  const code = await exited
  check(code === 0, `nth stopped on SIGTERM with exit code ${code}`)

  if (problems.length > 0) throw new Error(`${problems.length} check(s) failed: ${problems.join("; ")}`)
  console.log(
    `\nPASS: both nodes cordoned, tainted and drained, the lifecycle action completed (CONTINUE), the queue empty (${((Date.now() - started) / 1000).toFixed(1)} s in all).`
  )
  exitCode = 0
} catch (error) {
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  for (const abort of aborts) abort.abort()
  app?.kill("SIGKILL")
  if (queue) await Fixtures.deleteEventQueue(clients, queue).catch(() => {})
  if (namespace) await Fixtures.deleteNamespace(clients, namespace)
  for (const name of nodeNames) await Fixtures.deleteNode(clients, name)
  await release()
}
process.exit(exitCode)
