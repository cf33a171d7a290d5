/**
 * The handler's own rules, with stand-ins for the cluster: how an event is settled whatever ends its handling,
 * when a cancellation undoes nth's work, and how start-up recovery retries. (Handler.test.ts runs the same
 * handler against the test bed.)
 */
import { describe, expect, it } from "@effect/vitest"
import type { V1Node } from "@kubernetes/client-node"
import { Drainer } from "@nth/drainer"
import { InterruptionEvent } from "@nth/events"
import { KubeClient } from "@nth/kube"
import { NodePlan, NodeRecord, TaintManager } from "@nth/taint-manager"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Handler, Metrics, Settings, Step } from "../src/index.ts"

const nodeName = "node-1"

const settingsFor = (env: Record<string, string> = {}) => {
  const parsed = Settings.parse({ NODE_NAME: nodeName, ...env })
  if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
  return parsed.settings
}

const decode = (encoded: Record<string, unknown>) => {
  const result = InterruptionEvent.decode(encoded)
  if (result._tag === "Failure") throw new Error(result.failure.message)
  return result.success
}

const spotNotice = decode({
  kind: "SpotInterruptionNotice",
  id: "spot-itn-1",
  monitor: "SPOT_ITN_MONITOR",
  instanceId: "i-0123456789abcdef0",
  nodeName,
  startTime: "2026-11-25T10:02:00Z",
  description: "Spot ITN received",
  action: "terminate"
})

const scheduled = (id: string, state: "active" | "canceled") =>
  decode({
    kind: "ScheduledMaintenance",
    id,
    monitor: "SCHEDULED_EVENT_MONITOR",
    instanceId: "i-0123456789abcdef0",
    nodeName,
    startTime: "2026-11-25T10:00:00Z",
    description: "system-reboot scheduled",
    scheduledEventId: id,
    code: "system-reboot",
    state,
    notBefore: "2026-11-26T10:00:00Z"
  })

const recordOf = (...eventIds: Array<string>): NodeRecord.NodeRecord => ({
  version: 1,
  events: eventIds.map((id) => ({ id })),
  unschedulableBefore: false,
  cordoned: { byNth: true },
  taints: [],
  drain: { startedAt: new Date(0), finishedAt: new Date(1) }
})

/** What the stand-ins were asked to do. */
interface Calls {
  readonly taints: Array<string>
  drains: number
}

const notFound = () => new TaintManager.NodeNotFound({ nodeName, message: "no such node (stand-in)" })
const conflict = () =>
  new TaintManager.NodeConflict({
    nodeName,
    operation: "patch",
    attempts: 5,
    message: "kept changing (stand-in)"
  })

/**
 * A handler over stand-ins: `taints` overrides the taint manager's methods (the others succeed and do nothing),
 * `drain` the drainer's drain (default: an empty report).
 */
const makeHandler = (options: {
  readonly settings?: Settings.Settings
  readonly taints?: Partial<
    Record<keyof TaintManager.Service, (input: never) => Effect.Effect<unknown, unknown>>
  >
  readonly drain?: Effect.Effect<unknown, unknown>
  readonly steps?: Handler.Options["steps"]
  readonly coordination?: Handler.Options["coordination"]
  readonly notify?: Handler.Options["notify"]
  /** The node the stand-in's `apply` computes writes on. */
  readonly node?: V1Node
}) =>
  Effect.gen(function* () {
    const calls: Calls = { taints: [], drains: 0 }
    const taints = new Proxy({} as TaintManager.Service, {
      get: (_target, name: string) => (input: never) => {
        // Several writes sent as one are recorded by the steps they make ("taint, cordon").
        const apply = input as { readonly operation: string; readonly compute: NodePlan.Compute<unknown> }
        calls.taints.push(name === "apply" ? apply.operation : name)
        const override = options.taints?.[name as keyof TaintManager.Service]
        if (override) return override(input)
        if (name === "apply") {
          return Effect.succeed({
            ...apply.compute(
              options.node ?? { metadata: { name: nodeName, resourceVersion: "1" } },
              new Date(0)
            ),
            dryRun: false,
            attempts: 1
          })
        }
        return Effect.succeed({
          result: { record: undefined, source: undefined },
          dryRun: false,
          attempts: 1
        })
      }
    })
    const drainer = {
      drain: () =>
        Effect.suspend(() => {
          calls.drains += 1
          return (options.drain ?? Effect.succeed({ pods: [], apiRequests: 0 })) as Effect.Effect<never>
        }),
      cordon: () => Effect.die("unused"),
      uncordon: () => Effect.die("unused")
    }
    const metrics = Metrics.make()
    const handlerOptions = Settings.toHandlerOptions(options.settings ?? settingsFor())
    const handler = yield* Handler.make(
      {
        ...handlerOptions,
        ...(options.steps === undefined ? {} : { steps: options.steps }),
        ...(options.coordination === undefined ? {} : { coordination: options.coordination }),
        ...(options.notify === undefined ? {} : { notify: options.notify })
      },
      metrics
    ).pipe(
      Effect.provide(
        Layer.mergeAll(
          Layer.succeed(TaintManager.TaintManager, taints),
          Layer.succeed(Drainer.Drainer, drainer as unknown as Drainer.Drainer["Service"]),
          Layer.succeed(KubeClient.KubeClient, {} as KubeClient.Service)
        )
      )
    )
    return { handler, calls, metrics }
  })

