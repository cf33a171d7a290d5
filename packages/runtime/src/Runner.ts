/**
 * Runs the programs' work items (one per event or message) each in its own fiber, at most `workers` at a time,
 * so that the source (IMDS polls, SQS receives) never waits on a drain. When the program stops, work in flight
 * gets `shutdownGrace` to finish; what is still running then is handed over (interrupted, and logged as such):
 * each drain records its start and end on the node, so the next process resumes it.
 *
 * @since 0.2.0
 */
import { Duration, Effect, Fiber, type Scope, Semaphore } from "effect"

/**
 * @category models
 * @since 0.2.0
 */
export interface Runner {
  /**
   * Starts `work` at once in a fiber of its own and returns; it waits there for a free worker. The work's failures
   * and defects are its own to handle: they are logged and dropped here.
   */
  readonly submit: (work: Effect.Effect<unknown, unknown>) => Effect.Effect<void>
  /** Work items started and not finished. */
  readonly inFlight: () => number
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** Work items running at once (`WORKERS`). At least 1. */
  readonly workers: number
  /** How long a stop waits for work in flight. Default 25 seconds (the pod's grace period is 30 by default). */
  readonly shutdownGrace?: Duration.Input
}

/**
 * A runner that lives as long as its scope; closing the scope is the graceful stop described above.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make = (options: Options): Effect.Effect<Runner, never, Scope.Scope> =>
  Effect.gen(function* () {
    const workers = yield* Semaphore.make(Math.max(1, Math.floor(options.workers)))
    const grace = Duration.fromInputUnsafe(options.shutdownGrace ?? "25 seconds")
    const running = new Set<Fiber.Fiber<unknown>>()
    const services = yield* Effect.context<never>()

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        if (running.size === 0) return
        yield* Effect.logInfo(`stopping: waiting for ${running.size} event(s) in progress`)
        const finished = yield* Fiber.joinAll([...running]).pipe(
          Effect.timeoutOption(grace),
          Effect.map((joined) => joined._tag === "Some"),
          Effect.orElseSucceed(() => true)
        )
        if (finished) return
        yield* Effect.logWarning(
          `stopping with ${running.size} event(s) still in progress after ${Duration.format(grace)}: handed over to the next start, which resumes them from the node's record`
        )
        yield* Fiber.interruptAll([...running])
      })
    )

    const submit: Runner["submit"] = (work) =>
      Effect.sync(() => {
        // Detached from the caller: a stop interrupts the source, not the work, which the finalizer waits for.
        const fiber = Effect.runForkWith(services)(
          workers.withPermit(work).pipe(
            Effect.catchCause((cause) => Effect.logError("work failed", cause)),
            Effect.asVoid
          )
        )
        running.add(fiber)
        fiber.addObserver(() => running.delete(fiber))
      })

    return { submit, inFlight: () => running.size }
  })
