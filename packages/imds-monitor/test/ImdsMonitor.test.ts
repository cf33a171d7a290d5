import { describe, expect, it } from "@effect/vitest"
import { EventId, type InterruptionEvent } from "@nth/events"
import { ImdsMock } from "@nth/imds-mock"
import { Clock, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { ImdsClient, ImdsMonitor } from "../src/index.ts"
import {
  collectFor,
  count,
  instanceId,
  lifecyclePath,
  nodeName,
  rebalancePath,
  scheduledPath,
  setup,
  spotPath,
  startMs,
  take
} from "./support.ts"

const fast = { nodeName, pollInterval: "50 millis" } as const

const events = (
  signals: ReadonlyArray<ImdsMonitor.MonitorSignal>
): Array<InterruptionEvent.InterruptionEvent> =>
  signals.flatMap((signal) => (signal._tag === "Notice" ? [signal.event] : []))

const failures = (signals: ReadonlyArray<ImdsMonitor.MonitorSignal>): Array<ImdsMonitor.PollFailed> =>
  signals.flatMap((signal) => (signal._tag === "PollFailed" ? [signal] : []))

describe("spotInterruption", () => {
  it.effect("emits the notice, with the Go handler's id and text", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.setSpotInterruption({ action: "terminate", time: "2026-11-25T10:02:00Z" })
      const [signal] = yield* take(ImdsMonitor.spotInterruption(fast), client, 1)
      expect(signal).toEqual({
        _tag: "Notice",
        event: {
          kind: "SpotInterruptionNotice",
          id: EventId.spotInterruptionFromImds({ action: "terminate", time: "2026-11-25T10:02:00Z" }),
          monitor: "SPOT_ITN_MONITOR",
          instanceId,
          nodeName,
          startTime: new Date("2026-11-25T10:02:00Z"),
          description: "Spot ITN received. Instance will be interrupted at 2026-11-25T10:02:00Z",
          action: "terminate"
        }
      })
    })
  )

  it.live("emits the same notice, with the same id, on every poll", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.setSpotInterruption({ action: "hibernate" })
      const received = events(yield* take(ImdsMonitor.spotInterruption(fast), client, 3))
      expect(received).toHaveLength(3)
      expect(new Set(received.map((event) => event.id)).size).toBe(1)
      expect(received[0]).toMatchObject({ kind: "SpotInterruptionNotice", action: "hibernate" })
      expect(count(mock, "GET", spotPath)).toBe(3)
    })
  )

  it.live("emits nothing while IMDS answers 404", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      const signals = yield* collectFor(ImdsMonitor.spotInterruption(fast), client, 180)
      expect(signals).toEqual([])
      expect(count(mock, "GET", spotPath)).toBeGreaterThanOrEqual(3)
    })
  )

  it.live("turns a garbled body into a PollFailed, and the next poll recovers", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.setSpotInterruption({ action: "stop" })
      mock.injectFault({ mode: "garbage", pathPrefix: spotPath, count: 1 })
      const [first, second] = yield* take(ImdsMonitor.spotInterruption(fast), client, 2)
      expect(first?._tag).toBe("PollFailed")
      if (first?._tag === "PollFailed") {
        expect(first.monitor).toBe("SPOT_ITN_MONITOR")
        expect(first.error.reason).toBe("MalformedResponse")
        expect(first.error.path).toBe(spotPath)
      }
      expect(second?._tag).toBe("Notice")
    })
  )

  it.live("turns a failed read into a PollFailed and keeps polling", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tries: 1 })
      mock.injectFault({ mode: "forbidden", pathPrefix: spotPath, count: 2 })
      mock.setSpotInterruption({ action: "terminate" })
      const signals = yield* take(ImdsMonitor.spotInterruption(fast), client, 3)
      expect(signals.map((signal) => signal._tag)).toEqual(["PollFailed", "PollFailed", "Notice"])
      expect(failures(signals)[0]?.error.reason).toBe("Forbidden")
    })
  )

  it.live("reads the instance id from IMDS when it is not given", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({ instanceId: "i-0fedcba9876543210" })
      // Nothing is read for the identity while there is no notice.
      yield* collectFor(ImdsMonitor.spotInterruption(fast), client, 80)
      expect(count(mock, "GET", "/latest/dynamic/instance-identity/document")).toBe(0)
      mock.setSpotInterruption({ action: "terminate" })
      const [signal] = yield* take(ImdsMonitor.spotInterruption(fast), client, 1)
      expect(signal?._tag === "Notice" && signal.event.instanceId).toBe("i-0fedcba9876543210")
    })
  )

  it.live("uses the instance id it is given", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.setSpotInterruption({ action: "terminate" })
      const [signal] = yield* take(
        ImdsMonitor.spotInterruption({ ...fast, instanceId: "i-0aaaaaaaaaaaaaaaa" }),
        client,
        1
      )
      expect(signal?._tag === "Notice" && signal.event.instanceId).toBe("i-0aaaaaaaaaaaaaaaa")
      expect(count(mock, "GET", "/latest/dynamic/instance-identity/document")).toBe(0)
    })
  )
})