describe("Handler, settling every event", () => {
  it.effect("a defect fails the event, which is tried again after the retry delay", () =>
    Effect.gen(function* () {
      let drains = 0
      const { handler } = yield* makeHandler({
        drain: Effect.suspend(() => {
          drains += 1
          return drains === 1 ? Effect.die(new Error("boom")) : Effect.succeed({ pods: [], apiRequests: 0 })
        })
      })
      const first = yield* handler.handle(spotNotice)
      expect(first).toMatchObject({ _tag: "Failed", error: "boom" })
      expect(handler.store.stateOf(spotNotice)).toBe("Failed")
      expect(yield* handler.handle(spotNotice)).toMatchObject({ _tag: "Failed", retryable: true })
      yield* TestClock.adjust("5 seconds")
      expect((yield* handler.handle(spotNotice))._tag).toBe("Drained")
      expect(handler.store.stateOf(spotNotice)).toBe("Done")
    })
  )

  it.effect("an interrupted event is not handed out again by this process", () =>
    Effect.gen(function* () {
      const { handler, calls } = yield* makeHandler({ drain: Effect.never })
      const fiber = yield* Effect.forkChild(handler.handle(spotNotice))
      yield* Effect.yieldNow
      while (calls.drains === 0) yield* Effect.yieldNow
      expect(handler.store.stateOf(spotNotice)).toBe("InProgress")
      yield* Fiber.interrupt(fiber)
      expect(handler.store.stateOf(spotNotice)).toBe("Interrupted")
      yield* TestClock.adjust("1 minute")
      expect((yield* handler.handle(spotNotice))._tag).toBe("InProgress")
      expect(calls.drains).toBe(1)
    })
  )
})

describe("Handler, undoing a cancelled scheduled event", () => {
  const cases = [
    {
      name: "undoes when the node's record holds only the cancelled event",
      record: recordOf("instance-event-1"),
      outcome: "Uncordoned",
      cleared: true
    },
    {
      name: "leaves the node alone when its record holds another event (a Spot drain before a restart)",
      record: recordOf("spot-itn-1"),
      outcome: "Ignored",
      cleared: false
    },
    {
      name: "leaves the node alone when its record holds another event besides the cancelled one",
      record: recordOf("instance-event-1", "spot-itn-1"),
      outcome: "Ignored",
      cleared: false
    },
    {
      name: "does nothing, and reports nothing, for an event nth never acted on",
      record: undefined,
      outcome: "Ignored",
      cleared: false
    }
  ] as const

  for (const { name, record, outcome, cleared } of cases) {
    it.effect(name, () =>
      Effect.gen(function* () {
        const { handler, calls, metrics } = yield* makeHandler({
          taints: {
            readRecord: () =>
              Effect.succeed({ record, source: record === undefined ? undefined : "annotation" }),
            clear: () =>
              Effect.succeed({
                result: { eventIds: [], removedTaints: [], removedLabels: [], cordon: "Uncordoned" },
                dryRun: false,
                attempts: 1
              })
          }
        })
        expect((yield* handler.handle(scheduled("instance-event-1", "canceled")))._tag).toBe(outcome)
        expect(calls.taints.includes("clear")).toBe(cleared)
        expect(metrics.render().includes('node_action="uncordon"')).toBe(cleared)
      })
    )
  }

  it.effect("a failed uncordon is counted as an error", () =>
    Effect.gen(function* () {
      const { handler, metrics } = yield* makeHandler({
        taints: { readRecord: () => Effect.fail(conflict()) }
      })
      const outcome = yield* handler.handle(scheduled("instance-event-1", "canceled"))
      expect(outcome).toMatchObject({ _tag: "Failed", step: "read the node's record", retryable: true })
      expect(metrics.render()).toContain('actions_total{node_action="uncordon",node_status="error"} 1')
    })
  )
})

