/**
 * @nth/queue-monitor: nth's view of its SQS queue (queue mode).
 *
 * @since 0.1.0
 */

/**
 * The messages nth reads from its queue, as schemas, and `decode`, which turns a body into interruption events.
 *
 * @since 0.1.0
 */
export * as QueueMessage from "./QueueMessage.ts"

/**
 * The error decoding a message raises, with a closed `reason`.
 *
 * @since 0.1.0
 */
export * as QueueMessageError from "./QueueMessageError.ts"
