/**
 * End to end in queue mode, the choices no other termination handler offers (issue 17), with the built queue-mode
 * program against the test bed's API server, KWOK nodes and moto (SQS fed by an EventBridge rule): the rebalance
 * cordon that lifts itself, the node label that overrides the rebalance settings, per-pod annotations, and the
 * node condition.
 *
 * As in deployment.test.ts, each instance carries this file's own tag, given as MANAGED_TAG: the program acts on
 * this file's instances only.
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { AwsEvents, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-choices-${randomBytes(3).toString("hex")}`

const freshQueue = async () => {
  const queue = await Fixtures.createEventQueue(bed.clients, "nth-choices")
  bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
  return queue.queueUrl
}

const startApp = async (queueUrl: string, env: Record<string, string> = {}) => {
  const app = Programs.startProgram(appPath, {
    env: {
      ...Programs.testBedEnv(bed.clients.env),
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queueUrl,
      NODE_NAME: "nth-choices-e2e",
      MANAGED_TAG: managedTag,
      JSON_LOGGING: "true",
      ...env
    },
    cleanup: bed.defer
  })
  await Programs.waitForLog(app, "nth started in queue mode")
  return app
}

const readNode = (name: string) => bed.clients.core.readNode({ name })
const livePods = (node: string) => Fixtures.livePodsOn(bed.clients, node)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const unschedulable = async (name: string) => (await readNode(name)).spec?.unschedulable === true
const cordoned = (name: string) =>
  Fixtures.waitFor(`node ${name} cordoned`, async () => ((await unschedulable(name)) ? true : undefined))
const uncordoned = (name: string) =>
  Fixtures.waitFor(`node ${name} uncordoned`, async () => ((await unschedulable(name)) ? undefined : true))
const drained = (name: string) =>
  Fixtures.waitFor(
    `node ${name} drained`,
    async () => ((await livePods(name)).length === 0 ? true : undefined),
    {
      timeoutMs: 40_000
    }
  )
const emptied = (queueUrl: string) => Fixtures.waitForEmptyQueue(bed.clients, queueUrl, 20_000)
const nodeEvents = async (name: string) =>
  (
    await bed.clients.core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: `involvedObject.name=${name}`
    })
  ).items

/** A node of this file's with one pod of a Deployment (and a spare node), carrying `labels`. */
const managedNode = async (labels: Record<string, string> = {}) => {
  const node = await bed.registerNode({ tags: { [managedTag]: "" }, labels })
  await bed.registerNode()
  const namespace = bed.namespace()
  const app = await Fixtures.createDeployment(bed.clients, namespace, {
    name: Fixtures.uniqueName("app"),
    replicas: 1,
    preferNode: node.name,
    terminationGracePeriodSeconds: 1
  })
  const [pod] = await Fixtures.waitForReadyPods(bed.clients, namespace, app, 1)
  return { node, pod: pod?.metadata?.name ?? "" }
}
const stillThere = async (node: string, pod: string) =>
  (await livePods(node)).some((p) => p.metadata?.name === pod)

