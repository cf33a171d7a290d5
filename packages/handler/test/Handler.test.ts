/**
 * The handler against the test bed's real API server and controllers, with the real drainer and taint manager.
 */
import { describe, expect, it } from "@effect/vitest"
import { Drainer } from "@nth/drainer"
import { InterruptionEvent } from "@nth/events"
import { KubeClient, type KubeError } from "@nth/kube"
import { NodePlan, NodeRecord, TaintManager } from "@nth/taint-manager"
import { Fixtures, useTestBed } from "@nth/testbed"
import { Effect, Fiber, Layer } from "effect"
import { Handler, Metrics, Settings } from "../src/index.ts"

const bed = useTestBed()

const settingsFor = (nodeName: string, env: Record<string, string> = {}) => {
  const parsed = Settings.parse({ NODE_NAME: nodeName, ...env })
  if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
  return parsed.settings
}

/** The kube client, counting the eviction requests it sends per pod name. */
const countingEvictions = (evictions: Map<string, number>) =>
  Layer.effect(
    KubeClient.KubeClient,
    Effect.gen(function* () {
      const kube = yield* KubeClient.make({ kubeConfig: bed.clients.kubeConfig })
      return KubeClient.KubeClient.of({
        ...kube,
        core: {
          ...kube.core,
          createNamespacedPodEviction: (params, options) => {
            evictions.set(params.name, (evictions.get(params.name) ?? 0) + 1)
            return kube.core.createNamespacedPodEviction(params, options)
          }
        }
      })
    })
  )

const withHandler = <A, E>(
  settings: Settings.Settings,
  f: (handler: Handler.Service) => Effect.Effect<A, E>,
  kube: Layer.Layer<KubeClient.KubeClient, KubeError.KubeConfigError> = KubeClient.layer({
    kubeConfig: bed.clients.kubeConfig
  })
) => {
  const metrics = Metrics.make()
  const layer = Handler.layer(Settings.toHandlerOptions(settings), metrics).pipe(
    Layer.provide(Layer.mergeAll(TaintManager.layer({ dryRun: settings.dryRun }), Drainer.layer)),
    Layer.provideMerge(kube)
  )
  return Effect.runPromise(
    Effect.gen(function* () {
      return yield* f(yield* Handler.Handler)
    }).pipe(Effect.provide(layer))
  )
}

/** {@link withHandler} with the handler's options given whole. */
const withHandlerOptions = <A, E>(
  options: Handler.Options,
  f: (handler: Handler.Service) => Effect.Effect<A, E>,
  kube: Layer.Layer<KubeClient.KubeClient, KubeError.KubeConfigError>
) =>
  Effect.runPromise(
    Effect.gen(function* () {
      return yield* f(yield* Handler.Handler)
    }).pipe(
      Effect.provide(
        Handler.layer(options, Metrics.make()).pipe(
          Layer.provide(Layer.mergeAll(TaintManager.layer({}), Drainer.layer)),
          Layer.provideMerge(kube)
        )
      )
    )
  )

const event = (encoded: Record<string, unknown>) => {
  const result = InterruptionEvent.decode(encoded)
  if (result._tag === "Failure") throw new Error(result.failure.message)
  return result.success
}

const spotNotice = (node: Fixtures.FakeNode, secondsLeft = 120) =>
  event({
    kind: "SpotInterruptionNotice",
    id: `spot-itn-${node.instanceId}`,
    monitor: "SPOT_ITN_MONITOR",
    instanceId: node.instanceId,
    nodeName: node.name,
    startTime: new Date(Date.now() + secondsLeft * 1000).toISOString(),
    description: "Spot ITN received",
    action: "terminate"
  })

const scheduled = (node: Fixtures.FakeNode, state: "active" | "canceled") =>
  event({
    kind: "ScheduledMaintenance",
    id: `instance-event-${node.instanceId.slice(2)}`,
    monitor: "SCHEDULED_EVENT_MONITOR",
    instanceId: node.instanceId,
    nodeName: node.name,
    startTime: new Date().toISOString(),
    description: "system-reboot scheduled",
    scheduledEventId: `instance-event-${node.instanceId.slice(2)}`,
    code: "system-reboot",
    state,
    notBefore: new Date(Date.now() + 3600_000).toISOString()
  })

