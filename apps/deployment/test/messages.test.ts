/**
 * End to end, message by message: the built queue-mode program (dist/main.js, as a child process) against the test
 * bed's API server, KWOK nodes and moto, for each kind of message a queue receives and how each is settled.
 *
 * - every kind acted on: an EC2 state change, an AWS Health scheduled change, a termination lifecycle notification
 *   Auto Scaling sends straight to SQS and through SNS, its test notification (the Spot warning and the
 *   EventBridge lifecycle action are in deployment.test.ts);
 * - a node not in the cluster: released, back later, deleted after `Messages.maxReceivesBeforeDrop` receives;
 * - poison messages, with and without a redrive policy;
 * - a drain longer than the visibility timeout;
 * - a launch lifecycle action completed only once its node is Ready (held on its last receive with a redrive policy).
 *
 * As in deployment.test.ts: a queue per test (fed by its own EventBridge rule), and a MANAGED_TAG of this file's
 * own, so other files' events reaching these queues are deleted as unmanaged. Messages the program must not act
 * on (poison) are sent straight to the test's queue, never through EventBridge: the bus feeds every test's queue,
 * and another file's program would have to deal with them.
 *
 * Some messages are received by the test itself beforehand (visibility 0, so they stay visible): SQS counts each
 * receive, so the program then sees a message received that many times already, as if earlier receives (of this
 * replica or another) had let it go. The release delay grows 5, 10, 20, 40 s, so reaching the 5th receive by
 * waiting would take over 75 s.
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs"
import { AwsEvents, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { describe, expect, it, onTestFailed } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-messages-${randomBytes(3).toString("hex")}`

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const freshQueue = async (
  options: { readonly attributes?: Record<string, string>; readonly eventPattern?: object } = {}
) => {
  const queue = await Fixtures.createEventQueue(bed.clients, "nth-messages", options)
  bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
  return queue
}
/**
 * Patterns for a queue that only this test's messages reach (other files' events reach every queue with the
 * default rule), so that the program's counts are this test's alone.
 */
const onlyEventsOf = (instanceId: string) => ({
  source: ["aws.ec2"],
  detail: { "instance-id": [instanceId] }
})
const noEvents = { source: ["nth.test.no-events"] }

interface App extends Programs.Program {
  /** The Prometheus endpoint. */
  readonly metricsUrl: string
}

/** The program on `queueUrl`, started (its start logged), with its Prometheus endpoint on a free port. */
const startApp = async (queueUrl: string, env: Record<string, string> = {}): Promise<App> => {
  const port = await Programs.freePort()
  const app = Programs.startProgram(appPath, {
    env: {
      ...Programs.testBedEnv(bed.clients.env),
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queueUrl,
      NODE_NAME: "nth-messages-e2e",
      MANAGED_TAG: managedTag,
      JSON_LOGGING: "true",
      ENABLE_PROMETHEUS_SERVER: "true",
      PROMETHEUS_SERVER_PORT: String(port),
      ...env
    },
    cleanup: bed.defer
  })
  // On failure, what the program said (the test's own report says only what was expected).
  onTestFailed(() => {
    console.log(`--- nth-deployment (metrics on ${port}) ---\n${app.logs.join("\n")}`)
  })
  await Programs.waitForLog(app, "nth started in queue mode")
  return { ...app, metricsUrl: `http://127.0.0.1:${port}/metrics` }
}

interface LogEntry {
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** The program's JSON log lines. */
const entries = (app: Programs.Program): Array<LogEntry> =>
  app.logs.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as { message?: unknown; annotations?: Record<string, unknown> }
      const message = Array.isArray(parsed.message) ? parsed.message.join(" ") : String(parsed.message)
      return [{ message, annotations: parsed.annotations ?? {} }]
    } catch {
      return []
    }
  })

const logsAbout = (app: Programs.Program, predicate: (entry: LogEntry) => boolean) =>
  entries(app).filter(predicate)

/** Waits for `count` log entries matching. */
const waitForLogs = (
  app: Programs.Program,
  what: string,
  predicate: (entry: LogEntry) => boolean,
  count = 1,
  timeoutMs = 30_000
) =>
  Fixtures.waitFor(
    what,
    async () => {
      const found = logsAbout(app, predicate)
      return found.length >= count ? found : undefined
    },
    { timeoutMs }
  )

