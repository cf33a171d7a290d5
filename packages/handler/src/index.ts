/**
 * @nth/handler: what nth does with an interruption event, shared by its apps.
 *
 * @since 0.1.0
 */

/**
 * Dedupe by event id: no event is handled twice.
 *
 * @since 0.1.0
 */
export * as EventStore from "./EventStore.ts"

/**
 * From event to node action: taint, cordon, drain, record, report.
 *
 * @since 0.1.0
 */
export * as Handler from "./Handler.ts"
/**
 * Kubernetes Events on the Node.
 *
 * @since 0.1.0
 */
export * as KubeEvents from "./KubeEvents.ts"
/**
 * Prometheus metrics.
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"
/**
 * Webhook notifications (`WEBHOOK_*`) as the handler's `notify`.
 *
 * @since 0.4.0
 */
export * as Notifications from "./Notifications.ts"
/**
 * The Go handler's settings, read from the same environment variables and validated up front.
 *
 * @since 0.1.0
 */
export * as Settings from "./Settings.ts"

/**
 * The handler's steps as data, in the Go handler's order, for programs to extend.
 *
 * @since 0.2.0
 */
export * as Step from "./Step.ts"
