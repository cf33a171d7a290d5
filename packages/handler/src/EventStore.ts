/**
 * Remembers every event by id so that none is handled twice, although monitors report a notice on every poll
 * and SQS redelivers messages.
 *
 * An event is `new` the first time its key is offered and `seen` after that, except when its last handling
 * failed and the retry delay has passed (then it is handled again). Scheduled events that are cancelled or
 * completed have a key of their own (`<id>:canceled`), so their undoing is handled once too. Ids put on the
 * ignore list (events nth already dealt with before a restart) are never handled. An event whose handling was
 * interrupted (the process is stopping) is not handed out again by this process: the next one resumes it.
 *
 * @since 0.1.0
 */
import type { InterruptionEvent } from "@nth/events"

/**
 * - `InProgress`: being handled.
 * - `Done`, `Ignored`: handled; never handed out again.
 * - `Failed`: handed out again once the retry delay has passed.
 * - `Interrupted`: its handling was cut short (shutdown); never handed out again by this process.
 * - `Deferred`: not handled, its node being another handler's for now: handed out again at the next offer.
 *
 * @category models
 * @since 0.1.0
 */
export type State = "InProgress" | "Done" | "Failed" | "Ignored" | "Interrupted" | "Deferred"

interface Entry {
  readonly event: InterruptionEvent.InterruptionEvent
  readonly firstSeenAt: number
  state: State
  attempts: number
  failedAt: number | undefined
}

/**
 * The dedupe key: the event id, plus the state for scheduled events that are no longer active.
 *
 * @category getters
 * @since 0.1.0
 */
export const keyOf = (event: InterruptionEvent.InterruptionEvent): string =>
  event.kind === "ScheduledMaintenance" && event.state !== "active" ? `${event.id}:${event.state}` : event.id

/**
 * @category models
 * @since 0.1.0
 */
export interface EventStore {
  /** `new`: handle it now (it is marked in progress). `seen`: already handled, in progress or ignored. */
  readonly offer: (event: InterruptionEvent.InterruptionEvent, now: number) => "new" | "seen"
  readonly settle: (
    event: InterruptionEvent.InterruptionEvent,
    state: Exclude<State, "InProgress">,
    now: number
  ) => void
  readonly ignore: (id: string) => void
  /** How many times the event was handed out for handling (1 the first time, more after failures). */
  readonly attemptsOf: (event: InterruptionEvent.InterruptionEvent) => number
  /** When an event was first seen (for latency metrics). */
  readonly firstSeenAt: (event: InterruptionEvent.InterruptionEvent) => number | undefined
  readonly stateOf: (event: InterruptionEvent.InterruptionEvent) => State | undefined
  /**
   * Whether an event other than `exceptId` (in any state of it) holds the node: being handled, handled, or cut
   * short (its work may be half done); not failed, not ignored, not itself a cancellation.
   */
  readonly activeFor: (
    nodeName: string,
    exceptId?: string,
    /**
     * `exceptKinds`: events of these kinds do not count. `anyState`: an event counts whatever its state (failed and
     * to be tried again, ignored by the settings), not a cancellation. Since 0.5.0.
     */
    options?: { readonly exceptKinds?: ReadonlyArray<InterruptionEvent.Kind>; readonly anyState?: boolean }
  ) => boolean
  readonly size: () => number
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: { readonly retryFailedAfterMs: number }): EventStore => {
  const entries = new Map<string, Entry>()
  const ignored = new Set<string>()
  return {
    offer: (event, now) => {
      const key = keyOf(event)
      // The ignore list holds events already acted on; their cancellation may still have work to undo.
      if (ignored.has(event.id) && key === event.id) return "seen"
      const entry = entries.get(key)
      if (entry === undefined) {
        entries.set(key, { event, firstSeenAt: now, state: "InProgress", attempts: 1, failedAt: undefined })
        return "new"
      }
      if (entry.state === "Deferred") {
        entry.state = "InProgress"
        entry.attempts += 1
        return "new"
      }
      if (entry.state === "Failed" && now - (entry.failedAt ?? 0) >= options.retryFailedAfterMs) {
        entry.state = "InProgress"
        entry.attempts += 1
        return "new"
      }
      return "seen"
    },
    settle: (event, state, now) => {
      const entry = entries.get(keyOf(event))
      if (!entry) return
      entry.state = state
      entry.failedAt = state === "Failed" ? now : undefined
    },
    ignore: (id) => {
      ignored.add(id)
    },
    attemptsOf: (event) => entries.get(keyOf(event))?.attempts ?? 0,
    firstSeenAt: (event) => entries.get(keyOf(event))?.firstSeenAt,
    stateOf: (event) => entries.get(keyOf(event))?.state,
    activeFor: (nodeName, exceptId, { exceptKinds = [], anyState = false } = {}) =>
      [...entries.values()].some(
        (entry) =>
          entry.event.id !== exceptId &&
          !exceptKinds.includes(entry.event.kind) &&
          entry.event.nodeName === nodeName &&
          (anyState ||
            entry.state === "InProgress" ||
            entry.state === "Done" ||
            entry.state === "Interrupted") &&
          !(entry.event.kind === "ScheduledMaintenance" && entry.event.state !== "active")
      ),
    size: () => entries.size
  }
}
