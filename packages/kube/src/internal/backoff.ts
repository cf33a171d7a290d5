/**
 * How a long-running watch comes back after an error: again and again, waiting longer after each failure in a
 * row (so a lasting error, a 403 say, costs a request every half minute, not ten a second), and at once again
 * after a session that worked.
 */
import { Duration, Effect, Schedule } from "effect"

/**
 * 250 ms, doubling, capped at 30 s (client-go's reflector and client-node's informer stop there too), each
 * delay scaled by a random factor in [0.8, 1.2] so that many watchers do not reconnect in step.
 */
const maximumDelay = Duration.seconds(30)

export const defaultBackoff: Schedule.Schedule<unknown> = Schedule.exponential("250 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maximumDelay))),
  Schedule.jittered
)

/**
 * Runs `session` until interrupted. A session reports progress (an event received, say) through the function
 * it is given; one that ends or fails without progress waits the backoff's next delay, one that made some
 * starts the backoff over and runs again at once. `onFailure` sees every error, with the number of failures
 * in a row.
 */
export const keepRunning = <E, R>(
  session: (progressed: () => void) => Effect.Effect<void, E, R>,
  options: {
    readonly backoff?: Schedule.Schedule<unknown> | undefined
    readonly onFailure?: (error: E, failuresInARow: number) => void
  } = {}
): Effect.Effect<never, never, R> =>
  Effect.gen(function* () {
    const backoff = options.backoff ?? defaultBackoff
    let step = yield* Schedule.toStepWithSleep(backoff)
    let failuresInARow = 0
    for (;;) {
      let progress = false
      const result = yield* Effect.result(
        session(() => {
          progress = true
        })
      )
      if (progress) {
        failuresInARow = 0
        step = yield* Schedule.toStepWithSleep(backoff)
      }
      if (result._tag === "Failure") {
        failuresInARow += 1
        options.onFailure?.(result.failure, failuresInARow)
      }
      // A backoff that ends (a caller's `Schedule.recurs`, say) must not turn into a busy loop: past its end the
      // session is retried at the cap.
      if (!progress) yield* step(undefined).pipe(Effect.catch(() => Effect.sleep(maximumDelay)))
    }
  })
