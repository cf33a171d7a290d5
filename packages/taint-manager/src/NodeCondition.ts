/**
 * The node condition nth sets while it works on a node, so that `kubectl describe node` (and any tool that reacts
 * to node conditions) tells what is happening: type `TerminationHandling`, status `True` with the step as reason
 * while nth works on the node (`Cordoned`, `Draining`, `Drained`, `Acknowledged`, `DrainFailed`), `False` once nth
 * has undone its work (`Uncordoned`, `RebalanceCordonLifted`). The message is free text (the event's kind and
 * description).
 *
 * The condition lives in the node's status, which a kubelet (or KWOK) rewrites on every heartbeat: it is written to
 * the status subresource with a strategic merge patch, where conditions merge by `type`, so the kubelet's
 * conditions and nth's leave each other alone. (A JSON merge patch would replace the whole list: the node would
 * lose its `Ready` condition until the kubelet's next update.) `lastHeartbeatTime` is the time of the write,
 * `lastTransitionTime` moves only when the status changes: the write is computed from the node as read and pinned
 * to its resourceVersion, so a status that changed in between makes the server refuse it (409) and it is computed
 * again on the node read afresh.
 *
 * Needs `patch` on `nodes/status` (and `get` on `nodes`).
 *
 * @since 0.5.0
 */
import type { V1Node } from "@kubernetes/client-node"
import { KubeClient, type KubeError } from "@nth/kube"
import { Clock, Effect } from "effect"
import {
  gaveUp,
  isRetryable,
  type NodeConflict,
  type NodeNotFound,
  notFound,
  type WriteRetry,
  writeRetrySchedule
} from "./internal/errors.ts"
import { defaultFieldManager } from "./NodePlan.ts"

/**
 * The condition's `type`.
 *
 * @category constants
 * @since 0.5.0
 */
export const conditionType = "TerminationHandling"

/**
 * Why the condition has its status: the step nth is at (status `True`), or what it undid (status `False`).
 *
 * @category constants
 * @since 0.5.0
 */
export const Reason = {
  /** `True`: nth cordoned the node (or found it cordoned) for an event. */
  Cordoned: "Cordoned",
  /** `True`: nth is evicting the node's pods. */
  Draining: "Draining",
  /** `True`: the drain finished. */
  Drained: "Drained",
  /** `True`: the event's source was told the work is done (an Auto Scaling lifecycle action completed). */
  Acknowledged: "Acknowledged",
  /** `True`: the drain failed (nth may try again). */
  DrainFailed: "DrainFailed",
  /** `False`: nth removed its cordon, taints and labels (after a reboot, or when the event went away). */
  Uncordoned: "Uncordoned",
  /** `False`: nth lifted a rebalance recommendation's cordon that nothing followed. */
  RebalanceCordonLifted: "RebalanceCordonLifted"
} as const

/**
 * @category models
 * @since 0.5.0
 */
export type Reason = (typeof Reason)[keyof typeof Reason]

/**
 * @category models
 * @since 0.5.0
 */
export type Status = "True" | "False"

/**
 * What to set: the status, its reason, and a message for people (the event's kind and description).
 *
 * @category models
 * @since 0.5.0
 */
export interface Input {
  readonly status: Status
  readonly reason: Reason
  readonly message: string
}

/**
 * The condition as nth writes it (timestamps as the API server keeps them: RFC 3339, to the second). Read back
 * from a node ({@link read}), the fields are whatever the node holds.
 *
 * @category models
 * @since 0.5.0
 */
export interface Condition {
  readonly type: typeof conditionType
  readonly status: Status
  readonly reason: Reason
  readonly message: string
  readonly lastHeartbeatTime: string
  readonly lastTransitionTime: string
}

/**
 * The body of the strategic merge patch of `nodes/{name}/status`: the node's resourceVersion (when known) and the
 * one condition.
 *
 * @category models
 * @since 0.5.0
 */
export interface StatusPatch {
  readonly metadata?: { readonly resourceVersion: string }
  readonly status: { readonly conditions: readonly [Condition] }
}

/**
 * The patch and what it does: `transitioned` when the status changes (or the node had no such condition), and
 * then `lastTransitionTime` is `now`.
 *
 * @category models
 * @since 0.5.0
 */
export interface Planned {
  readonly patch: StatusPatch
  readonly condition: Condition
  readonly transitioned: boolean
}

/** Messages are for people: a runaway one is cut here rather than make the node object grow. */
const maxMessageLength = 1024

// metav1.Time keeps seconds: the API server would drop the milliseconds anyway.
const timestamp = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, "Z")

const asString = (value: unknown): string | undefined =>
  typeof value === "string" ? value : value instanceof Date ? timestamp(value) : undefined

/**
 * The `TerminationHandling` condition as a node holds it (set by nth or by anyone else, so the fields are not
 * narrowed to nth's values).
 *
 * @category models
 * @since 0.5.0
 */
export interface Found {
  readonly status: string
  readonly reason?: string
  readonly message?: string
  readonly lastHeartbeatTime?: string
  readonly lastTransitionTime?: string
}

/**
 * The node's `TerminationHandling` condition, if it has one. Timestamps are strings whether the node came from
 * client-node (dates) or as JSON (`@nth/kube`).
 *
 * @category reading
 * @since 0.5.0
 */
