import { describe, expect, it } from "@effect/vitest"
import { InterruptionEvent } from "@nth/events"
import { EventStore } from "../src/index.ts"

const event = (overrides: Record<string, unknown> = {}) => {
  const result = InterruptionEvent.decode({
    kind: "ScheduledMaintenance",
    id: "instance-event-1",
    monitor: "SCHEDULED_EVENT_MONITOR",
    instanceId: "i-0123456789abcdef0",
    nodeName: "node-1",
    startTime: "2026-11-25T10:00:00Z",
    description: "reboot",
    scheduledEventId: "instance-event-1",
    code: "system-reboot",
    state: "active",
    notBefore: "2026-11-26T10:00:00Z",
    ...overrides
  })
  if (result._tag === "Failure") throw new Error(result.failure.message)
  return result.success
}

describe("EventStore", () => {
  it("hands an event out once, however often it is offered", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    expect(store.offer(event(), 0)).toBe("new")
    expect(store.offer(event(), 1)).toBe("seen")
    store.settle(event(), "Done", 2)
    expect(store.offer(event(), 3)).toBe("seen")
  })

  it("hands a failed event out again after the retry delay", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    store.offer(event(), 0)
    store.settle(event(), "Failed", 10)
    expect(store.offer(event(), 500)).toBe("seen")
    expect(store.offer(event(), 1010)).toBe("new")
    // The received-events metric counts the event once, not once per retry.
    expect(store.attemptsOf(event())).toBe(2)
  })

  it("never hands out again an event whose handling was interrupted, and counts it as holding the node", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    store.offer(event(), 0)
    store.settle(event(), "Interrupted", 10)
    expect(store.offer(event(), 60_000)).toBe("seen")
    expect(store.activeFor("node-1", "instance-event-2")).toBe(true)
  })

  it("treats a cancellation as its own event, once", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    store.offer(event(), 0)
    expect(store.offer(event({ state: "canceled" }), 1)).toBe("new")
    expect(store.offer(event({ state: "canceled" }), 2)).toBe("seen")
  })

  it("never hands out ignored events, but still their cancellation", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    store.ignore("instance-event-1")
    expect(store.offer(event(), 0)).toBe("seen")
    expect(store.offer(event({ state: "completed" }), 0)).toBe("new")
  })

  it("knows whether another event holds the node", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    store.offer(event(), 0)
    store.offer(event({ id: "instance-event-2", scheduledEventId: "instance-event-2" }), 0)
    expect(store.activeFor("node-1", "instance-event-1")).toBe(true)
    expect(store.activeFor("node-1", "instance-event-2")).toBe(true)
    store.settle(event({ id: "instance-event-2", scheduledEventId: "instance-event-2" }), "Failed", 1)
    expect(store.activeFor("node-1", "instance-event-1")).toBe(false)
  })

  it("leaves out the kinds it is told to (a rebalance lift looks for any other event)", () => {
    const store = EventStore.make({ retryFailedAfterMs: 1000 })
    store.offer(event(), 0)
    expect(store.activeFor("node-1", undefined, { exceptKinds: ["ScheduledMaintenance"] })).toBe(false)
    expect(store.activeFor("node-1", undefined, { exceptKinds: ["SpotInterruptionNotice"] })).toBe(true)
    store.settle(event(), "Failed", 1)
    expect(store.activeFor("node-1")).toBe(false)
    expect(store.activeFor("node-1", undefined, { anyState: true })).toBe(true)
  })
})
