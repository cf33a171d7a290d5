/**
 * The IMDS program's own start-up recovery and monitor-failure reports, over the real handler with stand-ins for
 * the cluster (the end-to-end tests run them against the test bed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Drainer } from "@nth/drainer"
import { InterruptionEvent } from "@nth/events"
import { Handler, Metrics, Settings } from "@nth/handler"
import { KubeClient } from "@nth/kube"
import { TaintManager } from "@nth/taint-manager"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as OwnNode from "../src/OwnNode.ts"

const nodeName = "node-1"

const scheduled = (() => {
  const result = InterruptionEvent.decode({
    kind: "ScheduledMaintenance",
    id: "instance-event-1",
    monitor: "SCHEDULED_EVENT_MONITOR",
    instanceId: "i-0123456789abcdef0",
    nodeName,
    startTime: "2026-11-25T10:00:00Z",
    description: "system-reboot scheduled",
    scheduledEventId: "instance-event-1",
    code: "system-reboot",
    state: "active",
    notBefore: "2026-11-26T10:00:00Z"
  })
  if (result._tag === "Failure") throw new Error(result.failure.message)
  return result.success
})()

const notFound = () => new TaintManager.NodeNotFound({ nodeName, message: "no such node (stand-in)" })

/** The handler and stand-ins for the taint manager (`taints` overrides its methods; the others do nothing). */
const setUp = (
  taints: Partial<Record<keyof TaintManager.Service, (input: never) => Effect.Effect<unknown, unknown>>> = {}
) => {
  const calls: Array<string> = []
  const manager = new Proxy({} as TaintManager.Service, {
    get: (_target, name: string) => (input: never) => {
      calls.push(name)
      const override = taints[name as keyof TaintManager.Service]
      if (override) return override(input)
      return Effect.succeed({ result: { record: undefined, source: undefined }, dryRun: false, attempts: 1 })
    }
  })
  const parsed = Settings.parse({ NODE_NAME: nodeName })
  if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
  const metrics = Metrics.make()
  const layer = Handler.layer(Settings.toHandlerOptions(parsed.settings), metrics).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.succeed(TaintManager.TaintManager, manager),
        Layer.succeed(Drainer.Drainer, {} as Drainer.Drainer["Service"]),
        Layer.succeed(KubeClient.KubeClient, {} as KubeClient.Service)
      )
    )
  )
  return { calls, metrics, layer }
}

const recover = (uptimeSeconds: number | undefined) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(
      OwnNode.recover({
        nodeName,
        uptimeSeconds: () => uptimeSeconds,
        enableScheduledEventDraining: true,
        dryRun: false
      })
    )
    for (let second = 0; second < 10; second++) yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
  })

describe("start-up recovery", () => {
  it.effect("tries again every 2 s, and takes the result of the try that works", () => {
    let tries = 0
    const { metrics, layer } = setUp({
      uncordonAfterReboot: () =>
        Effect.suspend(() => {
          tries += 1
          return tries < 3
            ? Effect.fail(notFound())
            : Effect.succeed({ result: { _tag: "Rebooted", eventId: "instance-event-1", cleared: {} } })
        })
    })
    return Effect.gen(function* () {
      yield* recover(100)
      expect(tries).toBe(3)
      const handler = yield* Handler.Handler
      expect(handler.store.offer(scheduled, 0)).toBe("seen")
      expect(metrics.render()).not.toMatch(/nth_startup_recovery_failures_total \d/)
    }).pipe(Effect.provide(layer))
  })

  // The IMDS chaos test found it: a program killed between its cordon for a reboot and the end of the drain left
  // the pods on the node until the reboot, its successor having put the event on the ignore list.
  it.effect.each([
    { drain: "cut short by a restart", finishedAt: undefined, offered: "new" },
    { drain: "finished", finishedAt: "2026-11-25T10:00:30.000Z", offered: "seen" },
    // An older drain (for an earlier event, the node uncordoned since) does not finish this one.
    { drain: "not started, an older one finished", finishedAt: "2026-11-25T09:00:30.000Z", offered: "new" }
  ])(
    "before the reboot, a scheduled event whose drain was $drain is offered as $offered",
    ({ finishedAt, offered }) => {
      const record = {
        version: 1,
        events: [
          { id: "instance-event-1", kind: "ScheduledMaintenance", at: new Date("2026-11-25T10:00:00.000Z") }
        ],
        unschedulableBefore: false,
        taints: [],
        drain: {
          startedAt: new Date(
            finishedAt === undefined ? "2026-11-25T10:00:00.000Z" : "2026-11-25T09:00:00.000Z"
          ),
          ...(finishedAt === undefined ? {} : { finishedAt: new Date(finishedAt) })
        }
      }
      const { layer } = setUp({
        uncordonAfterReboot: () =>
          Effect.succeed({ result: { _tag: "NotRebooted", eventId: "instance-event-1" } }),
        readRecord: () => Effect.succeed({ record, source: "annotation" })
      })
      return Effect.gen(function* () {
        yield* recover(100)
        const handler = yield* Handler.Handler
        expect(handler.store.offer(scheduled, 0)).toBe(offered)
      }).pipe(Effect.provide(layer))
    }
  )

  it.effect("gives up after 4 tries with a warning and a metric", () => {
    const { calls, metrics, layer } = setUp({ readRecord: () => Effect.fail(notFound()) })
    return Effect.gen(function* () {
      yield* recover(100)
      expect(calls.filter((name) => name === "readRecord")).toHaveLength(4)
      expect(metrics.render()).toContain("nth_startup_recovery_failures_total 1")
    }).pipe(Effect.provide(layer))
  })

  it.effect("never checks for a reboot with an unknown uptime", () => {
    const { calls, layer } = setUp()
    return Effect.gen(function* () {
      yield* recover(undefined)
      expect(calls).not.toContain("uncordonAfterReboot")
      expect(calls).toContain("readRecord")
    }).pipe(Effect.provide(layer))
  })
})

describe("monitor failures", () => {
  it.effect("are counted where they happened", () => {
    const { metrics, layer } = setUp()
    return Effect.gen(function* () {
      yield* OwnNode.reportMonitorFailure(nodeName, "SPOT_ITN_MONITOR", { message: "IMDS answered 500" })
      yield* OwnNode.reportMonitorFailure(nodeName, "SPOT_ITN_MONITOR", { message: "IMDS answered 500" })
      expect(metrics.render()).toContain('events_error_total{event_error_where="SPOT_ITN_MONITOR"} 2')
    }).pipe(Effect.provide(layer))
  })
})

describe("start-up recovery in the background", () => {
  it.effect(
    "reads the uptime again at each try: a node that has not rebooted is not taken for one that has",
    () => {
      const uptimes: Array<number> = []
      let tries = 0
      let uptime = 100
      const { layer } = setUp({
        uncordonAfterReboot: (options: never) =>
          Effect.suspend(() => {
            tries += 1
            uptimes.push((options as { uptimeSeconds: number }).uptimeSeconds)
            return tries < 3
              ? Effect.fail(notFound())
              : Effect.succeed({ result: { _tag: "NotRebooted", eventId: "instance-event-1" } })
          })
      })
      return Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(
          OwnNode.recoverInBackground(
            {
              nodeName,
              uptimeSeconds: () => {
                uptime += 60
                return uptime
              },
              enableScheduledEventDraining: true,
              dryRun: false
            },
            () => {}
          )
        )
        for (let second = 0; second < 30; second++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        expect(tries).toBe(3)
        expect(uptimes).toEqual([160, 220, 280])
      }).pipe(Effect.provide(layer))
    }
  )
})