/**
 * The sum of a counter's series whose labels include `labels`, on the program's Prometheus endpoint (0 when there
 * is none). The counter itself must be declared, so that a misspelt name fails instead of reading 0.
 */
const metric = async (
  app: App,
  family: string,
  labels: Readonly<Record<string, string>> = {}
): Promise<number> => {
  const text = await (await fetch(app.metricsUrl)).text()
  if (!text.includes(`# TYPE ${family} counter`)) throw new Error(`no counter ${family} in:\n${text}`)
  let sum = 0
  for (const line of text.split("\n")) {
    const series = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (series?.[1] !== family) continue
    const own = new Map(
      [...(series[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
    )
    if (Object.entries(labels).every(([key, value]) => own.get(key) === value)) sum += Number(series[3])
  }
  return sum
}
/** Messages settled, by how: `deleted`, `released` (made visible again later), `poison`. */
const settled = (app: App, outcome?: "deleted" | "released" | "poison") =>
  metric(app, "nth_queue_messages_total", outcome === undefined ? {} : { outcome })
/** Receives of messages (a message received again counts again). */
const receives = (app: App) => metric(app, "nth_queue_messages_received_total")
const sqsMessageErrors = (app: App) => metric(app, "events_error_total", { event_error_where: "sqs-message" })
const drains = (app: App) =>
  metric(app, "actions_total", { node_action: "cordon-and-drain", node_status: "success" })

/** A node of this file's (tagged `managedTag`) running `replicas` pods, and a spare for their replacements. */
const managedNodeWithPods = async (
  options: {
    readonly replicas?: number
    readonly autoScalingGroup?: Fixtures.AutoScalingGroupOptions
    readonly terminationGracePeriodSeconds?: number
  } = {}
) => {
  const replicas = options.replicas ?? 1
  const node = await bed.registerNode({
    tags: { [managedTag]: "" },
    ...(options.autoScalingGroup ? { autoScalingGroup: options.autoScalingGroup } : {})
  })
  await bed.registerNode()
  const namespace = bed.namespace()
  const labels = await Fixtures.createDeployment(bed.clients, namespace, {
    name: Fixtures.uniqueName("app"),
    replicas,
    preferNode: node.name,
    terminationGracePeriodSeconds: options.terminationGracePeriodSeconds ?? 1
  })
  await Fixtures.waitForReadyPods(bed.clients, namespace, labels, replicas)
  return node
}

const readNode = (name: string) => bed.clients.core.readNode({ name })
const livePods = (node: string) => Fixtures.livePodsOn(bed.clients, node)
const allPods = async (node: string) =>
  (await bed.clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.map(
    (p) => p.metadata?.name
  )
const waitForDrain = (node: string, timeoutMs = 30_000) =>
  Fixtures.waitFor(
    `node ${node} drained`,
    async () => ((await livePods(node)).length === 0 ? true : undefined),
    {
      timeoutMs
    }
  )
const nthTaints = async (node: string) =>
  ((await readNode(node)).spec?.taints ?? [])
    .map((t) => t.key)
    .filter((key) => key.startsWith("aws-node-termination-handler/"))

const waitForEmptyQueue = (queueUrl: string, timeoutMs = 20_000) =>
  Fixtures.waitForEmptyQueue(bed.clients, queueUrl, timeoutMs)

const send = async (queueUrl: string, body: string) => {
  const { MessageId } = await bed.clients.sqs.send(
    new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body })
  )
  if (!MessageId) throw new Error("SendMessage returned no id")
  return MessageId
}

/**
 * Receives the queue's messages `times` times over with visibility 0 (they stay visible), as earlier receives
 * would have; returns the receive count SQS gave each message of `bodies` the last time.
 */
const receiveBeforehand = async (queueUrl: string, times: number, select: (body: string) => boolean) => {
  const counts = new Map<string, number>()
  for (let round = 0; round < times; round++) {
    const { Messages = [] } = await bed.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"]
      })
    )
    for (const m of Messages)
      if (m.MessageId && select(m.Body ?? ""))
        counts.set(m.MessageId, Number(m.Attributes?.ApproximateReceiveCount))
  }
  return counts
}

const lifecycleAction = async (token: string) =>
  (await Fixtures.lifecycleActions(bed.clients)).find((a) => a.lifecycleActionToken === token)

