/**
 * @nth/queue-monitor: nth's view of its SQS queue (queue mode), and of the instances and nodes its messages name.
 *
 * @since 0.1.0
 */

/**
 * The EC2 side of finding an instance's node: `DescribeInstances`, batched across concurrent lookups, cached and
 * retried, and the Go handler's managed-tag check.
 *
 * @since 0.1.0
 */
export * as InstanceInfo from "./InstanceInfo.ts"
/**
 * The intake of queue mode: the queue's messages as a stream, received by several pipelined long polls, kept
 * invisible while held, settled by batched deletes and visibility changes, given back on stop.
 *
 * @since 0.1.0
 */
export * as Intake from "./Intake.ts"
/**
 * Auto Scaling lifecycle actions: completing them (idempotent across consumers) and heartbeats.
 *
 * @since 0.1.0
 */
export * as Lifecycle from "./Lifecycle.ts"
/**
 * The cluster's nodes, kept by a list and a watch and indexed by instance id and by name: which node is an
 * instance's, without an API call.
 *
 * @since 0.1.0
 */
export * as NodeIndex from "./NodeIndex.ts"
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