describe("scheduledEvents", () => {
  it.effect("emits each listed event, starting now and ending at NotAfter", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      yield* TestClock.setTime(startMs)
      const eventId = mock.addScheduledEvent({
        code: "instance-retirement",
        description: "The instance is running on degraded hardware",
        notBefore: "2026-11-28T09:00:00Z",
        notAfter: "2026-11-28T11:00:00Z"
      })
      const [signal] = yield* take(ImdsMonitor.scheduledEvents(fast), client, 1)
      expect(signal).toEqual({
        _tag: "Notice",
        event: {
          kind: "ScheduledMaintenance",
          id: EventId.scheduledMaintenanceFromImds(eventId),
          monitor: "SCHEDULED_EVENT_MONITOR",
          instanceId,
          nodeName,
          startTime: new Date(startMs),
          endTime: new Date("2026-11-28T11:00:00Z"),
          description:
            "instance-retirement will occur between 28 Nov 2026 09:00:00 GMT and 28 Nov 2026 11:00:00 GMT because The instance is running on degraded hardware",
          scheduledEventId: eventId,
          code: "instance-retirement",
          state: "active",
          notBefore: new Date("2026-11-28T09:00:00Z"),
          notAfter: new Date("2026-11-28T11:00:00Z")
        }
      })
    })
  )

  it.effect("without NotAfter, the window ends at NotBefore", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.addScheduledEvent({ code: "system-reboot", notBefore: "2026-11-28T09:00:00Z" })
      const [signal] = yield* take(ImdsMonitor.scheduledEvents(fast), client, 1)
      expect(signal?._tag === "Notice" && signal.event.endTime).toEqual(new Date("2026-11-28T09:00:00Z"))
    })
  )

  it.live("emits a canceled event with its state", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      const eventId = mock.addScheduledEvent({ code: "system-reboot" })
      const [active] = events(yield* take(ImdsMonitor.scheduledEvents(fast), client, 1))
      expect(active).toMatchObject({ kind: "ScheduledMaintenance", state: "active", id: eventId })
      mock.setScheduledEventState(eventId, "canceled")
      const [canceled] = events(yield* take(ImdsMonitor.scheduledEvents(fast), client, 1))
      expect(canceled).toMatchObject({ kind: "ScheduledMaintenance", state: "canceled", id: eventId })
      mock.setScheduledEventState(eventId, "completed")
      const [completed] = events(yield* take(ImdsMonitor.scheduledEvents(fast), client, 1))
      expect(completed).toMatchObject({ state: "completed", id: eventId })
    })
  )

  it.live("emits several events from one poll, and nothing for an empty list", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      expect(yield* collectFor(ImdsMonitor.scheduledEvents(fast), client, 120)).toEqual([])
      mock.addScheduledEvent({ code: "system-reboot", eventId: "instance-event-0aaaaaaaaaaaaaaaa" })
      mock.addScheduledEvent({ code: "instance-stop", eventId: "instance-event-0bbbbbbbbbbbbbbbb" })
      const signals = yield* take(ImdsMonitor.scheduledEvents(fast), client, 2)
      expect(events(signals).map((event) => event.id)).toEqual([
        "instance-event-0aaaaaaaaaaaaaaaa",
        "instance-event-0bbbbbbbbbbbbbbbb"
      ])
    })
  )

  it.live("turns a garbled list into a PollFailed, and the next poll recovers", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.addScheduledEvent({ code: "system-maintenance" })
      mock.injectFault({ mode: "garbage", pathPrefix: scheduledPath, count: 1 })
      const [first, second] = yield* take(ImdsMonitor.scheduledEvents(fast), client, 2)
      expect(first?._tag === "PollFailed" && first.error.reason).toBe("MalformedResponse")
      expect(second?._tag === "Notice" && second.event.kind).toBe("ScheduledMaintenance")
    })
  )
})

