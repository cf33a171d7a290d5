/**
 * Which pods a drain removes, skips or refuses to touch: kubectl's drain rules, one small function per rule.
 *
 * Each rule looks at one pod and returns a {@link Verdict}: `remove` (evict it; with a warning when an option
 * had to allow it), `skip` (leave it alone) or `refuse` (the drain must not go on without an option that
 * allows it). Rules run in kubectl's order and the first `skip` or `refuse` ends a pod's run, so the decision
 * for every pod is the one `kubectl drain` makes. Unlike kubectl, every warning along the way is kept.
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
  | { readonly _tag: "Remove" }
  | { readonly _tag: "RemoveWithWarning"; readonly reason: Reason; readonly message: string }
  | { readonly _tag: "Skip"; readonly reason: Reason; readonly message: string }
  | { readonly _tag: "Refuse"; readonly reason: Reason; readonly message: string }

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
export const removeWithWarning = (reason: Reason, message: string): Verdict => ({
  _tag: "RemoveWithWarning",
  reason,
  message
})

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
 * warnings of every rule that ran.
 *
 * @category models
 * @since 0.1.0
 */
export interface Decision {
  readonly pod: V1Pod
  readonly verdict: Verdict
  readonly warnings: ReadonlyArray<string>
}

/**
 * Runs the rules over one pod.
 *
 * @category filters
 * @since 0.1.0
 */
export const decide = (pod: V1Pod, filters: ReadonlyArray<PodFilter>, context: Context): Decision => {
  const warnings: Array<string> = []
  for (const filter of filters) {
    const verdict = filter(pod, context)
    if (verdict._tag === "RemoveWithWarning") warnings.push(verdict.message)
    if (verdict._tag === "Skip" || verdict._tag === "Refuse") return { pod, verdict, warnings }
  }
  return { pod, verdict: remove, warnings }
}
