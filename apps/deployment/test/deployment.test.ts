/**
 * End to end: the built queue-mode program (dist/main.js, as a child process) against the test bed's API server,
 * KWOK nodes and moto (SQS fed by an EventBridge rule, EC2, Auto Scaling with lifecycle actions).
 *
 * Every queue's rule receives every event published on the shared bus, including other test files'. Each
 * instance here carries a tag of this file's own, given as MANAGED_TAG: the program acts on these instances only
 * (the others' messages are deleted as unmanaged), so it never drains another file's node.
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { SendMessageCommand } from "@aws-sdk/client-sqs"
import { AwsEvents, Fixtures, Programs, useTestBed, WebhookReceiver } from "@nth/testbed"
import { describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-deployment-${randomBytes(3).toString("hex")}`

/**
 * A queue of the test's own. (One shared by the tests would hold up each test's first message by a visibility
 * timeout: the previous test's program, stopped, left long polls open in the emulator, which may hand that message
 * to one of them.)
 */
const freshQueue = async () => {
  const queue = await Fixtures.createEventQueue(bed.clients, "nth-deployment")
  bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
  return queue.queueUrl
}

const startApp = (
  queueUrl: string,
  env: Record<string, string> = {},
  args: ReadonlyArray<string> = []
): Programs.Program =>
  Programs.startProgram(appPath, {
    env: {
      ...Programs.testBedEnv(bed.clients.env),
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queueUrl,
      NODE_NAME: "nth-deployment-e2e",
      MANAGED_TAG: managedTag,
      JSON_LOGGING: "true",
      ...env
    },
    args,
    cleanup: bed.defer
  })

const started = (app: Programs.Program) => Programs.waitForLog(app, "nth started in queue mode")

/** A node of this file's (tagged `managedTag`) running `replicas` pods, and a spare for their replacements. */
const managedNodeWithPods = async (
  options: { readonly replicas?: number; readonly autoScalingGroup?: Fixtures.AutoScalingGroupOptions } = {}
) => {
  const replicas = options.replicas ?? 2
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
    terminationGracePeriodSeconds: 1
  })
  await Fixtures.waitForReadyPods(bed.clients, namespace, labels, replicas)
  return node
}

const readNode = (name: string) => bed.clients.core.readNode({ name })
const livePods = (node: string) => Fixtures.livePodsOn(bed.clients, node)
const waitForDrain = (node: string) =>
  Fixtures.waitFor(
    `node ${node} drained`,
    async () => ((await livePods(node)).length === 0 ? true : undefined),
    {
      timeoutMs: 40_000
    }
  )
const waitForEmptyQueue = (queueUrl: string) => Fixtures.waitForEmptyQueue(bed.clients, queueUrl, 20_000)

