/**
 * Readiness: whether the program can do its work now, from the health of each dependency it needs (IMDS, the
 * API server, SQS). Served at `/readyz` beside the Go handler's liveness endpoint: liveness stays OK while a
 * dependency is down (a restart would not bring it back, and a crash loop only delays the recovery), readiness
 * says "not ready" and names what is down, so a rollout waits and an operator sees why.
 *
 * @since 0.3.0
 */

/**
 * One dependency's health: ready, or not with the reason (the last error, or that it has not answered yet).
 *
 * @category models
 * @since 0.3.0
 */
export interface Health {
  readonly ready: boolean
  readonly reason?: string | undefined
}

/**
 * Each dependency's health, read when the probe asks.
 *
 * @category models
 * @since 0.3.0
 */
export type Checks = Readonly<Record<string, () => Health>>

/**
 * The probe's answer: ready when every dependency is.
 *
 * @category models
 * @since 0.3.0
 */
export interface Report {
  readonly ready: boolean
  readonly dependencies: Readonly<Record<string, Health>>
}

/**
 * Reads every check once.
 *
 * @category getters
 * @since 0.3.0
 */
export const report = (checks: Checks): Report => {
  const dependencies: Record<string, Health> = {}
  let ready = true
  for (const [name, check] of Object.entries(checks)) {
    let health: Health
    try {
      health = check()
    } catch (error) {
      health = { ready: false, reason: `its check failed: ${String(error)}` }
    }
    dependencies[name] = health.ready ? { ready: true } : { ready: false, reason: health.reason }
    ready &&= health.ready
  }
  return { ready, dependencies }
}

/**
 * A health set by hand, for a dependency whose client does not track its own: not ready with `initialReason`
 * until the first `up()`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const tracker = (
  initialReason: string
): { readonly health: () => Health; readonly up: () => void; readonly down: (reason: string) => void } => {
  let current: Health = { ready: false, reason: initialReason }
  return {
    health: () => current,
    up: () => {
      current = { ready: true }
    },
    down: (reason) => {
      current = { ready: false, reason }
    }
  }
}