const nodeWithPods = (replicas = 2) => bed.nodeWithDeployment({ replicas })

const podsOn = async (node: string) =>
  (await bed.clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items

/** The Events recorded on a Node (the Go handler's reasons are asserted on these). */
const nodeEvents = async (nodeName: string) =>
  (
    await bed.clients.core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: `involvedObject.name=${nodeName}`
    })
  ).items

describe("Handler", () => {
  it("taints, cordons and drains on a Spot notice, once", async () => {
    const { node } = await nodeWithPods()
    const settings = settingsFor(node.name, { TAINT_NODE: "true", EMIT_KUBERNETES_EVENTS: "true" })
    const [first, second, metricsText] = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        const notice = spotNotice(node)
        const first = yield* handler.handle(notice)
        const second = yield* handler.handle(notice)
        return [first, second, handler.metrics.render()] as const
      })
    )
    expect(first._tag).toBe("Drained")
    expect(second._tag).toBe("AlreadyDone")
    const after = await bed.clients.core.readNode({ name: node.name })
    expect(after.spec?.unschedulable).toBe(true)
    expect(after.spec?.taints?.map((t) => t.key)).toContain("aws-node-termination-handler/spot-itn")
    expect((await podsOn(node.name)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(0)
    expect(metricsText).toContain('actions_total{node_action="cordon-and-drain",node_status="success"} 1')
    expect(metricsText).toMatch(/nth_event_to_drained_seconds_count\{kind="SpotInterruptionNotice"\} 1/)
    const events = await nodeEvents(node.name)
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(["SpotInterruption", "CordonAndDrain"])
    )
    // The Go handler's pre-drain task (the taint) is reported and counted; each evicted pod gets its Event.
    expect(events.find((e) => e.reason === "PreDrain")?.message).toBe("Pre-drain task successfully executed")
    expect(metricsText).toContain('actions_total{node_action="pre-drain",node_status="success"} 1')
    const evictions = (
      await bed.clients.core.listNamespacedEvent({ namespace: bed.namespace() })
    ).items.filter(
      (e) => e.reason === "PodEviction" && e.message === `Pod evicted due to node drain (node ${node.name})`
    )
    expect(evictions).toHaveLength(2)
    expect(evictions.map((e) => e.involvedObject.kind)).toEqual(["Pod", "Pod"])
    // As the Go handler's: the node, and every label of the pod (a Deployment's: app, pod-template-hash).
    for (const eviction of evictions) {
      const annotations = eviction.metadata?.annotations ?? {}
      expect(annotations.node).toBe(node.name)
      expect(annotations.app).toEqual(expect.any(String))
      expect(annotations["pod-template-hash"]).toMatch(/^[a-z0-9]+$/)
    }
  })

  it("only cordons with CORDON_ONLY", async () => {
    const { node } = await nodeWithPods(1)
    const outcome = await withHandler(settingsFor(node.name, { CORDON_ONLY: "true" }), (handler) =>
      handler.handle(spotNotice(node))
    )
    expect(outcome._tag).toBe("Cordoned")
    expect((await bed.clients.core.readNode({ name: node.name })).spec?.unschedulable).toBe(true)
    expect((await podsOn(node.name)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(1)
  })

  it("changes nothing in dry-run mode", async () => {
    const { node } = await nodeWithPods(1)
    const outcome = await withHandler(
      settingsFor(node.name, { DRY_RUN: "true", TAINT_NODE: "true" }),
      (handler) => handler.handle(spotNotice(node))
    )
    expect(outcome._tag).toBe("Drained")
    const after = await bed.clients.core.readNode({ name: node.name })
    expect(after.spec?.unschedulable).toBeFalsy()
    expect(after.spec?.taints ?? []).toHaveLength(0)
    expect((await podsOn(node.name)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(1)
  })

  it("undoes its work when a scheduled event is cancelled, but never an operator's cordon", async () => {
    const { node } = await nodeWithPods(1)
    const settings = settingsFor(node.name, { TAINT_NODE: "true" })
    await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        expect((yield* handler.handle(scheduled(node, "active")))._tag).toBe("Drained")
        expect((yield* handler.handle(scheduled(node, "canceled")))._tag).toBe("Uncordoned")
        expect((yield* handler.handle(scheduled(node, "canceled")))._tag).toBe("AlreadyDone")
      })
    )
    const after = await bed.clients.core.readNode({ name: node.name })
    expect(after.spec?.unschedulable).toBeFalsy()
    expect(after.spec?.taints ?? []).toHaveLength(0)

    const operators = await bed.registerNode()
    await Fixtures.setUnschedulable(bed.clients, operators.name, true)
    await withHandler(settingsFor(operators.name, { TAINT_NODE: "true" }), (handler) =>
      Effect.gen(function* () {
        yield* handler.handle(scheduled(operators, "active"))
        yield* handler.handle(scheduled(operators, "canceled"))
      })
    )
    expect((await bed.clients.core.readNode({ name: operators.name })).spec?.unschedulable).toBe(true)
  })

  it("after a restart, leaves a node drained for another event alone when an old cancellation shows up", async () => {
    const { node } = await nodeWithPods(1)
    const settings = settingsFor(node.name, { TAINT_NODE: "true", EMIT_KUBERNETES_EVENTS: "true" })
    expect((await withHandler(settings, (handler) => handler.handle(spotNotice(node))))._tag).toBe("Drained")
    // A new process: the Spot drain is known only from the node's record.
    const { outcome, metricsText } = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        const outcome = yield* handler.handle(scheduled(node, "canceled"))
        return { outcome, metricsText: handler.metrics.render() }
      })
    )
    expect(outcome._tag).toBe("Ignored")
    const after = await bed.clients.core.readNode({ name: node.name })
    expect(after.spec?.unschedulable).toBe(true)
    expect(after.spec?.taints?.map((t) => t.key)).toContain("aws-node-termination-handler/spot-itn")
    expect(metricsText).not.toContain('node_action="uncordon"')
    expect((await nodeEvents(node.name)).map((e) => e.reason)).not.toContain("Uncordon")
  })

  it("does not report an uncordon for a cancelled event it never acted on", async () => {
    const node = await bed.registerNode()
    const settings = settingsFor(node.name, { EMIT_KUBERNETES_EVENTS: "true" })
    const { outcome, metricsText } = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        const outcome = yield* handler.handle(scheduled(node, "canceled"))
        return { outcome, metricsText: handler.metrics.render() }
      })
    )
    expect(outcome._tag).toBe("Ignored")
    expect(metricsText).not.toContain('node_action="uncordon"')
    expect((await nodeEvents(node.name)).map((e) => e.reason)).not.toContain("Uncordon")
  })

  it("reports a failed pre-drain task and a failed uncordon with the Go handler's reasons", async () => {
    const ghostName = Fixtures.uniqueName("no-such-node")
    const ghost: Fixtures.FakeNode = {
      name: ghostName,
      instanceId: "i-0123456789abcdef0",
      providerId: "",
      zone: "us-east-1a",
      instanceType: "m5.large",
      privateDnsName: ghostName,
      autoScalingGroupName: undefined
    }
    const settings = settingsFor(ghostName, { TAINT_NODE: "true", EMIT_KUBERNETES_EVENTS: "true" })
    const { preDrain, uncordon, metricsText } = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        const preDrain = yield* handler.handle(spotNotice(ghost))
        const uncordon = yield* handler.handle(scheduled(ghost, "canceled"))
        return { preDrain, uncordon, metricsText: handler.metrics.render() }
      })
    )
    expect(preDrain).toEqual({ _tag: "NodeNotFound", nodeName: ghostName })
    expect(uncordon).toEqual({ _tag: "NodeNotFound", nodeName: ghostName })
    expect(metricsText).toContain('actions_total{node_action="pre-drain",node_status="error"} 1')
    expect(metricsText).toContain('actions_total{node_action="uncordon",node_status="error"} 1')
    // The node is gone: the write of the taint and the cordon fails once, reported as the pre-drain task's.
    expect(metricsText).not.toContain('node_action="cordon-and-drain"')
    const events = await nodeEvents(ghostName)
    const message = (reason: string) => events.find((e) => e.reason === reason)?.message ?? ""
    expect(message("PreDrainError")).toMatch(/^There was a problem executing the pre-drain task: ./)
    expect(message("UncordonError")).toMatch(/^There was a problem while trying to uncordon the node: ./)
  })

  it("ignores a rebalance recommendation by default, cordons with monitoring, drains with draining", async () => {
    const { node } = await nodeWithPods(1)
    const rebalance = event({
      kind: "RebalanceRecommendation",
      id: `rebalance-recommendation-${node.instanceId}`,
      monitor: "REBALANCE_RECOMMENDATION_MONITOR",
      instanceId: node.instanceId,
      nodeName: node.name,
      startTime: new Date().toISOString(),
      description: "rebalance"
    })
    expect((await withHandler(settingsFor(node.name), (h) => h.handle(rebalance)))._tag).toBe("Ignored")
    expect(
      (
        await withHandler(settingsFor(node.name, { ENABLE_REBALANCE_MONITORING: "true" }), (h) =>
          h.handle(rebalance)
        )
      )._tag
    ).toBe("Cordoned")
    expect(
      (
        await withHandler(settingsFor(node.name, { ENABLE_REBALANCE_DRAINING: "true" }), (h) =>
          h.handle(rebalance)
        )
      )._tag
    ).toBe("Drained")
  })

  it("reports a failure, and tries the event again later", async () => {
    const settings = settingsFor("no-such-node")
    const outcome = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        const ghost = spotNotice({
          name: "no-such-node",
          instanceId: "i-0123456789abcdef0",
          providerId: "",
          zone: "us-east-1a",
          instanceType: "m5.large",
          privateDnsName: "no-such-node",
          autoScalingGroupName: undefined
        })
        const first = yield* handler.handle(ghost)
        const again = yield* handler.handle(ghost)
        return { first, again, metrics: handler.metrics.render() }
      })
    )
    expect(outcome.first).toEqual({ _tag: "NodeNotFound", nodeName: "no-such-node" })
    expect(outcome.again).toEqual({ _tag: "NodeNotFound", nodeName: "no-such-node" })
    expect(outcome.metrics).toContain('actions_total{node_action="cordon-and-drain",node_status="error"} 1')
  })

  // Issue 10 B: a Spot notice and a scheduled reboot served together ran two drains (6 evictions for 4 pods).
  it("two notices for one node at once drain it once", async () => {
    const { node } = await nodeWithPods(4)
    const settings = settingsFor(node.name, { EMIT_KUBERNETES_EVENTS: "true" })
    const evictions = new Map<string, number>()
    const [outcomes, metricsText] = await withHandler(
      settings,
      (handler) =>
        Effect.gen(function* () {
          const outcomes = yield* Effect.all(
            [handler.handle(spotNotice(node)), handler.handle(scheduled(node, "active"))],
            {
              concurrency: "unbounded"
            }
          )
          return [outcomes, handler.metrics.render()] as const
        }),
      countingEvictions(evictions)
    )
    expect(outcomes.map((o) => o._tag)).toEqual(["Drained", "Drained"])
    expect(outcomes.filter((o) => o._tag === "Drained" && o.joined === true)).toHaveLength(1)
    const onNode = [...evictions.keys()]
    expect(onNode.length).toBeGreaterThanOrEqual(1)
    for (const [pod, sent] of evictions) expect(sent, pod).toBe(1)
    expect((await podsOn(node.name)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(0)
    const reasons = (await nodeEvents(node.name)).map((e) => e.reason)
    expect(reasons.filter((r) => r === "CordonAndDrain")).toHaveLength(1)
    expect(metricsText).toContain('actions_total{node_action="cordon-and-drain",node_status="success"} 1')
    // Both events are recorded on the node as served, so a restart knows neither needs a drain.
    const record = await Effect.runPromise(
      Effect.gen(function* () {
        const taints = yield* TaintManager.TaintManager
        return (yield* taints.readRecord({ nodeName: node.name })).record
      }).pipe(
        Effect.provide(
          TaintManager.layer({}).pipe(Layer.provide(KubeClient.layer({ kubeConfig: bed.clients.kubeConfig })))
        )
      )
    )
    expect(record?.events.map((e) => e.kind).sort()).toEqual([
      "ScheduledMaintenance",
      "SpotInterruptionNotice"
    ])
    expect(record?.drain?.finishedAt).toBeDefined()
  })

  // Issue 12: replicas on one queue each received a message for the node; the node's record decides who acts.
  it("two coordinated handlers (queue replicas) given events for one node drain it once", async () => {
    const { node } = await nodeWithPods(4)
    const settings = settingsFor(node.name, {
      EMIT_KUBERNETES_EVENTS: "true",
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q"
    })
    const evictions = new Map<string, number>()
    const kube = countingEvictions(evictions)
    const replica = (holder: string) =>
      Handler.layer(
        { ...Settings.toHandlerOptions(settings), coordination: { holder } },
        Metrics.make()
      ).pipe(Layer.provide(Layer.mergeAll(TaintManager.layer({}), Drainer.layer)), Layer.provide(kube))
    const handlerOf = Effect.gen(function* () {
      return yield* Handler.Handler
    })
    const [a, b] = await Effect.runPromise(
      Effect.all([Effect.provide(handlerOf, replica("a")), Effect.provide(handlerOf, replica("b"))])
    )
    const spot = spotNotice(node)
    const reboot = scheduled(node, "active")
    // The same event reaches both replicas (a redelivery), and a second event reaches the second one.
    const outcomes = await Effect.runPromise(
      Effect.all([a.handle(spot), b.handle(spot), b.handle(reboot)], { concurrency: "unbounded" })
    )
    // Whichever replica wins the claim drains (its second event, if it has both, joins that drain); the other waits.
    const drains = (all: ReadonlyArray<Handler.Outcome>) =>
      all.filter((o) => o._tag === "Drained" && o.joined !== true)
    expect(drains(outcomes)).toHaveLength(1)
    expect(outcomes.filter((o) => o._tag === "InProgress").length).toBeGreaterThanOrEqual(1)
    for (const o of outcomes) if (o._tag === "InProgress") expect(o.heldBy).toEqual(expect.any(String))
    // Asked again once the node is free: whatever is not done yet is served by the drain that ran.
    const again = await Effect.runPromise(Effect.all([a.handle(spot), b.handle(spot), b.handle(reboot)]))
    expect(drains(again)).toHaveLength(0)
    for (const o of again) expect(["AlreadyDone", "Drained"]).toContain(o._tag)
    for (const [pod, sent] of evictions) expect(sent, pod).toBe(1)
    expect(evictions.size).toBeGreaterThanOrEqual(1)
    const reasons = (await nodeEvents(node.name)).map((e) => e.reason)
    expect(reasons.filter((r) => r === "CordonAndDrain")).toHaveLength(1)
    const record = (await bed.clients.core.readNode({ name: node.name })).metadata?.annotations?.[
      "nth.dev/record"
    ]
    expect(JSON.parse(record ?? "{}")).not.toHaveProperty("claim")
  })

  it("a coordinated handler resumes a drain whose holder died once its claim expires, evicting each pod once", async () => {
    const { node } = await nodeWithPods(3)
    const settings = settingsFor(node.name, {
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q"
    })
    const spot = spotNotice(node)
    const tm = TaintManager.layer({}).pipe(
      Layer.provide(KubeClient.layer({ kubeConfig: bed.clients.kubeConfig }))
    )
    // A replica that was killed mid-drain: its claim (2 s left), the cordon and the drain's start are on the node.
    await Effect.runPromise(
      Effect.gen(function* () {
        const taints = yield* TaintManager.TaintManager
        const ref = { id: spot.id, kind: spot.kind }
        yield* taints.claim({ nodeName: node.name, holder: "killed", event: ref, leaseMs: 2_000 })
        yield* taints.cordon({ nodeName: node.name, event: ref })
        yield* taints.recordDrainStarted({ nodeName: node.name, event: ref })
      }).pipe(Effect.provide(tm))
    )
    const evictions = new Map<string, number>()
    const outcomes = await withHandlerOptions(
      { ...Settings.toHandlerOptions(settings), coordination: { holder: "survivor", lease: "10 seconds" } },
      (handler) =>
        Effect.gen(function* () {
          const first = yield* handler.handle(spot)
          yield* Effect.sleep("2500 millis")
          const second = yield* handler.handle(spot)
          return [first, second] as const
        }),
      countingEvictions(evictions)
    )
    expect(outcomes[0]).toMatchObject({ _tag: "InProgress", heldBy: "killed", heldUntil: expect.any(Date) })
    expect(outcomes[1]._tag).toBe("Drained")
    for (const [pod, sent] of evictions) expect(sent, pod).toBe(1)
    expect((await podsOn(node.name)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(0)
  })

  it("a coordinated handler that loses its claim mid-drain stops its work there, and counts it", async () => {
    // A drain that cannot end (the budget allows no eviction) gives the handler time to lose its claim.
    const { node, labels } = await bed.nodeWithDeployment({ replicas: 2, budget: { minAvailable: 2 } })
    await Fixtures.waitForBudget(
      bed.clients,
      bed.namespace(),
      labels.app ?? "",
      (s) => s.currentHealthy === 2
    )
    const settings = settingsFor(node.name, {
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q"
    })
    const spot = spotNotice(node)
    const metrics = Metrics.make()
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const handler = yield* Handler.Handler
        const handling = yield* Effect.forkChild(handler.handle(spot))
        yield* Effect.sleep("1 second")
        // Another replica's claim, as if this one had not renewed in time and the other had taken the node.
        const ref = { id: spot.id, kind: spot.kind }
        const taints = yield* TaintManager.TaintManager
        yield* taints.apply({
          nodeName: node.name,
          operation: "take the claim over",
          compute: NodePlan.sequence([
            (target, now) => NodePlan.releaseClaim(target, { holder: "a" }, now),
            (target, now) => NodePlan.claim(target, { holder: "b", event: ref, leaseMs: 60_000 }, now)
          ])
        })
        return yield* Fiber.join(handling)
      }).pipe(
        Effect.provide(
          Handler.layer(
            { ...Settings.toHandlerOptions(settings), coordination: { holder: "a", lease: "1500 millis" } },
            metrics
          ).pipe(
            Layer.provideMerge(Layer.mergeAll(TaintManager.layer({}), Drainer.layer)),
            Layer.provideMerge(KubeClient.layer({ kubeConfig: bed.clients.kubeConfig }))
          )
        )
      )
    )
    expect(outcome).toEqual({ _tag: "InProgress", heldBy: "b" })
    expect(metrics.render()).toContain("nth_node_claims_lost_total 1")
    const record = NodeRecord.read(await bed.clients.core.readNode({ name: node.name })).record
    expect(record?.claim?.holder).toBe("b")
  })

  it("a coordinated handler does not take an old drain for this event's: tainted before a crash, drained anew", async () => {
    const { node } = await nodeWithPods(2)
    const settings = settingsFor(node.name, {
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q",
      TAINT_NODE: "true"
    })
    const spot = spotNotice(node)
    const tm = TaintManager.layer({}).pipe(
      Layer.provide(KubeClient.layer({ kubeConfig: bed.clients.kubeConfig }))
    )
    // A drain for an earlier event finished; the node was uncordoned since; then this event's taint was written
    // and the replica died before cordoning.
    await Effect.runPromise(
      Effect.gen(function* () {
        const taints = yield* TaintManager.TaintManager
        const earlier = { id: "rebalance-earlier", kind: "RebalanceRecommendation" } as const
        yield* taints.recordDrainStarted({ nodeName: node.name, event: earlier })
        yield* taints.recordDrained({ nodeName: node.name, event: earlier })
        yield* Effect.sleep("20 millis")
        const taint = {
          key: "aws-node-termination-handler/spot-itn",
          value: spot.id.slice(0, 63),
          effect: "NoSchedule" as const
        }
        yield* taints.addTaint({ nodeName: node.name, taint, event: { id: spot.id, kind: spot.kind } })
      }).pipe(Effect.provide(tm))
    )
    const outcome = await withHandlerOptions(
      { ...Settings.toHandlerOptions(settings), coordination: { holder: "replica" } },
      (handler) => handler.handle(spot),
      KubeClient.layer({ kubeConfig: bed.clients.kubeConfig })
    )
    expect(outcome._tag).toBe("Drained")
    expect((await bed.clients.core.readNode({ name: node.name })).spec?.unschedulable).toBe(true)
    expect((await podsOn(node.name)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(0)
  })

  it("a second notice with an earlier deadline moves the drain under way earlier, re-evicting once", async () => {
    const { node } = await bed.nodeWithDeployment({ replicas: 2, terminationGracePeriodSeconds: 60 })
    const settings = settingsFor(node.name)
    const evictions = new Map<string, number>()
    const started = Date.now()
    const outcomes = await withHandler(
      settings,
      (handler) =>
        Effect.gen(function* () {
          const reboot = yield* Effect.forkChild(handler.handle(scheduled(node, "active")))
          // The reboot's drain has evicted the pods with their own 60 s grace when the Spot notice (12 s) comes.
          yield* Effect.sleep("2 seconds")
          const spot = yield* handler.handle(spotNotice(node, 12))
          return [yield* Fiber.join(reboot), spot] as const
        }),
      countingEvictions(evictions)
    )
    expect(outcomes.map((o) => o._tag)).toEqual(["Drained", "Drained"])
    expect(outcomes[1]).toMatchObject({ joined: true })
    expect(Date.now() - started).toBeLessThan(14_000)
    expect(evictions.size).toBeGreaterThan(0)
    // The deliberate re-eviction with the shorter grace, and no other.
    for (const [pod, sent] of evictions) expect(sent, pod).toBe(2)
  })

  // Issue 10 A, through the handler: the false success also wrote finishedAt, so a restart skipped the event.
  it("a drain that budgets block at the deadline is a failure, and the node's record says not finished", async () => {
    const { node, labels } = await bed.nodeWithDeployment({ replicas: 2, budget: { minAvailable: 2 } })
    await Fixtures.waitForBudget(
      bed.clients,
      bed.namespace(),
      labels.app ?? "",
      (s) => s.currentHealthy === 2
    )
    const settings = settingsFor(node.name, { EMIT_KUBERNETES_EVENTS: "true" })
    const [outcome, metricsText] = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        return [yield* handler.handle(spotNotice(node, 9)), handler.metrics.render()] as const
      })
    )
    expect(outcome._tag).toBe("Failed")
    if (outcome._tag === "Failed") expect(outcome.error).toMatch(/refused by PodDisruptionBudget/)
    expect(metricsText).toContain('actions_total{node_action="cordon-and-drain",node_status="error"} 1')
    expect(metricsText).not.toContain('node_action="cordon-and-drain",node_status="success"')
    const reasons = (await nodeEvents(node.name)).map((e) => e.reason)
    expect(reasons).toContain("CordonAndDrainError")
    expect(reasons).not.toContain("CordonAndDrain")
    const after = await bed.clients.core.readNode({ name: node.name })
    const record = JSON.parse(after.metadata?.annotations?.["nth.dev/record"] ?? "{}")
    expect(record.drain?.startedAt).toBeDefined()
    expect(record.drain?.finishedAt).toBeUndefined()
  })

  // Issue 10 C: with IMDS failing on every path each failed poll created its own MonitorError Event (~585 per node
  // in 10 minutes).
  it("every failed poll creating a new Kubernetes Event is over: one aggregated Event, rate limited", async () => {
    const node = await bed.registerNode()
    const settings = settingsFor(node.name, { EMIT_KUBERNETES_EVENTS: "true" })
    const metricsText = await withHandler(settings, (handler) =>
      Effect.gen(function* () {
        for (let poll = 0; poll < 40; poll++) {
          handler.metrics.eventErrors.increment({ event_error_where: "SPOT_ITN_MONITOR" })
          yield* handler.events.emit(
            node.name,
            "Warning",
            "MonitorError",
            "There was a problem monitoring for events in monitor 'SPOT_ITN_MONITOR'"
          )
        }
        // Another reason on the same node is not held back by the MonitorError flood.
        yield* handler.handle(spotNotice(node))
        return handler.metrics.render()
      })
    )
    const events = await nodeEvents(node.name)
    const monitorErrors = events.filter((e) => e.reason === "MonitorError")
    expect(monitorErrors).toHaveLength(1)
    // 25 writes (the burst) carried the count up to 25; the 15 held back are counted in the metrics.
    expect(monitorErrors[0]?.count).toBe(25)
    expect(new Date(monitorErrors[0]?.lastTimestamp ?? 0).getTime()).toBeGreaterThanOrEqual(
      new Date(monitorErrors[0]?.firstTimestamp ?? 0).getTime()
    )
    expect(metricsText).toContain('events_error_total{event_error_where="SPOT_ITN_MONITOR"} 40')
    expect(metricsText).toContain('nth_kubernetes_events_suppressed_total{reason="MonitorError"} 15')
    expect(events.map((e) => e.reason)).toContain("CordonAndDrain")
  })
})