/** A managed node in a fresh group with the termination hook `nth-drain`, and a waiting action on it. */
const terminatingNode = async () => {
  const group = Fixtures.uniqueName("nth-msg-asg")
  const node = await managedNodeWithPods({ autoScalingGroup: { name: group } })
  const action = await Fixtures.startLifecycleAction(bed.clients, {
    autoScalingGroupName: group,
    lifecycleHookName: "nth-drain",
    instanceId: node.instanceId
  })
  return {
    node,
    action: {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      lifecycleActionToken: action.lifecycleActionToken,
      instanceId: node.instanceId
    }
  }
}

/** What a termination lifecycle action ends with: drained, cordoned, tainted, completed (CONTINUE). */
const expectTerminationHandled = async (node: Fixtures.FakeNode, token: string) => {
  await waitForDrain(node.name)
  expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
  expect(await nthTaints(node.name)).toContain("aws-node-termination-handler/asg-lifecycle-termination")
  const completed = await Fixtures.waitForCompletedAction(bed.clients, token)
  expect(completed.result).toBe("CONTINUE")
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

describe("nth-deployment: every kind of message, end to end", () => {
  it("EC2 state change: `running` deleted with nothing done; `stopping` cordoned and drained (no taint for the kind), deleted", async () => {
    const node = await managedNodeWithPods()
    const queue = await freshQueue()
    const app = await startApp(queue.queueUrl, { TAINT_NODE: "true" })

    await Fixtures.publishEvents(bed.clients, [AwsEvents.instanceStateChange(node.instanceId, "running")])
    await waitForEmptyQueue(queue.queueUrl)
    expect((await readNode(node.name)).spec?.unschedulable).toBeFalsy()
    expect(await livePods(node.name)).toHaveLength(1)

    await Fixtures.publishEvents(bed.clients, [AwsEvents.instanceStateChange(node.instanceId, "stopping")])
    await waitForDrain(node.name)
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    // The Go handler has no taint for state changes.
    expect(await nthTaints(node.name)).toEqual([])
    await waitForEmptyQueue(queue.queueUrl)
    expect(await app.stop()).toBe(0)
  })

  it("AWS Health scheduled change (EC2): cordoned, tainted scheduled-maintenance, drained, deleted", async () => {
    const node = await managedNodeWithPods()
    const queue = await freshQueue()
    const app = await startApp(queue.queueUrl, { TAINT_NODE: "true" })
    await Fixtures.publishEvents(bed.clients, [AwsEvents.healthScheduledChange([node.instanceId])])
    await waitForDrain(node.name)
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    expect(await nthTaints(node.name)).toContain("aws-node-termination-handler/scheduled-maintenance")
    await waitForEmptyQueue(queue.queueUrl)
    expect(await app.stop()).toBe(0)
  })

  it("termination lifecycle notification sent by Auto Scaling straight to SQS: drained, tainted, action completed, deleted", async () => {
    const { node, action } = await terminatingNode()
    const queue = await freshQueue()
    const app = await startApp(queue.queueUrl, { TAINT_NODE: "true" })
    await send(
      queue.queueUrl,
      AwsEvents.lifecycleNotification(action, "autoscaling:EC2_INSTANCE_TERMINATING")
    )
    await expectTerminationHandled(node, action.lifecycleActionToken)
    await waitForEmptyQueue(queue.queueUrl)
    expect(await app.stop()).toBe(0)
  })

  it("termination lifecycle notification through SNS (SNS's envelope): drained, tainted, action completed, deleted", async () => {
    const { node, action } = await terminatingNode()
    const queue = await freshQueue()
    const topic = await Fixtures.createTopicForQueue(bed.clients, queue, "nth-messages")
    bed.defer(() => Fixtures.deleteTopic(bed.clients, topic))
    await Fixtures.publishToTopic(
      bed.clients,
      topic,
      AwsEvents.lifecycleNotification(action, "autoscaling:EC2_INSTANCE_TERMINATING")
    )
    // What the queue holds is SNS's notification, the lifecycle notification in its `Message`.
    const { Messages = [] } = await bed.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 })
    )
    const envelope = Messages.map((m) => JSON.parse(m.Body ?? "{}") as Record<string, string>).find(
      (body) => body.TopicArn === topic.topicArn
    )
    expect(envelope?.Type).toBe("Notification")
    expect(JSON.parse(envelope?.Message ?? "{}")).toMatchObject({ EC2InstanceId: node.instanceId })

    const app = await startApp(queue.queueUrl, { TAINT_NODE: "true" })
    await expectTerminationHandled(node, action.lifecycleActionToken)
    await waitForEmptyQueue(queue.queueUrl)
    expect(await app.stop()).toBe(0)
  })

  it("Auto Scaling test notification, straight and through SNS: deleted, nothing done", async () => {
    const queue = await freshQueue({ eventPattern: noEvents })
    const topic = await Fixtures.createTopicForQueue(bed.clients, queue, "nth-messages")
    bed.defer(() => Fixtures.deleteTopic(bed.clients, topic))
    const app = await startApp(queue.queueUrl)
    const group = Fixtures.uniqueName("nth-msg-test")
    await send(queue.queueUrl, AwsEvents.autoScalingTestNotification(group))
    await Fixtures.publishToTopic(bed.clients, topic, AwsEvents.autoScalingTestNotification(group))
    await waitForEmptyQueue(queue.queueUrl)
    expect(await receives(app)).toBe(2)
    expect(await settled(app, "deleted")).toBe(2)
    expect(await settled(app)).toBe(2)
    expect(await sqsMessageErrors(app)).toBe(0)
    expect(await drains(app)).toBe(0)
    expect(app.process.exitCode).toBeNull()
    expect(await app.stop()).toBe(0)
  })
})

