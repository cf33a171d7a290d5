/**
 * @nth/imds-monitor: nth's view of the EC2 instance metadata service.
 *
 * @since 0.1.0
 */

/**
 * The IMDSv2 client: session token, retries with backoff, timeouts, the instance's identity.
 *
 * @since 0.1.0
 */
export * as ImdsClient from "./ImdsClient.ts"

/**
 * The error every failed metadata read raises, with a closed `reason`.
 *
 * @since 0.1.0
 */
export * as ImdsError from "./ImdsError.ts"

/**
 * The Spot, scheduled event, rebalance and ASG lifecycle pollers, as streams of interruption events.
 *
 * @since 0.1.0
 */
export * as ImdsMonitor from "./ImdsMonitor.ts"
