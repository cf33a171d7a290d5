/**
 * A drain's deadline that may move earlier while the drain runs.
 *
 * A node can get a second notice while it is being drained (a Spot interruption during a drain for scheduled
 * maintenance, say). Starting a second drain would send every pod a second eviction; instead the caller moves the
 * running drain's deadline earlier. The drain then shortens the grace of later evictions, re-evicts (once, with
 * the shorter grace) the pods already terminating whose grace would now outlive the deadline, and makes its last
 * call and its final wait by the new time. A deadline never moves later: the earliest notice wins.
 *
 * @since 0.2.0
 */

/**
 * @category models
 * @since 0.2.0
 */
export interface Deadline {
  readonly _tag: "Deadline"
  /** The deadline now, or `undefined` while there is none. */
  readonly current: () => Date | undefined
  /**
   * Moves the deadline to `to` if that is earlier (or if there was none). True when it moved; the drains that use
   * this deadline react at once.
   */
  readonly moveEarlier: (to: Date) => boolean
  /** Increases on every move, so that a reader can tell whether it missed one. */
  readonly version: () => number
  /** Called after each move; returns the function that stops the calls. */
  readonly subscribe: (listener: (to: Date) => void) => () => void
}

/**
 * A deadline at `initial` (none when `undefined`), to pass as `Drainer.Options.deadline` and move later on.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make = (initial?: Date): Deadline => {
  let current = initial
  let version = 0
  const listeners = new Set<(to: Date) => void>()
  return {
    _tag: "Deadline",
    current: () => current,
    version: () => version,
    moveEarlier: (to) => {
      if (Number.isNaN(to.getTime())) return false
      if (current !== undefined && to.getTime() >= current.getTime()) return false
      current = to
      version += 1
      for (const listener of [...listeners]) {
        try {
          listener(to)
        } catch {
          // A listener's failure is its own: the other drains still hear of the move.
        }
      }
      return true
    },
    subscribe: (listener) => {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    }
  }
}

/**
 * @category guards
 * @since 0.2.0
 */
export const isDeadline = (value: unknown): value is Deadline =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Deadline"

/**
 * A fixed `Date`, or none, as a {@link Deadline}; a {@link Deadline} as it is.
 *
 * @category constructors
 * @since 0.2.0
 */
export const from = (deadline: Date | Deadline | undefined): Deadline =>
  isDeadline(deadline) ? deadline : make(deadline)
