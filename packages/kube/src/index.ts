/**
 * @nth/kube: Kubernetes access shared by nth's libraries.
 *
 * @since 0.1.0
 */

/**
 * The client: one keep-alive connection, cancellable calls with timeouts, watches as streams.
 *
 * @since 0.1.0
 */
export * as KubeClient from "./KubeClient.ts"

/**
 * The error every failed call raises, with a closed `reason`.
 *
 * @since 0.1.0
 */
export * as KubeError from "./KubeError.ts"

/**
 * One list-then-watch loop (relists on `Gone`, resumes from the last resourceVersion, backs off with jitter), as
 * a stream of `Listed`, `Event`, `Up` and `Down` signals.
 *
 * @since 0.2.0
 */
export * as ListWatch from "./ListWatch.ts"
