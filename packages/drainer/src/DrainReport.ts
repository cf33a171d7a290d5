/**
 * What a drain did, pod by pod, and the progress events it emits on the way.
 *
 * @since 0.1.0
 */

/**
 * A pod, as reports name it.
 *
 * @category models
 * @since 0.1.0
 */
export interface PodRef {
  readonly namespace: string
  readonly name: string
  readonly uid: string
  /**
   * The pod's labels when the drain decided about it (the Go handler copies them onto its `PodEviction` Events).
   *
   * @since 0.1.0
   */
  readonly labels?: Readonly<Record<string, string>>
}

/**
 * How a pod's drain ended.
 *
 * - `Gone`: evicted (or deleted) and gone from the node.
 * - `Skipped`: left alone by a rule (DaemonSet pod with `ignoreDaemonSets`, mirror pod, stuck terminating, a pod
 *   annotated `nth.aws/do-not-evict` with the `podAnnotations` option: reason `DoNotEvict`); or
 *   no longer waited for, still terminating `skipWaitForDeleteTimeoutSeconds` after its deletion time
 *   (`DeletedLongAgo`); or, in a server dry run, gone (`NotFound`) or replaced (`Replaced`) before its turn.
 * - `Refused`: a rule refused it; nothing was evicted.
 * - `WouldRemove`: client dry run: it would have been evicted or deleted.
 * - `Accepted`: server dry run: the API server accepted the eviction (nothing was removed).
 * - `Blocked`: the drain ended (timeout, deadline, interruption) while a PodDisruptionBudget refused its eviction.
 * - `Terminating`: the drain ended while it was still shutting down.
 * - `Failed`: its eviction failed for good (e.g. more than one budget selects it).
 * - `Pending`: the drain ended before this pod's turn came.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | "Gone"
  | "Skipped"
  | "Refused"
  | "WouldRemove"
  | "Accepted"
  | "Blocked"
  | "Terminating"
  | "Failed"
  | "Pending"

/**
 * One pod's line in the report.
 *
 * @category models
 * @since 0.1.0
 */
export interface PodReport extends PodRef {
  readonly outcome: Outcome
  /** `evict` (through the Eviction API, finished pods included), `delete` (`disableEviction`), or `none`. */
  readonly method: "evict" | "delete" | "none"
  /** Why a rule skipped or refused it, or why the drain let it go (see `Skipped`). */
  readonly reason?: string
  readonly message?: string
  /** Warnings of the rules that let it go (e.g. "deleting pods with local storage"). */
  readonly warnings: ReadonlyArray<string>
  /** Eviction requests sent for it. */
  readonly attempts: number
  /** Budgets that refused its eviction at some point. */
  readonly blockedBy: ReadonlyArray<string>
  /**
   * The wave it was to be evicted in, for pods the drain removes: `critical` for the last wave (critical priority
   * classes and evict-last pods), else `regular`. At a deadline's last call every pod left goes at once, whatever
   * its wave.
   *
   * @since 0.5.0
   */
  readonly wave?: "regular" | "critical"
  /**
   * The grace period sent with its eviction, when one was sent: the pod's own choice (the
   * `nth.aws/drain-grace-period-seconds` annotation, a rule's adjustment), else the drain's `gracePeriodSeconds`;
   * capped by a deadline.
   */
  readonly gracePeriodSeconds?: number
  /** True when the drain's deadline shortened its grace period. */
  readonly gracePeriodShortened: boolean
  /**
   * Evictions sent on purpose to a pod already terminating, to shorten its grace because the deadline came
   * closer (it was terminating when the drain started, or the deadline moved earlier). Included in `attempts`.
   */
  readonly reEvictions: number
  /** Milliseconds from the start of the drain to the accepted eviction, and to the pod being gone. */
  readonly evictedAfterMs?: number
  readonly goneAfterMs?: number
  /** The last error, for `Failed` pods (and pods whose last eviction failed when time ran out). */
  readonly error?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DrainReport {
  readonly node: string
  readonly pods: ReadonlyArray<PodReport>
  readonly startedAt: Date
  readonly durationMs: number
  /** API requests the drain sent (lists, evictions, watches, lookups). */
  readonly apiRequests: number
}

/**
 * What happens during a drain, as it happens. `PodSkipped` is for pods the drain lets go after deciding to
 * remove them (see the `Skipped` {@link Outcome}), and for pods left alone at their own request (reason
 * `DoNotEvict`, once the drain goes ahead); pods other rules skip are only in the report. `WaveStarted`'s
 * `critical` wave is the last one: pods of the critical priority classes and pods marked evict-last.
 *
 * @category models
 * @since 0.1.0
 */
export type Progress =
  | { readonly _tag: "PodEvicting"; readonly pod: PodRef; readonly gracePeriodSeconds?: number }
  | { readonly _tag: "PodEvicted"; readonly pod: PodRef }
  | {
      /** A pod already terminating was evicted again with a shorter grace, to end before the deadline. */
      readonly _tag: "PodEvictedAgain"
      readonly pod: PodRef
      readonly gracePeriodSeconds: number | undefined
    }
  | { readonly _tag: "PodDeleted"; readonly pod: PodRef }
  | {
      readonly _tag: "PodBlocked"
      readonly pod: PodRef
      readonly budget: string | undefined
      readonly message: string
    }
  | { readonly _tag: "PodGone"; readonly pod: PodRef }
  | {
      readonly _tag: "PodSkipped"
      readonly pod: PodRef
      readonly reason: string
      readonly message: string
    }
  | { readonly _tag: "PodFailed"; readonly pod: PodRef; readonly error: string }
  | { readonly _tag: "WaveStarted"; readonly wave: "regular" | "critical"; readonly pods: number }

/**
 * The pods of a report with a given outcome.
 *
 * @category getters
 * @since 0.1.0
 */
export const withOutcome = (report: DrainReport, outcome: Outcome): ReadonlyArray<PodReport> =>
  report.pods.filter((pod) => pod.outcome === outcome)
