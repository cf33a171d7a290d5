/**
 * @nth/taint-manager: everything nth writes on a Node (taints, labels, its cordon, the record of what it did and
 * the condition that shows it), readable back from the node alone.
 *
 * @since 0.1.0
 */

/**
 * The `TerminationHandling` node condition nth sets while it works on a node (`kubectl describe node` shows the
 * step: cordoned, draining, drained, …), written to the status subresource beside the kubelet's conditions.
 *
 * @since 0.5.0
 */
export * as NodeCondition from "./NodeCondition.ts"
/**
 * Pure planning: from a node as read and the change wanted, what nth does and the JSON Patch that does it.
 *
 * @since 0.1.0
 */
export * as NodePlan from "./NodePlan.ts"
/**
 * The keys nth writes on a node and its record of what it did (`nth.dev/record`), read back with the Go
 * handler's labels as a fallback.
 *
 * @since 0.1.0
 */
export * as NodeRecord from "./NodeRecord.ts"

/**
 * The writes, applied with conflict retries: the `TaintManager` service (Effect) and `createTaintManager` (Promises).
 *
 * @since 0.1.0
 */
export * as TaintManager from "./TaintManager.ts"
