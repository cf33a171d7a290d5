/**
 * The errors of nth's writes to a node, shared by `TaintManager` (which exports them) and `NodeCondition`.
 */
import type { KubeError } from "@nth/kube"
import { Effect, Schema } from "effect"

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
