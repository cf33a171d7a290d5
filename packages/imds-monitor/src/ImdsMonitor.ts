/**
 * The four IMDS pollers of the Go handler, as Effect streams: Spot interruption notices, scheduled events,
 * rebalance recommendations and the ASG target lifecycle state.
 *
 * Each poll emits every notice present at that moment as a `Notice` (the same notice on every poll, with the
 * same id: the handler dedupes), or a `PollFailed` when the read failed or the body made no sense; a failed
 * poll never ends the stream, the next one runs on time. Polls follow a fixed grid from the first one (every
 * `pollInterval`, 2 s by default), so a slow poll does not push the later ones back.
 *
 * @since 0.1.0
 */
import { EventId, InterruptionEvent } from "@nth/events"
import { Clock, Duration, Effect, Exit, Fiber, Option, Result, Schema, Stream } from "effect"
import * as ImdsClient from "./ImdsClient.ts"
import { ImdsError } from "./ImdsError.ts"
import { parseRfc3339, parseScheduledEventTime } from "./internal/time.ts"

// ---------------------------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------------------------

/**
 * A notice read from IMDS, as an event.
 *
 * @category models
 * @since 0.1.0
 */
export interface Notice {
  readonly _tag: "Notice"
  readonly event: InterruptionEvent.InterruptionEvent
}

/**
 * A poll that failed: IMDS could not be read, or answered something that is not a valid notice (reason
 * `MalformedResponse`). The handler counts it, logs it and records a Kubernetes event; polling goes on.
 *
 * @category models
 * @since 0.1.0
 */
export interface PollFailed {
  readonly _tag: "PollFailed"
  readonly monitor: InterruptionEvent.Monitor
  readonly error: ImdsError
}

/**
 * What a monitor emits.
 *
 * @category models
 * @since 0.1.0
 */
export type MonitorSignal = Notice | PollFailed

/**
 * @category constructors
 * @since 0.1.0
 */
export const notice = (event: InterruptionEvent.InterruptionEvent): MonitorSignal => ({
  _tag: "Notice",
  event
})

/**
 * @category constructors
 * @since 0.1.0
 */
export const pollFailed = (monitor: InterruptionEvent.Monitor, error: ImdsError): MonitorSignal => ({
  _tag: "PollFailed",
  monitor,
  error
})

// ---------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The Kubernetes node this process runs on (`NODE_NAME`); every event names it. */
  readonly nodeName: string
  /**
   * The instance's id, if already known (e.g. from {@link ImdsClient.Service.identity} at start-up). Without it
   * the client's identity is read when the first notice arrives, or only `meta-data/instance-id` when the
   * identity cannot be had.
   */
  readonly instanceId?: string | undefined
  /** Time between the starts of two polls. Default 2 seconds, the Go handler's. */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * Which monitors {@link all} runs: the Go handler's switches, with its defaults.
 *
 * @category models
 * @since 0.1.0
 */
export interface AllOptions extends Options {
  /** `ENABLE_SPOT_INTERRUPTION_DRAINING`. Default `true`. */
  readonly enableSpotInterruptionDraining?: boolean | undefined
  /** `ENABLE_SCHEDULED_EVENT_DRAINING`. Default `true`. */
  readonly enableScheduledEventDraining?: boolean | undefined
  /** `ENABLE_REBALANCE_MONITORING`: poll rebalance recommendations (the handler only cordons). Default `false`. */
  readonly enableRebalanceMonitoring?: boolean | undefined
  /** `ENABLE_REBALANCE_DRAINING`: also polls rebalance recommendations. Default `false`. */
  readonly enableRebalanceDraining?: boolean | undefined
  /** `ENABLE_ASG_LIFECYCLE_DRAINING`. Default `false`. */
  readonly enableAsgLifecycleDraining?: boolean | undefined
}

/**
 * The metadata path each monitor polls.
 *
 * @category constants
 * @since 0.1.0
 */
export const paths = {
  spotInterruption: "/latest/meta-data/spot/instance-action",
  scheduledEvents: "/latest/meta-data/events/maintenance/scheduled",
  rebalanceRecommendation: "/latest/meta-data/events/recommendations/rebalance",
  targetLifecycleState: "/latest/meta-data/autoscaling/target-lifecycle-state"
} as const

