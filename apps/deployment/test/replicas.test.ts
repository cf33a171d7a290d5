/**
 * End to end, several replicas of the built queue-mode program on one queue (SQS competing consumers), against
 * the test bed: the node's own record decides which replica acts, so no node is drained twice and no lifecycle
 * action completed twice, whichever replica receives which message, and a replica killed mid-drain is taken over.
 * Also the rebalance settings in queue mode.
 *
 * Evidence is the cluster's and the emulator's: nodes' state and records, the Kubernetes Events the replicas
 * record, the lifecycle actions moto records, the queue's counts; the replicas' logs say which one evicted what.
 */
import { randomBytes } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs"
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"
import { AwsEvents, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { afterEach, describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-replicas-${randomBytes(3).toString("hex")}`

const freshQueue = async () => {
  const queue = await Fixtures.createEventQueue(bed.clients, "nth-replicas")
  bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
  return queue.queueUrl
}

// NTH_TEST_LOGS=<dir>: each replica's log is written there when it exits (<n>-<pod name>.log), to read a failure.
let replicasStarted = 0
// Every replica a test started is killed when the test ends, passed or failed: every queue's rule receives every
// event, so a replica left running would act on the next test's nodes (they carry this file's tag).
const running: Array<Programs.Program> = []
afterEach(async () => {
  const left = running.splice(0)
  for (const app of left) app.process.kill("SIGKILL")
  await Promise.all(left.map((app) => app.exited))
})
const startReplica = (queueUrl: string, podName: string, env: Record<string, string> = {}) => {
  const app = Programs.startProgram(appPath, {
    env: {
      ...Programs.testBedEnv(bed.clients.env),
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queueUrl,
      NODE_NAME: "nth-replicas-e2e",
      POD_NAME: podName,
      MANAGED_TAG: managedTag,
      JSON_LOGGING: "true",
      EMIT_KUBERNETES_EVENTS: "true",
      ...env
    },
    cleanup: bed.defer
  })
  running.push(app)
  const n = ++replicasStarted
  if (process.env.NTH_TEST_LOGS)
    void app.exited.then(() =>
      writeFileSync(`${process.env.NTH_TEST_LOGS}/${n}-${podName}.log`, app.logs.join("\n"))
    )
  return app
}

const started = (app: Programs.Program) => Programs.waitForLog(app, "nth started in queue mode")

const parsed = (app: Programs.Program) =>
  app.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as { message?: unknown; annotations?: Record<string, unknown> }]
    } catch {
      return []
    }
  })

/** The pods a replica's log says it evicted (one entry per eviction sent and accepted). */
const evictedBy = (app: Programs.Program) =>
  parsed(app).flatMap((entry) =>
    entry.message === "PodEvicted" || entry.message === "PodEvictedAgain"
      ? [String(entry.annotations?.pod)]
      : []
  )

const waitForEmptyQueue = (queueUrl: string, timeoutMs?: number) =>
  Fixtures.waitForEmptyQueue(bed.clients, queueUrl, timeoutMs)

const nodeEvents = async (nodeName: string) =>
  (
    await bed.clients.core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: `involvedObject.name=${nodeName}`
    })
  ).items

const livePods = (node: string) => Fixtures.livePodsOn(bed.clients, node)

describe("nth-deployment replicas", () => {
  it("a replica killed mid-drain is taken over by another: each pod evicted once, the action completed once", async () => {
    const group = Fixtures.uniqueName("nth-asg-kill")
    const node = await bed.registerNode({ tags: { [managedTag]: "" }, autoScalingGroup: { name: group } })
    await bed.registerNode()
    await bed.registerNode()
    const namespace = bed.namespace()
    const replicas = 3
    // Pods that take 40 s to shut down: the drain outlives the killed replica's claim (30 s), so the replica that
    // takes over finds them still terminating, and must wait for them rather than evict them again.
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: Fixtures.uniqueName("app"),
      replicas,
      preferNode: node.name,
      terminationGracePeriodSeconds: 60,
      terminateAfter: "40s"
    })
    await Fixtures.waitForReadyPods(bed.clients, namespace, labels, replicas)
    const onNode = (await livePods(node.name)).map((p) => p.metadata?.name ?? "")
    expect(onNode.length).toBeGreaterThanOrEqual(1)

    const queue = await freshQueue()
    // A short visibility timeout: the killed replica's message comes back within seconds.
    const env = { SQS_MSG_VISIBILITY_TIMEOUT_SEC: "5" }
    const a = startReplica(queue, "replica-a", env)
    const b = startReplica(queue, "replica-b", env)
    await Promise.all([started(a), started(b)])
    const action = await Fixtures.fireLifecycleHook(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      instanceId: node.instanceId
    })
    // Whichever replica received the message is killed once it has evicted the node's pods, mid-drain.
    const first = await Fixtures.waitFor(
      "the evictions",
      async () => [a, b].find((replica) => evictedBy(replica).length >= onNode.length),
      { timeoutMs: 30_000 }
    )
    first.process.kill("SIGKILL")
    await first.exited
    const survivor = first === a ? b : a
    const evictedBefore = evictedBy(first)

    await Fixtures.waitFor(
      "the node drained",
      async () => ((await livePods(node.name)).length === 0 ? true : undefined),
      {
        timeoutMs: 90_000
      }
    )
    const completed = await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken, 120_000)
    expect(completed.result).toBe("CONTINUE")
    await waitForEmptyQueue(queue)

    // Every pod of the node evicted exactly once, across both replicas.
    const evictions = [...evictedBefore, ...evictedBy(survivor)]
    expect(new Set(evictions).size).toBe(evictions.length)
    for (const pod of onNode)
      expect(evictions.filter((e) => e.endsWith(`/${pod}`) || e === pod).length).toBeLessThanOrEqual(1)
    // The survivor waited for the killed replica's claim to expire before taking the node over.
    expect(survivor.logs.some((line) => line.includes("the node is being handled by replica-"))).toBe(true)
    const completions = [...parsed(first), ...parsed(survivor)].filter(
      (entry) => entry.message === "lifecycle action completed (CONTINUE)"
    )
    expect(completions).toHaveLength(1)
    const record = (await bed.clients.core.readNode({ name: node.name })).metadata?.annotations?.[
      "nth.dev/record"
    ]
    expect(JSON.parse(record ?? "{}")).toMatchObject({ drain: { finishedAt: expect.any(String) } })
    expect(JSON.parse(record ?? "{}")).not.toHaveProperty("claim")
    expect(await survivor.stop()).toBe(0)
  }, 150_000)

  // Found by the queue chaos test: a message that kills and faults had brought back often (its 7th receive) was
  // released for 5 minutes, its delay growing with its receive count, while the claim of the killed replica that
  // held its node lapsed seconds later; the lifecycle action waited all that time.
  it("a message seen often, whose node a dead replica held, comes back when the claim lapses", async () => {
    const group = Fixtures.uniqueName("nth-asg-held")
    const node = await bed.registerNode({ tags: { [managedTag]: "" }, autoScalingGroup: { name: group } })
    // The claim a replica killed mid-drain leaves: 20 s to go, longer than a replica waits on a held node (10 s).
    const until = new Date(Date.now() + 20_000)
    await bed.clients.core.patchNode(
      {
        name: node.name,
        body: {
          metadata: {
            annotations: {
              "nth.dev/record": JSON.stringify({
                version: 1,
                events: [],
                unschedulableBefore: false,
                taints: [],
                claim: { holder: "replica-gone", until: until.toISOString() }
              })
            }
          }
        }
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
    )
    const queue = await freshQueue()
    const action = await Fixtures.fireLifecycleHook(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      instanceId: node.instanceId
    })
    // Received six times already (as kills and faults do), each time given back at once.
    for (let receives = 0; receives < 6; ) {
      const { Messages } = await bed.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue, VisibilityTimeout: 0, WaitTimeSeconds: 2 })
      )
      receives += Messages?.length ?? 0
    }
    const replica = startReplica(queue, "replica-a")
    await started(replica)
    const completed = await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken, 60_000)
    expect(completed.result).toBe("CONTINUE")
    // Taken over within seconds of the claim's end, not minutes.
    expect(Date.now() - until.getTime()).toBeLessThan(20_000)
    expect(replica.logs.some((line) => line.includes("the node is being handled by replica-gone"))).toBe(true)
    await waitForEmptyQueue(queue)
    expect(await replica.stop()).toBe(0)
  }, 120_000)

  it("two replicas, 50 events for 25 nodes (two per node): each node cordoned and drained once", async () => {
    const count = 25
    const nodes = await Promise.all(
      Array.from({ length: count }, () => bed.registerNode({ tags: { [managedTag]: "" } }))
    )
    const queue = await freshQueue()
    const a = startReplica(queue, "replica-a", { TAINT_NODE: "true" })
    const b = startReplica(queue, "replica-b", { TAINT_NODE: "true" })
    await Promise.all([started(a), started(b)])
    // Two different events per node, published together: the replicas receive them in any order and split.
    await Fixtures.publishEvents(
      bed.clients,
      nodes.slice(0, 10).map((node) => AwsEvents.spotInterruptionWarning(node.instanceId))
    )
    await Fixtures.publishEvents(
      bed.clients,
      nodes.slice(0, 10).map((node) => AwsEvents.instanceStateChange(node.instanceId, "stopping"))
    )
    for (let i = 10; i < count; i += 5) {
      const batch = nodes.slice(i, i + 5)
      await Fixtures.publishEvents(bed.clients, [
        ...batch.map((node) => AwsEvents.rebalanceRecommendation(node.instanceId)),
        ...batch.map((node) => AwsEvents.spotInterruptionWarning(node.instanceId))
      ])
    }
    await waitForEmptyQueue(queue, 60_000)
    for (const node of nodes) {
      const current = await bed.clients.core.readNode({ name: node.name })
      expect(current.spec?.unschedulable, node.name).toBe(true)
      const record = JSON.parse(current.metadata?.annotations?.["nth.dev/record"] ?? "{}")
      expect(record.events?.length, node.name).toBe(2)
      expect(record).not.toHaveProperty("claim")
      const reasons = (await nodeEvents(node.name)).map((e) => e.reason)
      expect(reasons.filter((r) => r === "CordonAndDrain").length, node.name).toBe(1)
      expect(reasons.filter((r) => r === "CordonAndDrainError").length, node.name).toBe(0)
    }
    // Both replicas took part.
    const drainedBy = (app: Programs.Program) =>
      parsed(app).filter((entry) => entry.message === "node drained").length
    expect(drainedBy(a) + drainedBy(b)).toBe(count)
    expect(await a.stop()).toBe(0)
    expect(await b.stop()).toBe(0)
  }, 120_000)

  it("rebalance recommendations: drained when neither setting is set, as each setting says when one is", async () => {
    const cases = [
      { env: {}, expect: "drained" },
      { env: { ENABLE_REBALANCE_MONITORING: "true" }, expect: "cordoned" },
      { env: { ENABLE_REBALANCE_DRAINING: "true" }, expect: "drained" },
      { env: { ENABLE_REBALANCE_MONITORING: "false" }, expect: "ignored" }
    ] as const
    for (const c of cases) {
      const managed = await bed.registerNode({ tags: { [managedTag]: "" } })
      // The spare opens once the pod is placed: the pod is on the managed node, its replacement goes to the spare.
      const spare = await bed.registerNode({ unschedulable: true })
      const namespace = bed.namespace()
      const labels = await Fixtures.createDeployment(bed.clients, namespace, {
        name: Fixtures.uniqueName("app"),
        replicas: 1,
        preferNode: managed.name,
        terminationGracePeriodSeconds: 1
      })
      await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 1)
      await Fixtures.setUnschedulable(bed.clients, spare.name, false)
      const node = { node: managed }
      const queue = await freshQueue()
      const app = startReplica(queue, "replica-rebalance", c.env)
      await started(app)
      await Fixtures.publishEvents(bed.clients, [AwsEvents.rebalanceRecommendation(node.node.instanceId)])
      await waitForEmptyQueue(queue)
      const current = await bed.clients.core.readNode({ name: node.node.name })
      const pods = await livePods(node.node.name)
      const label = JSON.stringify(c.env)
      if (c.expect === "ignored") {
        expect(current.spec?.unschedulable, label).toBeFalsy()
        expect(pods.length, label).toBe(1)
      } else {
        expect(current.spec?.unschedulable, label).toBe(true)
        if (c.expect === "cordoned") expect(pods.length, label).toBe(1)
        else
          await Fixtures.waitFor("drained", async () =>
            (await livePods(node.node.name)).length === 0 ? true : undefined
          )
      }
      expect(await app.stop()).toBe(0)
    }
  }, 120_000)
})
