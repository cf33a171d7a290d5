/**
 * @nth/events: the interruption events nth acts on, and what a handler does with each.
 *
 * @since 0.1.0
 */

/**
 * Stable dedupe ids for events read from IMDS or SQS.
 *
 * @since 0.1.0
 */
export * as EventId from "./EventId.ts"
/**
 * The event model: one schema-backed discriminated union of every kind of interruption.
 *
 * @since 0.1.0
 */
export * as InterruptionEvent from "./InterruptionEvent.ts"

/**
 * What a handler does with an event, decided from the event and the handler's settings.
 *
 * @since 0.1.0
 */
export * as NodeAction from "./NodeAction.ts"

/**
 * Kubernetes Event reasons and the Go handler's kind names.
 *
 * @since 0.1.0
 */
export * as Reason from "./Reason.ts"