// ---------------------------------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------------------------------

/** How long a notice waits for the instance id before it goes out without it. */
const instanceIdWait = Duration.seconds(1)

/** What a parser knows besides the body. */
interface PollContext {
  readonly nodeName: string
  /**
   * Read only when there is a notice to build (a 404 poll needs no instance id); `undefined` while IMDS cannot
   * tell it: the notice goes out without it rather than waiting.
   */
  readonly instanceId: Effect.Effect<string | undefined>
  readonly now: Date
}

type Parser = (body: string, context: PollContext) => Effect.Effect<ReadonlyArray<MonitorSignal>, ImdsError>

const malformed = (path: string, message: string) =>
  new ImdsError({ reason: "MalformedResponse", path, message })

/** The common fields of every event, in their encoded form. */
const common = (
  context: PollContext,
  instanceId: string | undefined,
  fields: {
    readonly id: string
    readonly monitor: InterruptionEvent.Monitor
    readonly startTime: Date
    readonly description: string
  }
) => ({
  id: fields.id,
  monitor: fields.monitor,
  ...(instanceId === undefined ? {} : { instanceId }),
  ...(context.nodeName === "" ? {} : { nodeName: context.nodeName }),
  startTime: fields.startTime.toISOString(),
  description: fields.description
})

/** Validates an event against the shared schema: anything it refuses is a malformed answer, not a crash. */
const toEvent = (
  path: string,
  encoded: unknown,
  label = "the notice"
): Effect.Effect<InterruptionEvent.InterruptionEvent, ImdsError> =>
  Effect.fromResult(
    Result.mapError(InterruptionEvent.decode(encoded), (error) =>
      malformed(path, `${label} is not a valid event: ${error.message}`)
    )
  )

const jsonParser =
  <A>(what: string, decode: (input: unknown) => Result.Result<A, Schema.SchemaError>) =>
  (path: string, body: string): Effect.Effect<A, ImdsError> =>
    Effect.fromResult(
      Result.mapError(decode(body), (error) => malformed(path, `the body is not ${what}: ${error.message}`))
    )

/**
 * One monitor's stream: `parse` runs on every 200 answer, a 404 is no notice, and any failure becomes a
 * `PollFailed`.
 */
const monitorStream = (
  client: ImdsClient.Service,
  options: Options,
  monitor: InterruptionEvent.Monitor,
  path: string,
  parse: Parser
): Stream.Stream<MonitorSignal> => {
  // The instance never changes: once its id is known it is kept, and only the id is needed to build an event
  // (read on its own when the rest of the identity cannot be had), so no notice waits on optional metadata. While
  // it cannot be read, a notice goes out without it after at most `instanceIdWait` (the node to act on is this
  // process's own: the id is not needed to act), and the read goes on in the background, tried again at each
  // notice until it succeeds.
  let knownInstanceId = options.instanceId
  let reading: Fiber.Fiber<string | undefined> | undefined
  const readInstanceId = ImdsClient.instanceIdOf(client).pipe(
    Effect.map((id) => (Schema.is(InterruptionEvent.InstanceId)(id) ? id : undefined)),
    Effect.tap((id) =>
      Effect.sync(() => {
        if (id !== undefined) knownInstanceId = id
      })
    ),
    Effect.catch((error) =>
      Effect.as(Effect.logWarning(`instance id unknown, acting without it: ${error.message}`), undefined)
    ),
    Effect.ensuring(
      Effect.sync(() => {
        reading = undefined
      })
    )
  )
  const instanceId: Effect.Effect<string | undefined> = Effect.gen(function* () {
    if (knownInstanceId !== undefined) return knownInstanceId
    reading ??= yield* Effect.forkDetach(readInstanceId)
    const read = yield* Fiber.join(reading).pipe(Effect.timeoutOption(instanceIdWait))
    return Option.getOrUndefined(read)
  })
  const poll = Effect.gen(function* () {
    const body = yield* client.get(path)
    if (body === undefined) return []
    const now = new Date(yield* Clock.currentTimeMillis)
    return yield* parse(body, { nodeName: options.nodeName, instanceId, now })
  }).pipe(Effect.catch((error: ImdsError) => Effect.succeed([pollFailed(monitor, error)])))
  return Stream.flattenIterable(onGrid(Duration.fromInputUnsafe(options.pollInterval ?? "2 seconds"), poll))
}