describe("queue mode: a rebalance cordon that lifts itself", () => {
  it("is lifted when nothing followed in time; kept when a Spot warning followed", async () => {
    const lifted = await managedNode()
    const kept = await managedNode()
    const queue = await freshQueue()
    const app = await startApp(queue, {
      ENABLE_REBALANCE_MONITORING: "true",
      TAINT_NODE: "true",
      REBALANCE_UNCORDON_AFTER_SECONDS: "4",
      EMIT_KUBERNETES_EVENTS: "true"
    })
    await Fixtures.publishEvents(bed.clients, [
      AwsEvents.rebalanceRecommendation(lifted.node.instanceId),
      AwsEvents.rebalanceRecommendation(kept.node.instanceId)
    ])
    await cordoned(lifted.node.name)
    await cordoned(kept.node.name)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(kept.node.instanceId)])
    await drained(kept.node.name)
    await uncordoned(lifted.node.name)
    expect((await readNode(lifted.node.name)).spec?.taints ?? []).toEqual([])
    expect(await stillThere(lifted.node.name, lifted.pod)).toBe(true)
    expect((await nodeEvents(lifted.node.name)).map((e) => e.message)).toContain(
      "Rebalance recommendation's cordon lifted: no interruption followed within 4 s"
    )
    await sleep(3000)
    expect(await unschedulable(kept.node.name)).toBe(true)
    // Kept, not lifted and cordoned again by the Spot warning.
    expect(app.logs.some((line) => line.includes("rebalance cordon kept"))).toBe(true)
    expect((await nodeEvents(kept.node.name)).map((e) => e.message)).not.toContain(
      "Rebalance recommendation's cordon lifted: no interruption followed within 4 s"
    )
    await emptied(queue)
    expect(await app.stop()).toBe(0)
  }, 90_000)

  it("a replica started after the one that cordoned lifts the cordon when its time is up", async () => {
    const { node } = await managedNode()
    const queue = await freshQueue()
    const settings = { ENABLE_REBALANCE_MONITORING: "true", REBALANCE_UNCORDON_AFTER_SECONDS: "6" }
    const first = await startApp(queue, settings)
    await Fixtures.publishEvents(bed.clients, [AwsEvents.rebalanceRecommendation(node.instanceId)])
    await cordoned(node.name)
    await emptied(queue)
    expect(await first.stop()).toBe(0)
    const second = await startApp(queue, settings)
    await uncordoned(node.name)
    expect(second.logs.some((line) => line.includes("rebalance cordon alone"))).toBe(true)
    expect(await second.stop()).toBe(0)
  }, 90_000)
})

describe("queue mode: the node label nth.aws/rebalance-action", () => {
  it("overrides queue mode's rebalance default (cordon and drain) per node; an unknown value warns and the default applies", async () => {
    const cordonOnly = await managedNode({ "nth.aws/rebalance-action": "cordon" })
    const ignored = await managedNode({ "nth.aws/rebalance-action": "ignore" })
    const unknown = await managedNode({ "nth.aws/rebalance-action": "drain-slowly" })
    const queue = await freshQueue()
    const app = await startApp(queue, { EMIT_KUBERNETES_EVENTS: "true" })
    await Fixtures.publishEvents(bed.clients, [
      AwsEvents.rebalanceRecommendation(cordonOnly.node.instanceId),
      AwsEvents.rebalanceRecommendation(ignored.node.instanceId),
      AwsEvents.rebalanceRecommendation(unknown.node.instanceId)
    ])
    await drained(unknown.node.name)
    await cordoned(cordonOnly.node.name)
    await emptied(queue)
    expect(await stillThere(cordonOnly.node.name, cordonOnly.pod)).toBe(true)
    expect(await unschedulable(ignored.node.name)).toBe(false)
    expect(await stillThere(ignored.node.name, ignored.pod)).toBe(true)
    const warning = (await nodeEvents(unknown.node.name)).find((e) => e.reason === "InvalidNodeLabel")
    expect(warning?.type).toBe("Warning")
    expect(warning?.message).toContain(
      'nth.aws/rebalance-action="drain-slowly" is not cordon, drain or ignore'
    )
    expect(await app.stop()).toBe(0)
  }, 90_000)
})

