/**
 * The grace period to send with an eviction.
 *
 * Without a deadline: the caller's override (`gracePeriodSeconds >= 0`), else nothing (the pod's own
 * `terminationGracePeriodSeconds` applies). With a deadline (the instance goes away then), a pod's grace is
 * capped so that it ends `margin` before the deadline, and never below 1 s: a grace of 0 would make the API
 * server delete the pod from etcd at once, before its containers are told to stop.
 */
import type { V1Pod } from "@kubernetes/client-node"

export interface GracePlan {
  /** `undefined`: send none, the pod's own applies. */
  readonly seconds: number | undefined
  readonly shortened: boolean
  /** The grace that will apply, sent or the pod's own. */
  readonly effectiveSeconds: number
}

export const DEFAULT_POD_GRACE_SECONDS = 30

export const planGrace = (
  pod: V1Pod,
  options: {
    readonly gracePeriodSeconds: number
    readonly deadline?: number
    readonly deadlineMarginMs: number
  },
  now: number
): GracePlan => {
  const requested =
    options.gracePeriodSeconds >= 0
      ? options.gracePeriodSeconds
      : (pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_POD_GRACE_SECONDS)
  const explicit = options.gracePeriodSeconds >= 0
  const unchanged = {
    seconds: explicit ? requested : undefined,
    shortened: false,
    effectiveSeconds: requested
  }
  if (options.deadline === undefined) return unchanged
  const left = Math.floor((options.deadline - options.deadlineMarginMs - now) / 1000)
  if (requested <= left) return unchanged
  const seconds = Math.max(1, left)
  return { seconds, shortened: true, effectiveSeconds: seconds }
}