/**
 * Runs `poll` at the start of the stream and then at every multiple of `interval` after it. A poll that overruns
 * its slot is followed at once by the next one, and the grid resumes after that (missed slots are skipped, not
 * caught up), as Go's `time.Ticker`.
 */
const onGrid = <A, R>(
  interval: Duration.Duration,
  poll: Effect.Effect<A, never, R>
): Stream.Stream<A, never, R> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const period = Math.max(1, Duration.toMillis(interval))
      const start = yield* Clock.currentTimeMillis
      let slot = 0
      const next = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        slot = Math.max(slot, Math.floor((now - start) / period))
        const due = start + slot * period
        slot += 1
        if (due > now) yield* Effect.sleep(due - now)
        return yield* poll
      })
      return Stream.fromEffectRepeat(next)
    })
  )

const withClient = (
  f: (client: ImdsClient.Service) => Stream.Stream<MonitorSignal>
): Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient> =>
  Stream.unwrap(
    Effect.gen(function* () {
      return f(yield* ImdsClient.ImdsClient)
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// Spot interruption
// ---------------------------------------------------------------------------------------------------------------

const decodeSpotNotice = jsonParser(
  "a Spot instance action",
  Schema.decodeUnknownResult(
    Schema.fromJsonString(Schema.Struct({ action: Schema.String, time: Schema.String }))
  )
)

/**
 * Polls `spot/instance-action`: a `SpotInterruptionNotice` starting at the notice's `time`, while EC2 announces
 * the instance's interruption. Any non-empty action drains (`terminate`, `stop`, `hibernate`, or one EC2 adds
 * later, as the Go handler); the time must be RFC 3339.
 *
 * @category monitors
 * @since 0.1.0
 */
export const spotInterruption = (
  options: Options
): Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient> =>
  withClient((client) =>
    monitorStream(client, options, "SPOT_ITN_MONITOR", paths.spotInterruption, (body, context) =>
      Effect.gen(function* () {
        const raw = yield* decodeSpotNotice(paths.spotInterruption, body)
        const time = parseRfc3339(raw.time)
        if (time === undefined) {
          return yield* malformed(
            paths.spotInterruption,
            `the notice time ${JSON.stringify(raw.time)} is not RFC 3339`
          )
        }
        const event = yield* toEvent(paths.spotInterruption, {
          kind: "SpotInterruptionNotice",
          ...common(context, yield* context.instanceId, {
            // The id hashes the texts IMDS sent, as the Go handler's, so a migrated cluster sees the same ids.
            id: EventId.spotInterruptionFromImds(raw),
            monitor: "SPOT_ITN_MONITOR",
            startTime: time,
            description: `Spot ITN received. Instance will be interrupted at ${raw.time}`
          }),
          action: raw.action
        })
        return [notice(event)]
      })
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// Scheduled events
// ---------------------------------------------------------------------------------------------------------------

const decodeScheduledEvents = jsonParser(
  "a list of scheduled events",
  Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Array(Schema.Unknown)))
)

const RawScheduledEvent = Schema.Struct({
  NotBefore: Schema.String,
  Code: Schema.String,
  Description: Schema.optionalKey(Schema.String),
  EventId: Schema.String,
  NotAfter: Schema.optionalKey(Schema.String),
  State: Schema.optionalKey(Schema.String),
  NotBeforeDeadline: Schema.optionalKey(Schema.String)
})
const decodeRawScheduledEvent = Schema.decodeUnknownResult(RawScheduledEvent)

const scheduledEvent = (
  raw: unknown,
  index: number,
  context: PollContext
): Effect.Effect<InterruptionEvent.InterruptionEvent, ImdsError> =>
  Effect.gen(function* () {
    const path = paths.scheduledEvents
    const entry = yield* Effect.fromResult(
      Result.mapError(decodeRawScheduledEvent(raw), (error) =>
        malformed(path, `event ${index}: ${error.message}`)
      )
    )
    const label = `event ${JSON.stringify(entry.EventId)}`
    const notBefore = parseScheduledEventTime(entry.NotBefore)
    if (notBefore === undefined) {
      return yield* malformed(
        path,
        `${label}: NotBefore ${JSON.stringify(entry.NotBefore)} is not a date like "2 Jan 2006 15:04:05 GMT"`
      )
    }
    // As the Go handler: a window without a (readable) end ends when it begins.
    const notAfter = entry.NotAfter === undefined ? undefined : parseScheduledEventTime(entry.NotAfter)
    const notBeforeDeadline =
      entry.NotBeforeDeadline === undefined ? undefined : parseScheduledEventTime(entry.NotBeforeDeadline)
    const state = entry.State === undefined || entry.State === "" ? "active" : entry.State
    return yield* toEvent(
      path,
      {
        kind: "ScheduledMaintenance",
        ...common(context, yield* context.instanceId, {
          id: EventId.scheduledMaintenanceFromImds(entry.EventId),
          monitor: "SCHEDULED_EVENT_MONITOR",
          // Drain at once rather than at NotBefore (Go handler since PR #661): the window may open any moment.
          startTime: context.now,
          description: `${entry.Code} will occur between ${entry.NotBefore} and ${entry.NotAfter ?? entry.NotBefore} because ${entry.Description ?? ""}`
        }),
        endTime: (notAfter ?? notBefore).toISOString(),
        scheduledEventId: entry.EventId,
        code: entry.Code,
        state,
        notBefore: notBefore.toISOString(),
        ...(notAfter === undefined ? {} : { notAfter: notAfter.toISOString() }),
        ...(notBeforeDeadline === undefined ? {} : { notBeforeDeadline: notBeforeDeadline.toISOString() })
      },
      label
    )
  })

/**
 * Polls `events/maintenance/scheduled`: one `ScheduledMaintenance` per listed event, starting now (the handler
 * drains at once) and ending at `NotAfter` (or `NotBefore` when it has none). Canceled and completed events are
 * emitted too, with their state, so the handler can undo what it did. Every code is emitted, known or not (the
 * Go handler drains for any code). An entry that cannot be read (a bad date, an empty code) is a `PollFailed` of
 * its own; the other entries are still emitted.
 *
 * @category monitors
 * @since 0.1.0
 */
export const scheduledEvents = (
  options: Options
): Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient> =>
  withClient((client) =>
    monitorStream(client, options, "SCHEDULED_EVENT_MONITOR", paths.scheduledEvents, (body, context) =>
      Effect.gen(function* () {
        const entries = yield* decodeScheduledEvents(paths.scheduledEvents, body)
        const signals: Array<MonitorSignal> = []
        for (const [index, entry] of entries.entries()) {
          const result = yield* Effect.result(scheduledEvent(entry, index, context))
          signals.push(
            Result.isSuccess(result)
              ? notice(result.success)
              : pollFailed("SCHEDULED_EVENT_MONITOR", result.failure)
          )
        }
        return signals
      })
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// Rebalance recommendation
// ---------------------------------------------------------------------------------------------------------------

const decodeRebalance = jsonParser(
  "a rebalance recommendation",
  Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Struct({ noticeTime: Schema.String })))
)

/**
 * Polls `events/recommendations/rebalance`: a `RebalanceRecommendation` starting at its `noticeTime`.
 *
 * @category monitors
 * @since 0.1.0
 */
export const rebalanceRecommendation = (
  options: Options
): Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient> =>
  withClient((client) =>
    monitorStream(
      client,
      options,
      "REBALANCE_RECOMMENDATION_MONITOR",
      paths.rebalanceRecommendation,
      (body, context) =>
        Effect.gen(function* () {
          const raw = yield* decodeRebalance(paths.rebalanceRecommendation, body)
          const time = parseRfc3339(raw.noticeTime)
          if (time === undefined) {
            return yield* malformed(
              paths.rebalanceRecommendation,
              `the notice time ${JSON.stringify(raw.noticeTime)} is not RFC 3339`
            )
          }
          const event = yield* toEvent(paths.rebalanceRecommendation, {
            kind: "RebalanceRecommendation",
            ...common(context, yield* context.instanceId, {
              id: EventId.rebalanceRecommendationFromImds(raw.noticeTime),
              monitor: "REBALANCE_RECOMMENDATION_MONITOR",
              startTime: time,
              description: `Rebalance recommendation received. Instance will be cordoned at ${raw.noticeTime}`
            })
          })
          return [notice(event)]
        })
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// ASG target lifecycle state
// ---------------------------------------------------------------------------------------------------------------

/**
 * Polls `autoscaling/target-lifecycle-state`: an `AsgTargetLifecycleState` starting now when the state reads
 * exactly `Terminated`; any other state (`InService`, `Standby`, `Warmed:*`, …) is no notice.
 *
 * @category monitors
 * @since 0.1.0
 */
export const targetLifecycleState = (
  options: Options
): Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient> =>
  withClient((client) =>
    monitorStream(client, options, "ASG_LIFECYCLE_MONITOR", paths.targetLifecycleState, (body, context) =>
      Effect.gen(function* () {
        if (body !== "Terminated") return []
        const instanceId = yield* context.instanceId
        const event = yield* toEvent(paths.targetLifecycleState, {
          kind: "AsgTargetLifecycleState",
          ...common(context, instanceId, {
            // Stable per instance (the Go handler hashes the current time into it, a new event every poll); per
            // node while the instance id is unknown.
            id: EventId.targetLifecycleTerminatedFromImds(instanceId ?? `node-${context.nodeName}`),
            monitor: "ASG_LIFECYCLE_MONITOR",
            startTime: context.now,
            // "AST" (sic): the Go handler's text, kept so events read the same.
            description: "AST target lifecycle state received. Instance will be terminated"
          }),
          targetLifecycleState: "Terminated"
        })
        return [notice(event)]
      })
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// All of them
// ---------------------------------------------------------------------------------------------------------------

/**
 * The monitors the switches enable, merged, as the Go handler starts them: Spot and scheduled events by default,
 * rebalance recommendations with either rebalance switch, the ASG target lifecycle state when asked. With every
 * monitor disabled the stream emits nothing and never ends (the process stays up, as the Go handler's).
 *
 * @category monitors
 * @since 0.1.0
 */
export const all = (options: AllOptions): Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient> => {
  const monitors: Array<Stream.Stream<MonitorSignal, never, ImdsClient.ImdsClient>> = []
  if (options.enableSpotInterruptionDraining ?? true) monitors.push(spotInterruption(options))
  if (options.enableScheduledEventDraining ?? true) monitors.push(scheduledEvents(options))
  if (options.enableRebalanceMonitoring || options.enableRebalanceDraining)
    monitors.push(rebalanceRecommendation(options))
  if (options.enableAsgLifecycleDraining) monitors.push(targetLifecycleState(options))
  return monitors.length === 0 ? Stream.never : Stream.mergeAll(monitors, { concurrency: "unbounded" })
}

// ---------------------------------------------------------------------------------------------------------------
// Promise API
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface WatchOptions extends AllOptions, ImdsClient.Options {
  /** Called for every notice of every poll (the same notice again on each poll: dedupe by `event.id`). */
  readonly onEvent: (event: InterruptionEvent.InterruptionEvent) => void | Promise<void>
  /** Called for every failed poll. Default: ignore. */
  readonly onError?:
    | ((monitor: InterruptionEvent.Monitor, error: ImdsError) => void | Promise<void>)
    | undefined
  /** Stops watching. */
  readonly signal?: AbortSignal | undefined
}

/**
 * {@link all} for plain `async` code: builds a client, polls until `signal` aborts (then resolves) and calls
 * back for each signal, one at a time. Rejects if a callback throws.
 *
 * @category promise
 * @since 0.1.0
 */
export const watch = async (options: WatchOptions): Promise<void> => {
  const { onEvent, onError, signal } = options
  const call = (f: () => void | Promise<void>) =>
    Effect.tryPromise({ try: async () => f(), catch: (error) => error })
  const program = all(options).pipe(
    Stream.runForEach((received) =>
      received._tag === "Notice"
        ? call(() => onEvent(received.event))
        : onError === undefined
          ? Effect.void
          : call(() => onError(received.monitor, received.error))
    ),
    Effect.provide(ImdsClient.layer(options))
  )
  const exit = await Effect.runPromiseExit(program, signal === undefined ? undefined : { signal })
  if (Exit.isSuccess(exit) || signal?.aborted) return
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  throw failure?._tag === "Fail"
    ? failure.error
    : new Error("IMDS watch stopped unexpectedly", { cause: exit.cause })
}