describe("queue mode: per-pod annotations (ENABLE_POD_DRAIN_ANNOTATIONS)", () => {
  it("leaves a do-not-evict pod (said in a log line and an Event), caps an annotated grace longer than the time left", async () => {
    const node = await bed.registerNode({ tags: { [managedTag]: "" } })
    await bed.registerNode()
    const namespace = bed.namespace()
    const suffix = Fixtures.uniqueName("p")
    for (const [name, annotations] of Object.entries({
      stays: { "nth.aws/do-not-evict": "true" },
      long: { "nth.aws/drain-grace-period-seconds": "600" }
    })) {
      await Fixtures.createBarePod(bed.clients, namespace, {
        name: `${name}-${suffix}`,
        nodeName: node.name,
        annotations,
        terminateAfter: "2s"
      })
    }
    await Fixtures.waitFor("the pods running", async () =>
      (await livePods(node.name)).filter((p) => p.status?.phase === "Running").length === 2 ? true : undefined
    )
    const queue = await freshQueue()
    const app = await startApp(queue, {
      ENABLE_POD_DRAIN_ANNOTATIONS: "true",
      EMIT_KUBERNETES_EVENTS: "true"
    })
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(node.instanceId)])
    // The pod's deletion as the API server recorded it: a Spot warning leaves two minutes.
    const grace = await Fixtures.waitFor("the long pod's deletion", async () => {
      const pod = (await livePodsAll(node.name)).find((p) => p.metadata?.name === `long-${suffix}`)
      return pod?.metadata?.deletionGracePeriodSeconds
    })
    expect(grace).toBeGreaterThan(60)
    expect(grace).toBeLessThanOrEqual(115)
    await Programs.waitForLog(app, "node drained")
    expect(await stillThere(node.name, `stays-${suffix}`)).toBe(true)
    // Left alone, and said so: a log line and an Event on the pod.
    expect(app.logs.some((line) => line.includes("pod skipped") && line.includes(`stays-${suffix}`))).toBe(
      true
    )
    const skipped = await Fixtures.waitFor("the PodSkipped Event", async () =>
      (
        await bed.clients.core.listNamespacedEvent({
          namespace,
          fieldSelector: `involvedObject.name=stays-${suffix}`
        })
      ).items.find((e) => e.reason === "PodSkipped")
    )
    expect(skipped.message).toContain("nth.aws/do-not-evict")
    await emptied(queue)
    expect(await app.stop()).toBe(0)
  }, 90_000)
})

/** Every pod on the node, those being deleted too. */
const livePodsAll = async (node: string) =>
  (await bed.clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items

describe("queue mode: the TerminationHandling node condition (ENABLE_NODE_CONDITION)", () => {
  it("follows an ASG termination to the completed lifecycle action: Cordoned, Draining, Drained, Acknowledged", async () => {
    const group = Fixtures.uniqueName("nth-asg-cond")
    const node = await bed.registerNode({ tags: { [managedTag]: "" }, autoScalingGroup: { name: group } })
    await bed.registerNode()
    const namespace = bed.namespace()
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: Fixtures.uniqueName("app"),
      replicas: 1,
      preferNode: node.name,
      terminationGracePeriodSeconds: 1
    })
    await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 1)
    const queue = await freshQueue()
    const app = await startApp(queue, { ENABLE_NODE_CONDITION: "true" })
    const seen: Array<string> = []
    let done = false
    const watching = (async () => {
      while (!done) {
        const reason = (await readNode(node.name)).status?.conditions?.find(
          (c) => c.type === "TerminationHandling"
        )?.reason
        if (reason !== undefined && seen.at(-1) !== reason) seen.push(reason)
        await sleep(50)
      }
    })()
    const action = await Fixtures.fireLifecycleHook(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      instanceId: node.instanceId
    })
    await drained(node.name)
    expect((await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken)).result).toBe(
      "CONTINUE"
    )
    const condition = await Fixtures.waitFor("the condition Acknowledged", async () => {
      const found = (await readNode(node.name)).status?.conditions?.find(
        (c) => c.type === "TerminationHandling"
      )
      return found?.reason === "Acknowledged" ? found : undefined
    })
    done = true
    await watching
    expect(condition.status).toBe("True")
    expect(condition.message).toMatch(/^ASGLifecycle: .*\(the lifecycle action is completed\)$/)
    const order = ["Cordoned", "Draining", "Drained", "Acknowledged"]
    expect(seen.every((reason) => order.includes(reason))).toBe(true)
    expect([...seen].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(seen)
    await emptied(queue)
    expect(await app.stop()).toBe(0)
  }, 90_000)
})
