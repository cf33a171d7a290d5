/**
 * @nth/webhook: the Go handler's webhook notifications (`WEBHOOK_*`), posted off the drain's path.
 *
 * @since 0.4.0
 */

/**
 * Settings checked at start-up, and a notifier that queues, renders and posts with timeouts, retries and a proxy.
 *
 * @since 0.4.0
 */
export * as Webhook from "./Webhook.ts"

/**
 * What a template sees: the Go handler's fields, filled in both modes.
 *
 * @since 0.4.0
 */
export * as WebhookData from "./WebhookData.ts"