describe("Handler, pre-drain task", () => {
  it.effect("is counted, and a failed one stops the event before the cordon", () =>
    Effect.gen(function* () {
      const ok = yield* makeHandler({ settings: settingsFor({ TAINT_NODE: "true" }) })
      expect((yield* ok.handler.handle(spotNotice))._tag).toBe("Drained")
      expect(ok.metrics.render()).toContain('actions_total{node_action="pre-drain",node_status="success"} 1')

      const failing = yield* makeHandler({
        settings: settingsFor({ TAINT_NODE: "true" }),
        taints: { apply: () => Effect.fail(conflict()) }
      })
      // The taint, the cordon and the drain's start are one write: refused whole, and reported as the pre-drain
      // task's failure (the first of them).
      expect(yield* failing.handler.handle(spotNotice)).toMatchObject({
        _tag: "Failed",
        step: "taint, cordon, record drain started"
      })
      expect(failing.calls.taints).toEqual(["taint, cordon, record drain started"])
      // The write held the cordon too: reported as a failed cordon and drain as well.
      const text = failing.metrics.render()
      expect(text).toContain('actions_total{node_action="pre-drain",node_status="error"} 1')
      expect(text).toContain('actions_total{node_action="cordon-and-drain",node_status="error"} 1')
    })
  )
})

describe("Handler, coordinated (queue replicas)", () => {
  const queueMode = {
    ENABLE_SQS_TERMINATION_DRAINING: "true",
    QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q"
  }

  it.effect("an event whose node another handler holds reports nothing, not even a pre-drain task", () =>
    Effect.gen(function* () {
      const held: V1Node = {
        metadata: {
          name: nodeName,
          resourceVersion: "1",
          annotations: {
            [NodeRecord.recordAnnotation]: NodeRecord.encode({
              version: 1,
              events: [],
              unschedulableBefore: false,
              taints: [],
              claim: { holder: "b", until: new Date(60_000) }
            })
          }
        }
      }
      const { handler, calls, metrics } = yield* makeHandler({
        settings: settingsFor(queueMode),
        coordination: { holder: "a" },
        node: held
      })
      expect(yield* handler.handle(spotNotice)).toEqual({
        _tag: "InProgress",
        heldBy: "b",
        heldUntil: new Date(60_000)
      })
      expect(calls.taints).toEqual(["claim the node, cordon, record drain started"])
      expect(calls.drains).toBe(0)
      expect(metrics.render()).not.toContain('node_action="pre-drain"')
    })
  )

  it.effect(
    "a program's own first step that is not a node write runs after the claim, which is written alone",
    () =>
      Effect.gen(function* () {
        // What the node's writes were when the first step ran.
        const seenByFirst: Array<ReadonlyArray<string>> = []
        let writes: ReadonlyArray<string> = []
        const { handler, calls } = yield* makeHandler({
          settings: settingsFor(queueMode),
          coordination: { holder: "a" },
          steps: (defaults): ReadonlyArray<Step.Step> => [
            {
              name: "first",
              phase: "pre-drain",
              run: () => Effect.sync(() => seenByFirst.push([...writes]))
            },
            ...defaults
          ]
        })
        writes = calls.taints
        expect((yield* handler.handle(spotNotice))._tag).toBe("Drained")
        // (`claim` is the renewal, built when the claim is taken, sent only a third of the lease later.)
        expect(seenByFirst.map((seen) => seen.filter((name) => name !== "claim"))).toEqual([
          ["claim the node"]
        ])
        expect(calls.taints.filter((name) => name !== "claim")).toEqual([
          "claim the node",
          "cordon, record drain started",
          "record drained, give up the claim"
        ])
      })
  )
})

