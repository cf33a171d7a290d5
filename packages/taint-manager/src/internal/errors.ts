/**
 * The errors of nth's writes to a node and how a write retries, shared by `TaintManager` (which exports the errors)
 * and `NodeCondition`.
 */
import { KubeError } from "@nth/kube"
import { type Duration, Effect, Schedule, Schema } from "effect"

/**
 * The node does not exist (or was deleted while nth was writing to it).
 *
 * @category errors
 * @since 0.1.0
 */
export class NodeNotFound extends Schema.TaggedError<NodeNotFound>()("NodeNotFound", {
  nodeName: Schema.String,
  message: Schema.String
}) {}

/**
 * Other writers kept changing the node: every attempt was refused with 409 Conflict until the retries ran out.
 * Nothing of this write landed.
 *
 * @category errors
 * @since 0.1.0
 */
export class NodeConflict extends Schema.TaggedError<NodeConflict>()("NodeConflict", {
  nodeName: Schema.String,
  operation: Schema.String,
  attempts: Schema.Number,
  message: Schema.String
}) {}

/**
 * What a write's last error becomes once its retries are spent: a 409 Conflict is {@link NodeConflict} (the node
 * kept changing under nth), anything else stays as it was. `attempts` is read when the write gives up.
 */
export const gaveUp =
  (nodeName: string, operation: string, attempts: () => number) =>
  (error: KubeError.KubeError): Effect.Effect<never, NodeConflict | KubeError.KubeError> =>
    error.reason === "Conflict"
      ? Effect.fail(
          new NodeConflict({
            nodeName,
            operation,
            attempts: attempts(),
            message: `${operation} on node ${nodeName}: the node kept changing, gave up after ${attempts()} attempts`
          })
        )
      : Effect.fail(error)

/**
 * How often a write refused with 409 Conflict (or throttled, or failed by the server) is computed and sent again:
 * up to `times` retries (default 10), waiting `base` (default 50 ms) doubled each time, with jitter, capped at `cap`
 * (default 1 s).
 */
export interface WriteRetry {
  readonly times?: number
  readonly base?: Duration.Input
  readonly cap?: Duration.Input
}

/** The schedule of {@link WriteRetry}. */
export const writeRetrySchedule = (retry: WriteRetry = {}) =>
  Schedule.max([
    Schedule.min([
      Schedule.exponential(retry.base ?? "50 millis", 2).pipe(Schedule.jittered),
      Schedule.spaced(retry.cap ?? "1 second")
    ]),
    Schedule.recurs(retry.times ?? 10)
  ])

/** Whether a write's error is worth another try: a conflict (computed again on the node read afresh), or transient. */
export const isRetryable = (error: NodeNotFound | NodeConflict | KubeError.KubeError): boolean =>
  error._tag === "KubeError" && (error.reason === "Conflict" || KubeError.isTransient(error))

/** A 404 for the node is {@link NodeNotFound}; any other error stays as it was. */
export const notFound =
  (nodeName: string) =>
  (error: KubeError.KubeError): Effect.Effect<never, NodeNotFound | KubeError.KubeError> =>
    error.reason === "NotFound"
      ? Effect.fail(new NodeNotFound({ nodeName, message: `node ${nodeName} not found` }))
      : Effect.fail(error)