describe("rebalanceRecommendation", () => {
  it.effect("emits the recommendation at its notice time", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.setRebalanceRecommendation({ noticeTime: "2026-11-25T10:05:00Z" })
      const [signal] = yield* take(ImdsMonitor.rebalanceRecommendation(fast), client, 1)
      expect(signal).toEqual({
        _tag: "Notice",
        event: {
          kind: "RebalanceRecommendation",
          id: EventId.rebalanceRecommendationFromImds("2026-11-25T10:05:00Z"),
          monitor: "REBALANCE_RECOMMENDATION_MONITOR",
          instanceId,
          nodeName,
          startTime: new Date("2026-11-25T10:05:00Z"),
          description: "Rebalance recommendation received. Instance will be cordoned at 2026-11-25T10:05:00Z"
        }
      })
    })
  )

  it.live("emits nothing on 404 and a PollFailed for a garbled body", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      expect(yield* collectFor(ImdsMonitor.rebalanceRecommendation(fast), client, 120)).toEqual([])
      mock.setRebalanceRecommendation()
      mock.injectFault({ mode: "garbage", pathPrefix: rebalancePath, count: 1 })
      const signals = yield* take(ImdsMonitor.rebalanceRecommendation(fast), client, 2)
      expect(signals.map((signal) => signal._tag)).toEqual(["PollFailed", "Notice"])
    })
  )
})

describe("targetLifecycleState", () => {
  it.live("emits only when the state is Terminated", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({ autoScalingGroup: "nodes" })
      // InService: IMDS answers 200, but there is nothing to do.
      expect(yield* collectFor(ImdsMonitor.targetLifecycleState(fast), client, 120)).toEqual([])
      expect(count(mock, "GET", lifecyclePath)).toBeGreaterThanOrEqual(2)
      mock.setTargetLifecycleState("Terminated")
      const [signal] = yield* take(ImdsMonitor.targetLifecycleState(fast), client, 1)
      expect(signal?._tag).toBe("Notice")
      if (signal?._tag !== "Notice") return
      expect(signal.event).toMatchObject({
        kind: "AsgTargetLifecycleState",
        id: EventId.targetLifecycleTerminatedFromImds(instanceId),
        monitor: "ASG_LIFECYCLE_MONITOR",
        instanceId,
        nodeName,
        description: "AST target lifecycle state received. Instance will be terminated",
        targetLifecycleState: "Terminated"
      })
      expect(Math.abs(signal.event.startTime.getTime() - Date.now())).toBeLessThan(10_000)
    })
  )

  it.live("emits nothing outside an Auto Scaling group (404)", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      expect(yield* collectFor(ImdsMonitor.targetLifecycleState(fast), client, 120)).toEqual([])
      expect(log404(mock)).toBe(true)
    })
  )

  it.live("turns a garbled body into a PollFailed", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({ autoScalingGroup: "nodes" })
      mock.setTargetLifecycleState("Terminated")
      mock.injectFault({ mode: "garbage", pathPrefix: lifecyclePath, count: 1 })
      const signals = yield* take(ImdsMonitor.targetLifecycleState(fast), client, 2)
      expect(signals.map((signal) => signal._tag)).toEqual(["PollFailed", "Notice"])
    })
  )
})

const log404 = (mock: ImdsMock.ImdsMock): boolean =>
  mock.requests().some((request) => request.path === lifecyclePath && request.status === 404)

describe("all", () => {
  const polled = (mock: ImdsMock.ImdsMock) =>
    [spotPath, scheduledPath, rebalancePath, lifecyclePath].filter((path) => count(mock, "GET", path) > 0)

  it.live("runs Spot and scheduled events by default", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({ autoScalingGroup: "nodes" })
      yield* collectFor(ImdsMonitor.all(fast), client, 120)
      expect(polled(mock)).toEqual([spotPath, scheduledPath])
    })
  )

  it.live("adds rebalance with either rebalance switch, and the ASG state when asked", () =>
    Effect.gen(function* () {
      const monitoring = yield* setup()
      yield* collectFor(ImdsMonitor.all({ ...fast, enableRebalanceMonitoring: true }), monitoring.client, 120)
      expect(polled(monitoring.mock)).toEqual([spotPath, scheduledPath, rebalancePath])

      const draining = yield* setup()
      yield* collectFor(
        ImdsMonitor.all({
          ...fast,
          enableSpotInterruptionDraining: false,
          enableScheduledEventDraining: false,
          enableRebalanceDraining: true,
          enableAsgLifecycleDraining: true
        }),
        draining.client,
        120
      )
      expect(polled(draining.mock)).toEqual([rebalancePath, lifecyclePath])
    })
  )

  it.live("polls nothing and never ends with every monitor off", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      const signals = yield* collectFor(
        ImdsMonitor.all({
          ...fast,
          enableSpotInterruptionDraining: false,
          enableScheduledEventDraining: false
        }),
        client,
        100
      )
      expect(signals).toEqual([])
      expect(mock.requests()).toEqual([])
    })
  )

  it.live("merges the notices of every monitor", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({ autoScalingGroup: "nodes" })
      mock.setSpotInterruption({ action: "terminate" })
      mock.addScheduledEvent({ code: "system-reboot" })
      mock.setRebalanceRecommendation()
      mock.setTargetLifecycleState("Terminated")
      const signals = yield* take(
        ImdsMonitor.all({ ...fast, enableRebalanceMonitoring: true, enableAsgLifecycleDraining: true }),
        client,
        4
      )
      expect(new Set(events(signals).map((event) => event.kind))).toEqual(
        new Set([
          "SpotInterruptionNotice",
          "ScheduledMaintenance",
          "RebalanceRecommendation",
          "AsgTargetLifecycleState"
        ])
      )
    })
  )
})

