/**
 * The budget tracker against an API server in memory: when a refused eviction is retried, and how its watch comes
 * back after errors.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeBudgetTracker } from "../src/internal/budgets.ts"
import { httpError, makeBudget, makeFakeKube, makePod } from "./fakeKube.ts"

const pod = makePod("guarded", { labels: { app: "guarded" } })

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = Date.now()
    yield* effect
    return Date.now() - started
  })

const untilSeen = (sequence: () => number, past: number) =>
  Effect.gen(function* () {
    while (sequence() <= past) yield* Effect.sleep("10 millis")
  })

describe("budget tracker", () => {
  it.live("retries at once when an event newer than the refused eviction shows room", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({ budgets: [makeBudget("guarded", 0)] })
      const tracker = yield* makeBudgetTracker(fake.client, { fallback: "10 seconds" })
      // The eviction is sent and refused; meanwhile the budget's status changes.
      const sentAt = tracker.sequence()
      fake.updateBudget(makeBudget("guarded", 1))
      yield* untilSeen(tracker.sequence, sentAt)
      expect(yield* elapsed(tracker.awaitChance(pod, "guarded", sentAt))).toBeLessThan(500)
    })
  )

  it.live("takes the refusal's word over what it saw before the eviction, until a newer event", () =>
    Effect.gen(function* () {
      // The listed status is stale: it allows one, the API server refused.
      const fake = makeFakeKube({ budgets: [makeBudget("guarded", 1)] })
      const tracker = yield* makeBudgetTracker(fake.client, { fallback: "5 seconds" })
      const sentAt = tracker.sequence()
      setTimeout(() => fake.updateBudget(makeBudget("guarded", 1)), 300)
      // Not at once (the refusal is newer than the listed state), and not after the fallback: on the event.
      const waited = yield* elapsed(tracker.awaitChance(pod, "guarded", sentAt))
      expect(waited).toBeGreaterThanOrEqual(250)
      expect(waited).toBeLessThan(2000)
    })
  )

  it.live(
    "trusts a budget seen only after the eviction was sent (the tracker started with the refusal)",
    () =>
      Effect.gen(function* () {
        const fake = makeFakeKube({ budgets: [makeBudget("guarded", 1)] })
        const tracker = yield* makeBudgetTracker(fake.client, { fallback: "10 seconds" })
        expect(yield* elapsed(tracker.awaitChance(pod, "guarded", undefined))).toBeLessThan(500)
      })
  )

  it.live("backs off its list and watch while they are refused", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({ budgets: [makeBudget("guarded", 0)] })
      fake.setFault((call) =>
        call.kind === "watchBudgets" ? httpError(403, "poddisruptionbudgets is forbidden") : undefined
      )
      yield* makeBudgetTracker(fake.client, { fallback: "10 seconds" })
      yield* Effect.sleep("1500 millis")
      // 0, 250, 750, 1750 ms (±20 %): not every 200 ms.
      expect(fake.callsOf("watchBudgets").length).toBeLessThanOrEqual(4)
      expect(fake.callsOf("listBudgets").length).toBe(fake.callsOf("watchBudgets").length)
    })
  )
})