describe("nth-deployment", () => {
  it("prints every setting with --help, QUEUE_URL among them, and exits 0", async () => {
    const app = startApp("", {}, ["--help"])
    expect(await app.exited).toBe(0)
    const output = app.logs.join("\n")
    for (const name of ["QUEUE_URL", "DELETE_SQS_MSG_IF_NODE_NOT_FOUND", "HEARTBEAT_INTERVAL"])
      expect(output).toContain(name)
  })

  it("refuses IMDS mode, which is the DaemonSet program's", async () => {
    const app = startApp("https://sqs.us-east-1.amazonaws.com/123456789012/q", {
      ENABLE_SQS_TERMINATION_DRAINING: "false"
    })
    expect(await app.exited).toBe(2)
    expect(app.logs.join("\n")).toContain("ENABLE_SQS_TERMINATION_DRAINING")
  })

  it("cordons, taints and drains on a Spot interruption warning, and deletes the message", async () => {
    const node = await managedNodeWithPods()
    const queue = await freshQueue()
    const app = startApp(queue, { TAINT_NODE: "true" })
    await started(app)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(node.instanceId)])
    await waitForDrain(node.name)
    const after = await readNode(node.name)
    expect(after.spec?.unschedulable).toBe(true)
    expect(after.spec?.taints?.map((t) => t.key)).toContain("aws-node-termination-handler/spot-itn")
    await waitForEmptyQueue(queue)
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("drains for an ASG termination lifecycle action and completes it (CONTINUE)", async () => {
    const group = Fixtures.uniqueName("nth-asg")
    const node = await managedNodeWithPods({ replicas: 1, autoScalingGroup: { name: group } })
    const queue = await freshQueue()
    const app = startApp(queue)
    await started(app)
    const action = await Fixtures.fireLifecycleHook(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      instanceId: node.instanceId
    })
    await waitForDrain(node.name)
    const completed = await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken)
    expect(completed.result).toBe("CONTINUE")
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    await waitForEmptyQueue(queue)
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("completes an ASG launch lifecycle action once the node is Ready", async () => {
    const group = Fixtures.uniqueName("nth-asg-launch")
    const node = await bed.registerNode({
      tags: { [managedTag]: "" },
      autoScalingGroup: {
        name: group,
        hooks: [{ name: "nth-launch", transition: "autoscaling:EC2_INSTANCE_LAUNCHING" }]
      }
    })
    const queue = await freshQueue()
    const app = startApp(queue)
    await started(app)
    const action = await Fixtures.fireLifecycleHook(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-launch",
      instanceId: node.instanceId,
      transition: "launch"
    })
    const completed = await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken)
    expect(completed.result).toBe("CONTINUE")
    // A launch is no interruption: the node is left alone.
    expect((await readNode(node.name)).spec?.unschedulable).toBeFalsy()
    await waitForEmptyQueue(queue)
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("leaves an instance without MANAGED_TAG alone, and deletes its message", async () => {
    const unmanaged = await bed.registerNode()
    const queue = await freshQueue()
    const app = startApp(queue)
    await started(app)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(unmanaged.instanceId)])
    await Fixtures.waitFor("the not-managed log", async () =>
      app.logs.some(
        (line) => line.includes("not managed, message deleted") && line.includes(unmanaged.instanceId)
      )
        ? true
        : undefined
    )
    await waitForEmptyQueue(queue)
    expect((await readNode(unmanaged.name)).spec?.unschedulable).toBeFalsy()
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("sets an unreadable message aside (released with a delay, not deleted), and keeps going", async () => {
    const queue = await freshQueue()
    const app = startApp(queue)
    await started(app)
    await bed.clients.sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "not json" }))
    await Fixtures.waitFor("the message set aside", async () =>
      app.logs.some((line) => line.includes("message set aside (Released)")) ? true : undefined
    )
    expect(app.logs.some((line) => line.includes("unreadable message (NotJson)"))).toBe(true)
    expect(app.process.exitCode).toBeNull()
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("deletes the message of an instance with no node, with DELETE_SQS_MSG_IF_NODE_NOT_FOUND", async () => {
    // A managed instance whose node is gone (deleted before the program starts: the index never saw it).
    const gone = await bed.registerNode({ tags: { [managedTag]: "" } })
    await Fixtures.deleteNode(bed.clients, gone.name)
    const queue = await freshQueue()
    const app = startApp(queue, { DELETE_SQS_MSG_IF_NODE_NOT_FOUND: "true" })
    await started(app)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(gone.instanceId)])
    await Fixtures.waitFor("the not-found log", async () =>
      app.logs.some((line) => line.includes("not in the cluster: message deleted")) ? true : undefined
    )
    await waitForEmptyQueue(queue)
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("posts a webhook with the instance's fields filled, which the Go handler leaves empty in queue mode", async () => {
    const hook = await WebhookReceiver.start()
    bed.defer(() => hook.close())
    const node = await managedNodeWithPods()
    const queue = await freshQueue()
    const app = startApp(queue, {
      WEBHOOK_URL: hook.url,
      WEBHOOK_TEMPLATE:
        "{{ .Kind }}|{{ .NodeName }}|{{ .InstanceID }}|{{ .InstanceType }}|{{ .AvailabilityZone }}|{{ .Region }}|" +
        "{{ .AccountId }}|{{ .LocalHostname }}|{{ .ProviderID }}|{{ .IsManaged }}|{{ len .Pods }}|{{ .Monitor }}"
    })
    await started(app)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(node.instanceId)])
    await waitForDrain(node.name)
    await Fixtures.waitFor("the notification", async () => (hook.requests.length > 0 ? true : undefined))
    const account = /\/(\d{12})\//.exec(queue)?.[1]
    expect(hook.requests[0]?.body).toBe(
      [
        "SPOT_ITN",
        node.name,
        node.instanceId,
        node.instanceType,
        node.zone,
        bed.clients.env.AWS_REGION,
        account,
        node.privateDnsName,
        node.providerId,
        "true",
        "2",
        "SQS_MONITOR"
      ].join("|")
    )
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("drains the next node at once while a hanging receiver holds the last notification (one worker)", async () => {
    // With one worker, a notification posted on the handling path would hold it for 5 tries of 5 s each.
    const hook = await WebhookReceiver.start({ answer: () => "hang" })
    bed.defer(() => hook.close())
    const first = await managedNodeWithPods({ replicas: 1 })
    const second = await managedNodeWithPods({ replicas: 1 })
    const queue = await freshQueue()
    const app = startApp(queue, { WEBHOOK_URL: hook.url, WORKERS: "1" })
    await started(app)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(first.instanceId)])
    await waitForDrain(first.name)
    await Fixtures.waitFor("the first notification's try", async () =>
      hook.requests.length > 0 ? true : undefined
    )
    const firstDrained = Date.now()
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(second.instanceId)])
    await waitForDrain(second.name)
    const gap = Date.now() - firstDrained
    console.log(`second node drained ${gap} ms after the first, the first's notification still hanging`)
    expect(gap).toBeLessThan(15_000)
    expect(await app.stop()).toBe(0)
  }, 90_000)

  it("stops with exit 0 on SIGTERM", async () => {
    const queue = await freshQueue()
    const app = startApp(queue)
    await started(app)
    expect(await app.stop("SIGTERM")).toBe(0)
  })
})
