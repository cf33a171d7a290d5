/**
 * @nth/runtime: what every nth program shares.
 *
 * @since 0.2.0
 */

/**
 * The probes and metrics HTTP servers.
 *
 * @since 0.2.0
 */
export * as HttpServer from "./HttpServer.ts"

/**
 * Start, settings, logging, servers, signals and exit codes.
 *
 * @since 0.2.0
 */
export * as Program from "./Program.ts"
/**
 * Whether the program's dependencies answer, for the readiness probe.
 *
 * @since 0.3.0
 */
export * as Readiness from "./Readiness.ts"
/**
 * Bounded concurrent handling with a graceful stop.
 *
 * @since 0.2.0
 */
export * as Runner from "./Runner.ts"
