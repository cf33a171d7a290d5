/**
 * The one error decoding a queue message raises, with a closed `reason`, so the receive loop can decide what to
 * do with the message (the Go handler leaves every such message in the queue, to be received again until SQS
 * moves it to a dead-letter queue) without matching message texts.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why a message could not be decoded.
 *
 * - `NotJson`: the body (or the `Message` of the SNS notification that carries it) is not JSON.
 * - `UnknownKind`: JSON that is no message nth knows: an EventBridge source or AWS Health event type it does not
 *   handle, an Auto Scaling notification with a lifecycle transition other than launching or terminating, or an
 *   object with neither a `detail-type` nor a `LifecycleTransition`.
 * - `Malformed`: a message of a known kind with a required field missing or of the wrong shape (an instance id
 *   that is not one, an empty lifecycle action token, a `detail` that is not an object).
 *
 * @category models
 * @since 0.1.0
 */
export const Reason = Schema.Literals(["NotJson", "UnknownKind", "Malformed"])

/**
 * @category models
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * `message` names the offending field by its path in the body, e.g.
 * `EC2 Spot Instance Interruption Warning: Missing key\n  at ["detail"]["instance-id"]`.
 *
 * @category errors
 * @since 0.1.0
 */
export class QueueMessageError extends Schema.TaggedError<QueueMessageError>()("QueueMessageError", {
  reason: Reason,
  message: Schema.String
}) {}