describe("nth-deployment: messages that cannot be acted on yet, or ever", () => {
  it("a node not in the cluster (no DELETE_SQS_MSG_IF_NODE_NOT_FOUND): released, back later, deleted on its 5th receive, never a hot loop", async () => {
    // A managed instance that never joined the cluster.
    const instance = await Fixtures.launchInstance(bed.clients, { tags: { [managedTag]: "" } })
    const queue = await freshQueue({ eventPattern: onlyEventsOf(instance.instanceId) })
    const mine = (body: string) => body.includes(instance.instanceId)

    // One message already received 4 times: the program's receive is its 5th, and deletes it.
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(instance.instanceId)])
    const before = await receiveBeforehand(queue.queueUrl, 4, mine)
    expect([...before.values()]).toEqual([4])
    const [worn] = before.keys()
    const app = await startApp(queue.queueUrl)
    const dropped = await waitForLogs(
      app,
      "the message deleted after 5 receives",
      (e) =>
        e.annotations.messageId === worn && e.message.includes("still not in the cluster after 5 receives")
    )
    expect(dropped[0]?.annotations.receiveCount).toBe(5)
    await waitForEmptyQueue(queue.queueUrl)
    expect(await receives(app)).toBe(1)
    expect(await settled(app, "deleted")).toBe(1)

    // A new one: released, not deleted; back after the release delay (5 s); not received again in between.
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(instance.instanceId)])
    const tryAgain = (e: LogEntry) => e.message.includes("not in the cluster (yet): trying again later")
    const [first] = await waitForLogs(app, "the first release", tryAgain)
    const fresh = first?.annotations.messageId
    expect(first?.annotations.receiveCount).toBe(1)
    expect(await Fixtures.queueDepth(bed.clients, queue.queueUrl)).toEqual({ visible: 0, inFlight: 1 })
    const releasedAt = Date.now()
    const again = await waitForLogs(
      app,
      "the message back",
      (e) => tryAgain(e) && e.annotations.messageId === fresh,
      2,
      15_000
    )
    const backAfter = Date.now() - releasedAt
    expect(again[1]?.annotations.receiveCount).toBe(2)
    expect(backAfter).toBeGreaterThan(3_000)
    // Released for 10 s now: nothing more for a while, and the message still in the queue.
    await sleep(3_000)
    const handled = logsAbout(app, (e) => e.annotations.messageId === fresh && tryAgain(e))
    expect(handled).toHaveLength(2)
    // Every receive of the program: the worn message once, the new one twice.
    expect(await receives(app)).toBe(3)
    expect(await settled(app, "released")).toBe(2)
    expect(await Fixtures.queueDepth(bed.clients, queue.queueUrl)).toEqual({ visible: 0, inFlight: 1 })
    expect(app.process.exitCode).toBeNull()
    expect(await app.stop()).toBe(0)
  })

  it("poison messages, no redrive policy: released with a delay, deleted on the 5th receive, counted; the program keeps going", async () => {
    const queue = await freshQueue({ eventPattern: noEvents })
    // Not JSON, and an EventBridge event of a kind nth does not handle (sent straight to this queue: see the top).
    const notJson = "this is not JSON {"
    const unknownKind = JSON.stringify({
      version: "0",
      id: randomBytes(8).toString("hex"),
      "detail-type": "AWS Health Abuse Event",
      source: "aws.health",
      account: "123456789012",
      time: new Date().toISOString(),
      region: "us-east-1",
      resources: [],
      detail: { service: "EC2" }
    })
    const wornIds = [await send(queue.queueUrl, notJson), await send(queue.queueUrl, unknownKind)]
    const before = await receiveBeforehand(
      queue.queueUrl,
      4,
      (body) => body === notJson || body === unknownKind
    )
    expect(wornIds.map((id) => before.get(id))).toEqual([4, 4])
    // And one received for the first time.
    const freshId = await send(queue.queueUrl, "{ still not JSON")

    const app = await startApp(queue.queueUrl)
    const setAside = (outcome: string) => (e: LogEntry) => e.message === `message set aside (${outcome})`
    const dropped = await waitForLogs(app, "both worn messages dropped", setAside("Dropped"), 2)
    expect(dropped.map((e) => e.annotations.messageId).sort()).toEqual([...wornIds].sort())
    const [released] = await waitForLogs(app, "the fresh message released", setAside("Released"))
    expect(released?.annotations.messageId).toBe(freshId)
    expect(released?.annotations.receiveCount).toBe(1)
    // The two deleted, the fresh one still there (in flight: released with a delay).
    const depth = await Fixtures.queueDepth(bed.clients, queue.queueUrl)
    expect(depth.visible + depth.inFlight).toBe(1)
    expect(await receives(app)).toBe(3)
    expect(await settled(app, "poison")).toBe(3)
    expect(await settled(app)).toBe(3)
    expect(await sqsMessageErrors(app)).toBe(3)
    expect(app.process.exitCode).toBeNull()
    expect(await app.stop()).toBe(0)
  })

  it("poison messages, with a redrive policy: left to it, they end in the dead-letter queue; counted; the program keeps going", async () => {
    const deadLetters = await Fixtures.createQueue(bed.clients, "nth-messages-dlq")
    bed.defer(() => Fixtures.deleteQueue(bed.clients, deadLetters))
    const queue = await freshQueue({
      attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetters.queueArn, maxReceiveCount: 2 })
      },
      eventPattern: noEvents
    })
    const ids = [
      await send(queue.queueUrl, "this is not JSON {"),
      await send(
        queue.queueUrl,
        JSON.stringify({ id: "1", "detail-type": "Object Created", source: "aws.s3", detail: {} })
      )
    ]
    const app = await startApp(queue.queueUrl)
    // Released after 5 s on the 1st receive, at once on the 2nd (the policy's maxReceiveCount): SQS moves each to
    // the dead-letter queue on the 3rd.
    await Fixtures.waitFor(
      "both messages in the dead-letter queue",
      async () =>
        (await Fixtures.queueDepth(bed.clients, deadLetters.queueUrl)).visible === 2 ? true : undefined,
      { timeoutMs: 20_000 }
    )
    const { Messages = [] } = await bed.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetters.queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0
      })
    )
    expect(Messages.map((m) => m.MessageId).sort()).toEqual([...ids].sort())
    const redriven = logsAbout(app, (e) => e.message === "message set aside (Redrive)")
    expect(redriven.map((e) => `${e.annotations.messageId}#${e.annotations.receiveCount}`).sort()).toEqual(
      ids.flatMap((id) => [`${id}#1`, `${id}#2`]).sort()
    )
    expect(await receives(app)).toBe(4)
    expect(await settled(app, "poison")).toBe(4)
    expect(await settled(app)).toBe(4)
    expect(await sqsMessageErrors(app)).toBe(4)
    await waitForEmptyQueue(queue.queueUrl)
    expect(app.process.exitCode).toBeNull()
    expect(await app.stop()).toBe(0)
  })
})

