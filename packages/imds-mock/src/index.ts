/**
 * @nth/imds-mock: an EC2 instance metadata service (IMDSv2) emulator for tests, controllable at run time.
 *
 * @since 0.1.0
 */

/**
 * The control inputs (Effect Schemas shared by the programmatic and the HTTP control API), what the mock
 * reports back, and its errors.
 *
 * @since 0.1.0
 */
export * as Control from "./Control.ts"
/**
 * Start a mock (Effect `make` / `layer`, or Promise `start`) and drive it: notices, scheduled events, faults,
 * virtual clock, request log.
 *
 * @since 0.1.0
 */
export * as ImdsMock from "./ImdsMock.ts"
