/**
 * Which pods a drain removes, skips or refuses to touch: kubectl's drain rules, one small function per rule.
 *
 * Each rule looks at one pod and returns a {@link Verdict}: `remove` (evict it; with a warning when an option
 * had to allow it), `skip` (leave it alone) or `refuse` (the drain must not go on without an option that
 * allows it). Rules run in kubectl's order and the first `skip` or `refuse` ends a pod's run, so the decision
 * for every pod is the one `kubectl drain` makes. Unlike kubectl, every warning along the way is kept.
 *
 * A rule that lets a pod go may also change how it is removed ({@link removeAdjusted}: its grace period, its
 * wave). The rules {@link doNotEvict}, {@link evictLast} and {@link annotatedGracePeriod} let a pod make those
 * choices itself, by {@link annotations} (the drain's `podAnnotations` option turns them on).
 *
 * @since 0.1.0
 */
import type { V1Pod } from "@kubernetes/client-node"

/**
 * A rule's answer for one pod. `reason` is stable and machine-readable; `message` is for people and names the
 * option that would change the answer.
 *
 * @category models
 * @since 0.1.0
 */
export type Verdict =
  | { readonly _tag: "Remove"; readonly adjustments?: Adjustments }
  | {
      readonly _tag: "RemoveWithWarning"
      readonly reason: Reason
      readonly message: string
      readonly adjustments?: Adjustments
    }
  | { readonly _tag: "Skip"; readonly reason: Reason; readonly message: string }
  | { readonly _tag: "Refuse"; readonly reason: Reason; readonly message: string }

/**
 * How a rule that lets a pod go changes the way it is removed. {@link decide} folds the adjustments of every rule
 * that ran into the {@link Decision}, later rules winning.
 *
 * @category models
 * @since 0.5.0
 */
export interface Adjustments {
  /**
   * This pod's grace period, in seconds (`>= 0`), instead of the drain's `gracePeriodSeconds` and the pod's own
   * `terminationGracePeriodSeconds`. A drain's deadline still caps it.
   */
  readonly gracePeriodSeconds?: number
  /** Evict the pod in the last wave, with the critical pods, after every other pod is gone. */
  readonly evictLast?: boolean
}

/**
 * @category models
 * @since 0.1.0
 */
export type Reason =
  | "DaemonSetPod"
  | "OrphanedDaemonSetPod"
  | "DaemonSetLookupFailed"
  | "MirrorPod"
  | "LocalStorage"
  | "Unreplicated"
  | "DeletedLongAgo"
  | "DoNotEvict"
  | "InvalidAnnotation"
  | (string & {})

/**
 * @category constructors
 * @since 0.1.0
 */
export const remove: Verdict = { _tag: "Remove" }

/**
 * @category constructors
 * @since 0.1.0
 */
export const removeWithWarning = (reason: Reason, message: string, adjustments?: Adjustments): Verdict =>
  adjustments === undefined
    ? { _tag: "RemoveWithWarning", reason, message }
    : { _tag: "RemoveWithWarning", reason, message, adjustments }

/**
 * `remove`, changing how the pod is removed (its grace period, its wave).
 *
 * @example
 * ```ts
 * import { PodFilter } from "@nth/drainer"
 *
 * // Pods of the `db` tier go last, with two minutes to shut down.
 * const databasesLast: PodFilter.PodFilter = (pod) =>
 *   pod.metadata?.labels?.tier === "db"
 *     ? PodFilter.removeAdjusted({ evictLast: true, gracePeriodSeconds: 120 })
 *     : PodFilter.remove
 * ```
 *
 * @category constructors
 * @since 0.5.0
 */
export const removeAdjusted = (adjustments: Adjustments): Verdict => ({ _tag: "Remove", adjustments })

/**
 * @category constructors
 * @since 0.1.0
 */
export const skip = (reason: Reason, message: string): Verdict => ({ _tag: "Skip", reason, message })

/**
 * @category constructors
 * @since 0.1.0
 */
export const refuse = (reason: Reason, message: string): Verdict => ({ _tag: "Refuse", reason, message })

/**
 * What the rules may look at besides the pod.
 *
 * @category models
 * @since 0.1.0
 */
export interface Context {
  readonly force: boolean
  readonly ignoreDaemonSets: boolean
  readonly deleteEmptyDirData: boolean
  readonly skipWaitForDeleteTimeoutSeconds: number
  /** Milliseconds since the epoch. */
  readonly now: number
  /**
   * Whether the DaemonSet that controls a pod still exists: `true`, `false`, or a message when looking it up
   * failed. Looked up once per DaemonSet, not once per pod as kubectl does.
   */
  readonly daemonSetExists: (namespace: string, name: string) => boolean | string
}

/**
 * A rule: one pod in, one verdict out.
 *
 * @category models
 * @since 0.1.0
 */
export type PodFilter = (pod: V1Pod, context: Context) => Verdict

