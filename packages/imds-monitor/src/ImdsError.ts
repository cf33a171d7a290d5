/**
 * One error for every failed instance metadata read, with a closed `reason` so callers branch on what happened
 * (throttled, timed out, no token, a body that makes no sense) rather than on status codes and message texts.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why a read failed.
 *
 * - `Timeout`: no answer within the client's request timeout. `Transport`: no HTTP answer at all (connection
 *   refused or reset).
 * - `Throttled` (429), `ServerError` (5xx): IMDS is busy or broken; retried.
 * - `Unauthorized` (401 even with a fresh token), `Forbidden` (403: IMDS or the path is disabled).
 * - `TokenUnavailable`: no IMDSv2 session token could be had and IMDSv1 is not allowed.
 * - `MalformedResponse`: IMDS answered 200 with a body that is not what the path serves (bad JSON, a bad date, an
 *   unknown value, bytes that are not UTF-8).
 * - `UnexpectedStatus`: any other status, including 404 on a path that must exist.
 *
 * @category models
 * @since 0.1.0
 */
export const Reason = Schema.Literals([
  "Timeout",
  "Transport",
  "Throttled",
  "ServerError",
  "Unauthorized",
  "Forbidden",
  "TokenUnavailable",
  "MalformedResponse",
  "UnexpectedStatus"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * @category errors
 * @since 0.1.0
 */
export class ImdsError extends Schema.TaggedError<ImdsError>()("ImdsError", {
  reason: Reason,
  /** The path read, e.g. `/latest/meta-data/spot/instance-action` (`/latest/api/token` for the token). */
  path: Schema.String,
  message: Schema.String,
  /** The HTTP status, when IMDS answered. */
  status: Schema.optionalKey(Schema.Number)
}) {}

/**
 * The reason for an HTTP status other than 200 and 404.
 *
 * @category constructors
 * @since 0.1.0
 */
export const reasonOfStatus = (status: number): Reason => {
  if (status === 401) return "Unauthorized"
  if (status === 403) return "Forbidden"
  if (status === 429) return "Throttled"
  if (status >= 500 && status <= 599) return "ServerError"
  return "UnexpectedStatus"
}

/**
 * Whether waiting and trying again may succeed: throttling, server errors, timeouts and lost connections, and a
 * token that could not be had for one of those reasons (no status, 429 or 5xx). A refused token (403, 400) or a
 * malformed body is not retried: the same request would get the same answer.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isTransient = (error: ImdsError): boolean => {
  switch (error.reason) {
    case "Timeout":
    case "Transport":
    case "Throttled":
    case "ServerError":
      return true
    case "TokenUnavailable":
      return error.status === undefined || error.status === 429 || error.status >= 500
    default:
      return false
  }
}
