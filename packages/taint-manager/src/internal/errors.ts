/**
 * The errors of nth's writes to a node, shared by `TaintManager` (which exports them) and `NodeCondition`.
 */
import { Schema } from "effect"

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