describe("poll interval", () => {
  it.live("polls once per interval", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      // Polls at 0, 100, …, 500 ms: six in 550 ms (with slack for a slow machine).
      yield* collectFor(ImdsMonitor.spotInterruption({ nodeName, pollInterval: "100 millis" }), client, 550)
      const polls = count(mock, "GET", spotPath)
      expect(polls).toBeGreaterThanOrEqual(4)
      expect(polls).toBeLessThanOrEqual(7)
    })
  )

  it.effect("keeps to a fixed grid however long a poll takes", () =>
    Effect.gen(function* () {
      // A client whose every read takes 30 ms of (test) time: polls still start every 100 ms, not every 130.
      const starts: Array<number> = []
      const slow = ImdsClient.ImdsClient.of({
        get: () =>
          Effect.gen(function* () {
            starts.push(yield* Clock.currentTimeMillis)
            yield* Effect.sleep("30 millis")
            return undefined
          }),
        identity: Effect.die("unused"),
        endpoint: "http://unused",
        requestCount: () => 0,
        health: () => ({ ready: true })
      })
      const fiber = yield* ImdsMonitor.spotInterruption({ nodeName, pollInterval: "100 millis" }).pipe(
        Stream.runDrain,
        Effect.provideService(ImdsClient.ImdsClient, slow),
        Effect.forkChild
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      expect(starts).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
    })
  )

  it.effect("after a poll that overruns, polls once at once and then back on the grid", () =>
    Effect.gen(function* () {
      const starts: Array<number> = []
      let calls = 0
      const slow = ImdsClient.ImdsClient.of({
        get: () =>
          Effect.gen(function* () {
            starts.push(yield* Clock.currentTimeMillis)
            calls += 1
            // The second poll hangs for 250 ms: slots 200 and 300 are missed.
            if (calls === 2) yield* Effect.sleep("250 millis")
            return undefined
          }),
        identity: Effect.die("unused"),
        endpoint: "http://unused",
        requestCount: () => 0,
        health: () => ({ ready: true })
      })
      const fiber = yield* ImdsMonitor.spotInterruption({ nodeName, pollInterval: "100 millis" }).pipe(
        Stream.runDrain,
        Effect.provideService(ImdsClient.ImdsClient, slow),
        Effect.forkChild
      )
      yield* TestClock.adjust("600 millis")
      yield* Fiber.interrupt(fiber)
      expect(starts).toEqual([0, 100, 350, 400, 500, 600])
    })
  )
})

describe("watch (Promise API)", () => {
  it("calls back for each notice until aborted", async () => {
    const mock = await ImdsMock.start({ instanceId })
    try {
      mock.setSpotInterruption({ action: "terminate" })
      const controller = new AbortController()
      const received: Array<InterruptionEvent.InterruptionEvent> = []
      await ImdsMonitor.watch({
        endpoint: mock.url,
        nodeName,
        pollInterval: "50 millis",
        signal: controller.signal,
        onEvent: (event) => {
          received.push(event)
          if (received.length === 2) controller.abort()
        }
      })
      expect(received.map((event) => event.kind)).toEqual([
        "SpotInterruptionNotice",
        "SpotInterruptionNotice"
      ])
    } finally {
      await mock.close()
    }
  })

  it("reports failed polls and rejects when a callback throws", async () => {
    const mock = await ImdsMock.start({ instanceId })
    try {
      mock.injectFault({ mode: "garbage", pathPrefix: spotPath, count: 1 })
      mock.setSpotInterruption({ action: "terminate" })
      const errors: Array<string> = []
      await expect(
        ImdsMonitor.watch({
          endpoint: mock.url,
          nodeName,
          pollInterval: "50 millis",
          enableScheduledEventDraining: false,
          onError: (monitor, error) => {
            errors.push(`${monitor} ${error.reason}`)
          },
          onEvent: () => {
            throw new Error("handler broke")
          }
        })
      ).rejects.toThrow("handler broke")
      expect(errors).toEqual(["SPOT_ITN_MONITOR MalformedResponse"])
    } finally {
      await mock.close()
    }
  })
})
