/**
 * @nth/drainer: `kubectl drain` for JavaScript.
 *
 * @since 0.1.0
 */

/**
 * A deadline that may move earlier while a drain runs (a second notice for a node being drained).
 *
 * @since 0.2.0
 */
export * as Deadline from "./Deadline.ts"
/**
 * Cordon, uncordon and drain a node (Effect and Promise APIs), with typed errors.
 *
 * @since 0.1.0
 */
export * as Drainer from "./Drainer.ts"

/**
 * What a drain did, pod by pod, and the progress events it emits.
 *
 * @since 0.1.0
 */
export * as DrainReport from "./DrainReport.ts"

/**
 * kubectl's rules for which pods a drain removes, skips or refuses, and the way to add your own.
 *
 * @since 0.1.0
 */
export * as PodFilter from "./PodFilter.ts"