/**
 * A pod whose containers have all stopped for good (phase `Succeeded` or `Failed`): removed whatever else is
 * true of it (its eviction is never refused by a budget).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isFinished = (pod: V1Pod): boolean =>
  pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed"

/**
 * The owner reference marked `controller: true`, if any.
 *
 * @category getters
 * @since 0.1.0
 */
export const controllerOf = (pod: V1Pod) =>
  pod.metadata?.ownerReferences?.find((owner) => owner.controller === true)

const podName = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`

// Timestamps are Dates from typed list calls and strings from watches.
const millis = (time: Date | string | undefined): number | undefined =>
  time === undefined ? undefined : new Date(time).getTime()

/**
 * Pods whose deletion started more than `skipWaitForDeleteTimeoutSeconds` ago (when that option is set) are
 * left alone: they are stuck terminating and waiting for them would stall the drain.
 *
 * @category filters
 * @since 0.1.0
 */
export const deletedLongAgo: PodFilter = (pod, context) => {
  const deleted = millis(pod.metadata?.deletionTimestamp)
  if (context.skipWaitForDeleteTimeoutSeconds <= 0 || deleted === undefined) return remove
  return context.now - deleted > context.skipWaitForDeleteTimeoutSeconds * 1000
    ? skip("DeletedLongAgo", `pod ${podName(pod)} has been terminating for too long; skipping it`)
    : remove
}

/**
 * Pods controlled by a DaemonSet: the DaemonSet would recreate them at once, so kubectl never evicts them.
 * Without `ignoreDaemonSets` their presence refuses the drain; with it they are skipped. A pod whose DaemonSet
 * is gone is removed only with `force`.
 *
 * @category filters
 * @since 0.1.0
 */
export const daemonSet: PodFilter = (pod, context) => {
  const controller = controllerOf(pod)
  if (controller?.kind !== "DaemonSet" || !controller.apiVersion?.startsWith("apps/")) return remove
  if (isFinished(pod)) return remove
  const exists = context.daemonSetExists(pod.metadata?.namespace ?? "", controller.name)
  if (typeof exists === "string") return refuse("DaemonSetLookupFailed", exists)
  if (!exists) {
    return context.force
      ? removeWithWarning("OrphanedDaemonSetPod", `daemonsets.apps "${controller.name}" not found`)
      : refuse(
          "OrphanedDaemonSetPod",
          `daemonsets.apps "${controller.name}" not found; use force to delete its pods`
        )
  }
  return context.ignoreDaemonSets
    ? skip("DaemonSetPod", "ignoring DaemonSet-managed pods")
    : refuse("DaemonSetPod", "DaemonSet-managed pods present; use ignoreDaemonSets to ignore them")
}

/**
 * Mirror pods (the API server's copies of a kubelet's static pods) cannot be evicted: they are skipped.
 *
 * @category filters
 * @since 0.1.0
 */
export const mirror: PodFilter = (pod) =>
  pod.metadata?.annotations?.["kubernetes.io/config.mirror"] === undefined
    ? remove
    : skip("MirrorPod", "mirror (static) pods cannot be evicted")

/**
 * Pods with an `emptyDir` volume (of any medium) lose its data: removed only with `deleteEmptyDirData`.
 *
 * @category filters
 * @since 0.1.0
 */
export const localStorage: PodFilter = (pod, context) => {
  if (isFinished(pod) || !pod.spec?.volumes?.some((volume) => volume.emptyDir !== undefined)) return remove
  return context.deleteEmptyDirData
    ? removeWithWarning("LocalStorage", "deleting pods with local storage")
    : refuse(
        "LocalStorage",
        "pods with local storage (emptyDir) present; use deleteEmptyDirData to delete them"
      )
}

/**
 * Pods no controller will recreate: removed only with `force`.
 *
 * @category filters
 * @since 0.1.0
 */
export const unreplicated: PodFilter = (pod, context) => {
  if (isFinished(pod) || controllerOf(pod) !== undefined) return remove
  return context.force
    ? removeWithWarning("Unreplicated", "deleting pods that declare no controller")
    : refuse("Unreplicated", "pods that declare no controller present; use force to delete them")
}

/**
 * The annotations by which a pod makes its own drain choices (see {@link doNotEvict}, {@link evictLast},
 * {@link annotatedGracePeriod}).
 *
 * - `nth.aws/drain-grace-period-seconds: "<seconds>"`: the pod's grace period (a non-negative integer).
 * - `nth.aws/evict-last: "true"`: evicted in the last wave, with the critical pods.
 * - `nth.aws/do-not-evict: "true"`: never evicted or deleted; it stops with the instance.
 *
 * @category annotations
 * @since 0.5.0
 */
export const annotations = {
  gracePeriodSeconds: "nth.aws/drain-grace-period-seconds",
  evictLast: "nth.aws/evict-last",
  doNotEvict: "nth.aws/do-not-evict"
} as const

const invalidAnnotation = (pod: V1Pod, key: string, value: string, expected: string) =>
  removeWithWarning(
    "InvalidAnnotation",
    `pod ${podName(pod)}: ignoring annotation ${key}: ${JSON.stringify(value)} (expected ${expected})`
  )

// `true` / `false` (case-insensitive, trimmed), `undefined` when absent, the raw value when neither.
const flag = (pod: V1Pod, key: string): boolean | string | undefined => {
  const value = pod.metadata?.annotations?.[key]
  if (value === undefined) return undefined
  const normalized = value.trim().toLowerCase()
  return normalized === "true" ? true : normalized === "false" ? false : value
}

/**
 * Pods annotated `nth.aws/do-not-evict: "true"` are left alone (skipped, reason `DoNotEvict`): never evicted or
 * deleted, they stop with the instance. Put it before kubectl's rules (as the `podAnnotations` drain option
 * does) for the annotation to win over their refusals too (a pod without a controller, say); after them, a
 * refusal comes first. A value other than `true` or `false` is ignored, with a warning.
 *
 * @category filters
 * @since 0.5.0
 */
export const doNotEvict: PodFilter = (pod) => {
  const value = flag(pod, annotations.doNotEvict)
  if (value === undefined || value === false) return remove
  return value === true
    ? skip(
        "DoNotEvict",
        `pod ${podName(pod)} is annotated ${annotations.doNotEvict}: "true"; leaving it to stop with the node`
      )
    : invalidAnnotation(pod, annotations.doNotEvict, value, '"true" or "false"')
}

/**
 * Pods annotated `nth.aws/evict-last: "true"` are evicted in the last wave, with the pods of the critical
 * priority classes, after every other pod is gone. A value other than `true` or `false` is ignored, with a
 * warning.
 *
 * @category filters
 * @since 0.5.0
 */
export const evictLast: PodFilter = (pod) => {
  const value = flag(pod, annotations.evictLast)
  if (value === undefined || value === false) return remove
  return value === true
    ? removeAdjusted({ evictLast: true })
    : invalidAnnotation(pod, annotations.evictLast, value, '"true" or "false"')
}

/**
 * Pods annotated `nth.aws/drain-grace-period-seconds: "<seconds>"` get that grace period, instead of the drain's
 * `gracePeriodSeconds` and their own `terminationGracePeriodSeconds` (at least 1 s: `0` is read as `1`, so the
 * pod's containers are always told to stop).
 * A drain's deadline still caps it. A value that is not a non-negative integer is ignored, with a warning.
 *
 * @category filters
 * @since 0.5.0
 */
export const annotatedGracePeriod: PodFilter = (pod) => {
  const value = pod.metadata?.annotations?.[annotations.gracePeriodSeconds]
  if (value === undefined) return remove
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN
  // At least 1 s: a grace of 0 would have the API server remove the pod before its containers are told to stop.
  return Number.isSafeInteger(seconds)
    ? removeAdjusted({ gracePeriodSeconds: Math.max(1, seconds) })
    : invalidAnnotation(pod, annotations.gracePeriodSeconds, value, "a non-negative integer of seconds")
}

/**
 * kubectl's rules, in its order.
 *
 * @category filters
 * @since 0.1.0
 */
export const builtIn: ReadonlyArray<PodFilter> = [
  deletedLongAgo,
  daemonSet,
  mirror,
  localStorage,
  unreplicated
]

/**
 * A pod's decision: the verdict of the last rule that ran (the first skip or refusal, or `remove`), with the
 * warnings of every rule that ran and the {@link Adjustments} of every rule that let the pod go (later rules
 * win).
 *
 * @category models
 * @since 0.1.0
 */
export interface Decision {
  readonly pod: V1Pod
  readonly verdict: Verdict
  readonly warnings: ReadonlyArray<string>
  /**
   * The pod's own grace period, in seconds, when a rule set one (see {@link Adjustments.gracePeriodSeconds}).
   *
   * @since 0.5.0
   */
  readonly gracePeriodSeconds?: number
  /**
   * Whether a rule put the pod in the last wave (see {@link Adjustments.evictLast}). Absent: `false`.
   *
   * @since 0.5.0
   */
  readonly evictLast?: boolean
}

/**
 * Runs the rules over one pod.
 *
 * @category filters
 * @since 0.1.0
 */
export const decide = (pod: V1Pod, filters: ReadonlyArray<PodFilter>, context: Context): Decision => {
  const warnings: Array<string> = []
  let gracePeriodSeconds: number | undefined
  let evictLast: boolean | undefined
  for (const filter of filters) {
    const verdict = filter(pod, context)
    if (verdict._tag === "Skip" || verdict._tag === "Refuse") return { pod, verdict, warnings }
    if (verdict._tag === "RemoveWithWarning") warnings.push(verdict.message)
    const adjustments = verdict.adjustments
    if (adjustments !== undefined) {
      if (adjustments.gracePeriodSeconds !== undefined) gracePeriodSeconds = adjustments.gracePeriodSeconds
      if (adjustments.evictLast !== undefined) evictLast = adjustments.evictLast
    }
  }
  return {
    pod,
    verdict: remove,
    warnings,
    ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
    ...(evictLast === undefined ? {} : { evictLast })
  }
}
