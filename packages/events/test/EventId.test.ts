import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { EventId } from "../src/index.ts"
import { instanceId, isoTime } from "./arbitraries.ts"

describe("EventId", () => {
  it("gives the same id for the same Spot notice, a different one for another", () => {
    fc.assert(
      fc.property(isoTime, isoTime, (a, b) => {
        const first = EventId.spotInterruptionFromImds({ action: "terminate", time: a })
        expect(EventId.spotInterruptionFromImds({ action: "terminate", time: a })).toBe(first)
        expect(first).toMatch(/^spot-itn-[0-9a-f]{64}$/)
        if (a !== b)
          expect(EventId.spotInterruptionFromImds({ action: "terminate", time: b })).not.toBe(first)
      })
    )
  })

  it("hashes the Go handler's rendering of the notice, so ids match after a migration", () => {
    // sha256 of the text `&{terminate 2026-11-25T10:02:00Z}` (computed with sha256sum), which is how the Go
    // handler renders the parsed notice before hashing it.
    expect(EventId.spotInterruptionFromImds({ action: "terminate", time: "2026-11-25T10:02:00Z" })).toBe(
      "spot-itn-fb723c00c5c6c82cc84513f2227b9df6c25a99c5242671846970a806ab7ad5e1"
    )
  })

  it("gives a target lifecycle state one id per instance, stable across polls", () => {
    fc.assert(
      fc.property(instanceId, (id) => {
        expect(EventId.targetLifecycleTerminatedFromImds(id)).toBe(
          EventId.targetLifecycleTerminatedFromImds(id)
        )
      })
    )
  })

  it("hex-encodes queue message ids behind the Go handler's prefixes", () => {
    expect(EventId.fromQueueMessage("spotInterruption", "ab")).toBe("spot-itn-event-6162")
    expect(EventId.fromQueueMessage("asgLifecycle", "ab")).toBe("asg-lifecycle-term-6162")
  })

  it("gives each instance of one AWS Health event its own id", () => {
    const a = EventId.fromQueueMessage("healthScheduledChange", "e1", "i-0123456789abcdef0")
    const b = EventId.fromQueueMessage("healthScheduledChange", "e1", "i-0123456789abcdef1")
    expect(a).not.toBe(b)
  })

  it("cuts ids to valid label values", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (id) => {
        expect(EventId.toLabelValue(id)).toMatch(/^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/)
      })
    )
  })
})