describe("nth-deployment: long drains and late nodes", () => {
  it("a drain longer than the visibility timeout: the message never reappears, is handled once and deleted at the end", async () => {
    const visibility = 4
    // The pod's grace period is honoured by KWOK: the drain waits ~12 s for it, three visibility timeouts.
    const node = await managedNodeWithPods({ terminationGracePeriodSeconds: 12 })
    // This node's events only: every message the program settles is this one.
    const queue = await freshQueue({ eventPattern: onlyEventsOf(node.instanceId) })
    const app = await startApp(queue.queueUrl, {
      SQS_MSG_VISIBILITY_TIMEOUT_SEC: String(visibility),
      TAINT_NODE: "true"
    })
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(node.instanceId)])
    const isMine = (e: LogEntry) =>
      e.annotations.instance === node.instanceId && e.message.startsWith("SpotInterruptionNotice received")
    const [received] = await waitForLogs(app, "the notice received", isMine)
    const messageId = received?.annotations.messageId
    const start = Date.now()
    // Until the node is drained, the message is never visible to another consumer (this test, receiving too).
    let seenByTest = 0
    for (;;) {
      const { Messages = [] } = await bed.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 })
      )
      seenByTest += Messages.filter((m) => m.MessageId === messageId).length
      const drained = logsAbout(
        app,
        (e) => e.message === "node drained" && e.annotations.messageId === messageId
      )
      if (drained.length > 0) break
      expect(Date.now() - start).toBeLessThan(30_000)
      await sleep(300)
    }
    // Drained once the pod is gone (KWOK finished it at the end of its grace period).
    expect(await allPods(node.name)).toEqual([])
    const drainedAfter = Date.now() - start
    expect(drainedAfter).toBeGreaterThan(2 * visibility * 1000)
    expect(seenByTest).toBe(0)
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    expect(await nthTaints(node.name)).toContain("aws-node-termination-handler/spot-itn")
    await waitForEmptyQueue(queue.queueUrl)
    // Received once (a copy that reappeared would have been received by the program at once), handled once,
    // settled once.
    expect(await receives(app)).toBe(1)
    const about = logsAbout(app, (e) => e.annotations.messageId === messageId)
    expect(new Set(about.map((e) => e.annotations.receiveCount))).toEqual(new Set([1]))
    expect(logsAbout(app, isMine)).toHaveLength(1)
    expect(await settled(app, "deleted")).toBe(1)
    expect(await settled(app)).toBe(1)
    expect(await drains(app)).toBe(1)
    expect(await app.stop()).toBe(0)
  })

  it("a launch lifecycle action is completed only once the node is Ready: no node yet, then a node not Ready yet", async () => {
    const group = Fixtures.uniqueName("nth-msg-launch")
    const autoScalingGroup = {
      name: group,
      hooks: [{ name: "nth-launch", transition: "autoscaling:EC2_INSTANCE_LAUNCHING" as const }]
    }
    const tags = { [managedTag]: "" }
    const noNode = await Fixtures.launchInstance(bed.clients, { autoScalingGroup, tags })
    const notReady = await Fixtures.launchInstance(bed.clients, { autoScalingGroup, tags })
    const notReadyNode = await Fixtures.registerNodeFor(bed.clients, notReady, { kwok: false })
    bed.defer(() => Fixtures.deleteNode(bed.clients, notReadyNode.name))
    await Fixtures.setNodeReady(bed.clients, notReadyNode.name, false)
    const queue = await freshQueue({
      eventPattern: { source: ["aws.autoscaling"], detail: { AutoScalingGroupName: [group] } }
    })
    const app = await startApp(queue.queueUrl)

    const tokens: Array<string> = []
    for (const instance of [noNode, notReady]) {
      const action = await Fixtures.startLifecycleAction(bed.clients, {
        autoScalingGroupName: group,
        lifecycleHookName: "nth-launch",
        instanceId: instance.instanceId
      })
      tokens.push(action.lifecycleActionToken)
      await Fixtures.publishEvents(bed.clients, [
        AwsEvents.asgLaunchLifecycleAction({
          autoScalingGroupName: group,
          lifecycleHookName: "nth-launch",
          lifecycleActionToken: action.lifecycleActionToken,
          instanceId: instance.instanceId
        })
      ])
    }
    await waitForLogs(app, "no node yet", (e) => e.message.includes("the launched instance has no node yet"))
    await waitForLogs(app, "not Ready yet", (e) =>
      e.message.includes("the launched instance's node is not Ready yet")
    )
    for (const token of tokens) expect((await lifecycleAction(token))?.state).toBe("waiting")
    // Both messages kept (released, to be looked at again).
    expect(await Fixtures.queueDepth(bed.clients, queue.queueUrl)).toEqual({ visible: 0, inFlight: 2 })

    // The nodes become Ready: the node registers (KWOK makes it Ready), the other's kubelet reports Ready.
    const readyAt = Date.now() / 1000
    const joined = await Fixtures.registerNodeFor(bed.clients, noNode)
    bed.defer(() => Fixtures.deleteNode(bed.clients, joined.name))
    await Fixtures.setNodeReady(bed.clients, notReadyNode.name, true)
    for (const token of tokens) {
      const completed = await Fixtures.waitForCompletedAction(bed.clients, token, 20_000)
      expect(completed.result).toBe("CONTINUE")
      expect(completed.completedAt).toBeGreaterThanOrEqual(readyAt)
    }
    await waitForEmptyQueue(queue.queueUrl)
    // A launch is no interruption: the nodes are left alone.
    expect((await readNode(joined.name)).spec?.unschedulable).toBeFalsy()
    expect((await readNode(notReadyNode.name)).spec?.unschedulable).toBeFalsy()
    expect(await app.stop()).toBe(0)
  })

  it("a launch lifecycle action on a queue with a redrive policy: on its last receive the message is held, not sent to the dead-letter queue, until the node is Ready", async () => {
    const group = Fixtures.uniqueName("nth-msg-launch-dlq")
    const autoScalingGroup = {
      name: group,
      hooks: [{ name: "nth-launch", transition: "autoscaling:EC2_INSTANCE_LAUNCHING" as const }]
    }
    const instance = await Fixtures.launchInstance(bed.clients, {
      autoScalingGroup,
      tags: { [managedTag]: "" }
    })
    const node = await Fixtures.registerNodeFor(bed.clients, instance, { kwok: false })
    bed.defer(() => Fixtures.deleteNode(bed.clients, node.name))
    await Fixtures.setNodeReady(bed.clients, node.name, false)
    const deadLetters = await Fixtures.createQueue(bed.clients, "nth-messages-dlq")
    bed.defer(() => Fixtures.deleteQueue(bed.clients, deadLetters))
    // One receive only: a release would send the message to the dead-letter queue.
    const queue = await freshQueue({
      attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetters.queueArn, maxReceiveCount: 1 })
      },
      eventPattern: { source: ["aws.autoscaling"], detail: { AutoScalingGroupName: [group] } }
    })
    const app = await startApp(queue.queueUrl)
    const action = await Fixtures.startLifecycleAction(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-launch",
      instanceId: instance.instanceId
    })
    await Fixtures.publishEvents(bed.clients, [
      AwsEvents.asgLaunchLifecycleAction({
        autoScalingGroupName: group,
        lifecycleHookName: "nth-launch",
        lifecycleActionToken: action.lifecycleActionToken,
        instanceId: instance.instanceId
      })
    ])
    await waitForLogs(app, "held on its last receive", (e) =>
      e.message.includes("this is the message's last receive before the dead-letter queue")
    )
    expect((await lifecycleAction(action.lifecycleActionToken))?.state).toBe("waiting")
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await Fixtures.queueDepth(bed.clients, queue.queueUrl)).toEqual({ visible: 0, inFlight: 1 })
    expect(await Fixtures.queueDepth(bed.clients, deadLetters.queueUrl)).toEqual({ visible: 0, inFlight: 0 })

    const readyAt = Date.now() / 1000
    await Fixtures.setNodeReady(bed.clients, node.name, true)
    const completed = await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken, 20_000)
    expect(completed.result).toBe("CONTINUE")
    expect(completed.completedAt).toBeGreaterThanOrEqual(readyAt)
    await waitForEmptyQueue(queue.queueUrl)
    expect(await Fixtures.queueDepth(bed.clients, deadLetters.queueUrl)).toEqual({ visible: 0, inFlight: 0 })
    expect(await app.stop()).toBe(0)
  })
})
