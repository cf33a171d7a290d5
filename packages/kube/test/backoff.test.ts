import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { defaultBackoff, keepRunning } from "../src/internal/backoff.ts"

describe("keepRunning", () => {
  it.effect(
    "waits longer after each failure in a row, and starts over after a session that made progress",
    () =>
      Effect.gen(function* () {
        const attempts: Array<number> = []
        const failuresInARow: Array<number> = []
        const fiber = yield* keepRunning(
          (progressed) =>
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              attempts.push(now)
              // The fifth session gets an event before failing, as a watch that worked for a while would.
              if (attempts.length === 5) progressed()
              return yield* Effect.fail("refused")
            }),
          {
            backoff: Schedule.exponential("100 millis"),
            onFailure: (_error, inARow) => failuresInARow.push(inARow)
          }
        ).pipe(Effect.forkChild)
        for (let i = 0; i < 40; i++) yield* TestClock.adjust("50 millis")
        yield* Fiber.interrupt(fiber)
        // 100, 200, 400, 800 ms apart; then at once after the session with progress; then 100, 200, … again.
        expect(attempts.slice(0, 8)).toEqual([0, 100, 300, 700, 1500, 1500, 1600, 1800])
        expect(failuresInARow.slice(0, 8)).toEqual([1, 2, 3, 4, 1, 2, 3, 4])
      })
  )

  it.effect("also backs off after sessions that end at once without progress", () =>
    Effect.gen(function* () {
      let sessions = 0
      const fiber = yield* keepRunning(
        () =>
          Effect.sync(() => {
            sessions += 1
          }),
        { backoff: Schedule.exponential("100 millis") }
      ).pipe(Effect.forkChild)
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(fiber)
      // 0, 100, 300, 700 ms: a server that closes every watch at once is not hammered.
      expect(sessions).toBe(4)
    })
  )
})

describe("defaultBackoff", () => {
  it.effect("grows from 250 ms, doubling, jittered, capped at 30 s", () =>
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(defaultBackoff)
      const delays: Array<number> = []
      for (let i = 0; i < 12; i++) {
        const [, delay] = yield* step(0, undefined)
        delays.push(Duration.toMillis(delay))
      }
      delays.forEach((delay, i) => {
        const nominal = Math.min(250 * 2 ** i, 30_000)
        expect(delay).toBeGreaterThanOrEqual(nominal * 0.8)
        expect(delay).toBeLessThanOrEqual(nominal * 1.2)
      })
    })
  )
})