describe("Handler, outcomes", () => {
  it.effect("done: a drain, with the acknowledgement the event calls for", () =>
    Effect.gen(function* () {
      const { handler } = yield* makeHandler({})
      expect(yield* handler.handle(spotNotice)).toMatchObject({ _tag: "Drained", acknowledgement: "None" })
      expect(Handler.isDone(yield* handler.handle(scheduled("instance-event-9", "active")))).toBe(true)
    })
  )

  it.effect("done: a cordon, in cordon-only mode", () =>
    Effect.gen(function* () {
      const { handler, calls } = yield* makeHandler({ settings: settingsFor({ CORDON_ONLY: "true" }) })
      expect(yield* handler.handle(spotNotice)).toMatchObject({ _tag: "Cordoned", acknowledgement: "None" })
      expect(calls.drains).toBe(0)
    })
  )

  it.effect("already in progress, then already done", () =>
    Effect.gen(function* () {
      const { handler, calls } = yield* makeHandler({
        drain: Effect.sleep("10 seconds").pipe(Effect.as({ pods: [], apiRequests: 0 }))
      })
      const first = yield* Effect.forkChild(handler.handle(spotNotice))
      while (calls.drains === 0) yield* Effect.yieldNow
      expect((yield* handler.handle(spotNotice))._tag).toBe("InProgress")
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(first))._tag).toBe("Drained")
      expect((yield* handler.handle(spotNotice))._tag).toBe("AlreadyDone")
      expect(calls.drains).toBe(1)
    })
  )

  it.effect("node not found: the node is not in the cluster", () =>
    Effect.gen(function* () {
      const { handler } = yield* makeHandler({ taints: { apply: () => Effect.fail(notFound()) } })
      expect(yield* handler.handle(spotNotice)).toEqual({ _tag: "NodeNotFound", nodeName })
    })
  )

  it.effect("a redelivery in the retry delay hears the same: node not found, or ignored with why", () =>
    Effect.gen(function* () {
      const missing = yield* makeHandler({ taints: { apply: () => Effect.fail(notFound()) } })
      expect((yield* missing.handler.handle(spotNotice))._tag).toBe("NodeNotFound")
      expect(yield* missing.handler.handle(spotNotice)).toEqual({ _tag: "NodeNotFound", nodeName })
      const off = yield* makeHandler({
        settings: settingsFor({ ENABLE_SPOT_INTERRUPTION_DRAINING: "false" })
      })
      const first = yield* off.handler.handle(spotNotice)
      expect(first._tag).toBe("Ignored")
      expect(yield* off.handler.handle(spotNotice)).toEqual(first)
    })
  )

  it.effect("ignored, with why", () =>
    Effect.gen(function* () {
      const { handler } = yield* makeHandler({
        settings: settingsFor({ ENABLE_SPOT_INTERRUPTION_DRAINING: "false" })
      })
      const outcome = yield* handler.handle(spotNotice)
      expect(outcome._tag).toBe("Ignored")
      if (outcome._tag === "Ignored") expect(outcome.reason).not.toBe("")
    })
  )

  it.effect("failed, retryable or not", () =>
    Effect.gen(function* () {
      const retryable = yield* makeHandler({
        drain: Effect.fail(
          new Drainer.DrainTimeout({ node: nodeName, message: "timed out", pods: [], report: {} })
        )
      })
      expect(yield* retryable.handler.handle(spotNotice)).toMatchObject({
        _tag: "Failed",
        step: "drain",
        retryable: true
      })
      const refused = yield* makeHandler({
        drain: Effect.fail(
          new Drainer.DrainRefused({ node: nodeName, message: "refused", refusals: [], report: {} })
        )
      })
      expect(yield* refused.handler.handle(spotNotice)).toMatchObject({
        _tag: "Failed",
        step: "drain",
        retryable: false
      })
    })
  )

  it.effect("an event without a node is refused", () =>
    Effect.gen(function* () {
      const { handler, calls } = yield* makeHandler({})
      const { nodeName: _node, ...withoutNode } = spotNotice
      expect(yield* handler.handle(withoutNode)).toMatchObject({ _tag: "Failed", retryable: false })
      expect(calls.taints).toEqual([])
      expect(calls.drains).toBe(0)
    })
  )
})