export const read = (node: V1Node): Found | undefined => {
  const found = node.status?.conditions?.find((condition) => condition.type === conditionType)
  if (found === undefined) return undefined
  const lastHeartbeatTime = asString(found.lastHeartbeatTime)
  const lastTransitionTime = asString(found.lastTransitionTime)
  return {
    status: found.status,
    ...(found.reason === undefined ? {} : { reason: found.reason }),
    ...(found.message === undefined ? {} : { message: found.message }),
    ...(lastHeartbeatTime === undefined ? {} : { lastHeartbeatTime }),
    ...(lastTransitionTime === undefined ? {} : { lastTransitionTime })
  }
}

/**
 * The patch that sets the condition on `node` (the node as read; `undefined` when not read, then the write counts
 * as a transition and is not pinned): `lastHeartbeatTime` is `now`, `lastTransitionTime` is kept while the status
 * stays the same, and is `now` when it changes. Pure.
 *
 * @category planning
 * @since 0.5.0
 */
export const plan = (node: V1Node | undefined, input: Input, now: Date): Planned => {
  const current = node === undefined ? undefined : read(node)
  const kept = current?.status === input.status ? current.lastTransitionTime : undefined
  const at = timestamp(now)
  const condition: Condition = {
    type: conditionType,
    status: input.status,
    reason: input.reason,
    message:
      input.message.length > maxMessageLength
        ? `${input.message.slice(0, maxMessageLength - 1)}…`
        : input.message,
    lastHeartbeatTime: at,
    lastTransitionTime: kept ?? at
  }
  const resourceVersion = node?.metadata?.resourceVersion
  return {
    patch: {
      ...(resourceVersion === undefined ? {} : { metadata: { resourceVersion } }),
      status: { conditions: [condition] }
    },
    condition,
    transitioned: kept === undefined
  }
}

/**
 * What {@link set} wrote (or, in a dry run, would have written), in how many attempts, and the node as the API
 * server answered.
 *
 * @category models
 * @since 0.5.0
 */
export interface Outcome {
  readonly condition: Condition
  readonly transitioned: boolean
  readonly dryRun: boolean
  readonly attempts: number
  readonly node: V1Node
}

/**
 * As `TaintManager.Options`: a dry run (`dryRun=All`), the field manager (default `nth`), and the retries of a write refused with
 * 409 Conflict, throttled or failed by the server (default 10 retries, 50 ms doubling with jitter, capped at 1 s).
 *
 * @category models
 * @since 0.5.0
 */
export interface Options {
  readonly dryRun?: boolean
  readonly fieldManager?: string
  readonly retry?: WriteRetry
}

/**
 * What to set on which node. `node`: the node as the caller has it (e.g. the answer of its last write, or a
 * watch's copy), to start from instead of reading it; a stale copy costs a 409 and a read, never a wrong
 * `lastTransitionTime`. `now` defaults to the clock.
 *
 * @category models
 * @since 0.5.0
 */
export interface SetInput extends Input {
  readonly nodeName: string
  readonly node?: V1Node | undefined
  readonly now?: Date
}

/**
 * Sets the condition: reads the node (unless `input.node` is given), computes the patch with {@link plan}, and
 * sends it as a strategic merge patch of `nodes/{name}/status` pinned to the node's resourceVersion. A 409 (the
 * node's status changed since it was read), throttling and server errors are retried on the node read afresh.
 *
 * @example
 * ```ts
 * yield* NodeCondition.set({
 *   nodeName,
 *   status: "True",
 *   reason: NodeCondition.Reason.Draining,
 *   message: "SpotInterruption: spot instance interruption notice, termination at 2026-03-01T12:02:00Z"
 * })
 * ```
 *
 * @category writing
 * @since 0.5.0
 */
export const set = (
  input: SetInput,
  options: Options = {}
): Effect.Effect<Outcome, NodeNotFound | NodeConflict | KubeError.KubeError, KubeClient.KubeClient> =>
  Effect.gen(function* () {
    const client = yield* KubeClient.KubeClient
    const { nodeName } = input
    const dryRun = options.dryRun ?? false
    const fieldManager = options.fieldManager ?? defaultFieldManager
    const schedule = writeRetrySchedule(options.retry)
    const operation = `set condition ${conditionType}=${input.status} (${input.reason})`

    let attempts = 0
    const attempt = Effect.gen(function* () {
      attempts += 1
      const node =
        attempts === 1 && input.node !== undefined
          ? input.node
          : yield* client
              .call(`read node ${nodeName}`, (callOptions) =>
                client.core.readNode({ name: nodeName }, callOptions)
              )
              .pipe(Effect.catchTag("KubeError", notFound(nodeName)))
      const now = input.now ?? new Date(yield* Clock.currentTimeMillis)
      const planned = plan(node, input, now)
      const written = yield* client
        .call(
          `${operation} on node ${nodeName}`,
          (callOptions) =>
            client.core.patchNodeStatus(
              { name: nodeName, body: planned.patch, fieldManager, ...(dryRun ? { dryRun: "All" } : {}) },
              callOptions
            ),
          { patch: KubeClient.PatchStrategy.StrategicMergePatch }
        )
        .pipe(Effect.catchTag("KubeError", notFound(nodeName)))
      return { condition: planned.condition, transitioned: planned.transitioned, node: written }
    })
    return yield* attempt.pipe(
      Effect.retry({ schedule, while: isRetryable }),
      Effect.catchTag(
        "KubeError",
        gaveUp(nodeName, operation, () => attempts)
      ),
      Effect.map((written) => ({ ...written, dryRun, attempts }))
    )
  })