describe("Handler, telling of what it did (webhooks)", () => {
  const told = () => {
    const acted: Array<Handler.Acted> = []
    return { acted, notify: (a: Handler.Acted) => Effect.sync(() => void acted.push(a)) }
  }
  const podReport = (name: string) => ({ name, namespace: "default", uid: name, outcome: "Gone" })

  it.effect("once per event, with the drain's pods, also when a redelivery comes", () =>
    Effect.gen(function* () {
      const { acted, notify } = told()
      const { handler } = yield* makeHandler({
        notify,
        drain: Effect.succeed({ pods: [podReport("web-1"), podReport("web-2")], apiRequests: 3 })
      })
      yield* handler.handle(spotNotice)
      yield* handler.handle(spotNotice)
      expect(acted).toEqual([{ event: spotNotice, nodeName, succeeded: true, pods: ["web-1", "web-2"] }])
    })
  )

  it.effect("a cordon, without pods (the notifier lists them)", () =>
    Effect.gen(function* () {
      const { acted, notify } = told()
      const { handler } = yield* makeHandler({ notify, settings: settingsFor({ CORDON_ONLY: "true" }) })
      yield* handler.handle(spotNotice)
      expect(acted).toEqual([{ event: spotNotice, nodeName, succeeded: true, pods: undefined }])
    })
  )

  it.effect("a failure once, not again when the event is tried again", () =>
    Effect.gen(function* () {
      const { acted, notify } = told()
      const { handler } = yield* makeHandler({
        notify,
        drain: Effect.fail(
          new Drainer.DrainTimeout({ node: nodeName, message: "timed out", pods: [], report: {} })
        )
      })
      expect((yield* handler.handle(spotNotice))._tag).toBe("Failed")
      yield* TestClock.adjust("10 seconds")
      expect((yield* handler.handle(spotNotice))._tag).toBe("Failed")
      expect(acted.map((a) => a.succeeded)).toEqual([false])
    })
  )

  it.effect(
    "nothing for a node not in the cluster, an ignored event or a cancellation nth did nothing for",
    () =>
      Effect.gen(function* () {
        const { acted, notify } = told()
        const missing = yield* makeHandler({ notify, taints: { apply: () => Effect.fail(notFound()) } })
        expect((yield* missing.handler.handle(spotNotice))._tag).toBe("NodeNotFound")
        const off = yield* makeHandler({
          notify,
          settings: settingsFor({ ENABLE_SPOT_INTERRUPTION_DRAINING: "false" })
        })
        expect((yield* off.handler.handle(spotNotice))._tag).toBe("Ignored")
        const { handler } = yield* makeHandler({ notify })
        expect((yield* handler.handle(scheduled("instance-event-7", "canceled")))._tag).toBe("Ignored")
        expect(acted).toEqual([])
      })
  )
})

describe("Handler, steps as data", () => {
  it.effect("runs a program's own steps in order, and one alongside the drain until it ends", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      let beats = 0
      const { handler } = yield* makeHandler({
        drain: Effect.sleep("3 seconds").pipe(Effect.as({ pods: [], apiRequests: 0 })),
        steps: (defaults) =>
          Step.insertAfter(
            [
              ...defaults.map(
                (s): Step.Step =>
                  s.run === undefined
                    ? {
                        ...s,
                        write: (c: Step.Context) => (node, now) => {
                          seen.push(s.name)
                          return (s.write?.(c) ?? NodePlan.sequence([]))(node, now)
                        }
                      }
                    : {
                        ...s,
                        run: (c: Step.Context) =>
                          Effect.tap(s.run!(c), () => Effect.sync(() => seen.push(s.name)))
                      }
              ),
              {
                name: "heartbeat",
                phase: "drain",
                alongside: "drain",
                run: () =>
                  Effect.forever(
                    Effect.sync(() => {
                      beats += 1
                    }).pipe(Effect.andThen(Effect.sleep("1 second")))
                  )
              }
            ],
            "record drained",
            {
              name: "acknowledge",
              phase: "acknowledge",
              run: () => Effect.sync(() => seen.push("acknowledge"))
            }
          )
      })
      const fiber = yield* Effect.forkChild(handler.handle(spotNotice))
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber))._tag).toBe("Drained")
      expect(seen).toEqual(["cordon", "record drain started", "drain", "record drained", "acknowledge"])
      const atEnd = beats
      expect(atEnd).toBeGreaterThanOrEqual(3)
      yield* TestClock.adjust("10 seconds")
      expect(beats).toBe(atEnd)
    })
  )
})
