/**
 * One error for every failed Kubernetes API call, with a closed `reason` so callers branch on what happened
 * (`NotFound`, `Conflict`, `TooManyRequests`, …) rather than on status codes and message texts.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why a call failed.
 *
 * - `NotFound` (404), `Conflict` (409: resourceVersion or UID precondition), `Invalid` (400, 422),
 *   `Unauthorized` (401), `Forbidden` (403), `Gone` (410: a watch's resourceVersion is too old).
 * - `TooManyRequests` (429): API priority and fairness, or an eviction refused by a PodDisruptionBudget (then
 *   `causes` holds a `DisruptionBudget` cause).
 * - `InternalError` (500), `Unavailable` (502, 503, 504).
 * - `Timeout`: no answer within the client's request timeout. `Transport`: no HTTP answer at all.
 * - `Unknown`: anything else.
 *
 * @category models
 * @since 0.1.0
 */
export const Reason = Schema.Literals([
  "NotFound",
  "Conflict",
  "Invalid",
  "Unauthorized",
  "Forbidden",
  "Gone",
  "TooManyRequests",
  "InternalError",
  "Unavailable",
  "Timeout",
  "Transport",
  "Unknown"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * A cause listed in a Kubernetes `Status` (`details.causes`), e.g. `{ reason: "DisruptionBudget", message: … }`.
 *
 * @category models
 * @since 0.1.0
 */
export const StatusCause = Schema.Struct({
  reason: Schema.optionalKey(Schema.String),
  message: Schema.optionalKey(Schema.String),
  field: Schema.optionalKey(Schema.String)
})

/**
 * @category errors
 * @since 0.1.0
 */
export class KubeError extends Schema.TaggedError<KubeError>()("KubeError", {
  /** What was being done, e.g. `evict pod default/web-1`. */
  operation: Schema.String,
  reason: Reason,
  /** The HTTP status, when the server answered. */
  status: Schema.optionalKey(Schema.Number),
  message: Schema.String,
  /** The server's `details.retryAfterSeconds` (or `Retry-After` header). */
  retryAfterSeconds: Schema.optionalKey(Schema.Number),
  causes: Schema.optionalKey(Schema.Array(StatusCause))
}) {}

const reasonOfStatus = (status: number): Reason => {
  switch (status) {
    case 400:
    case 422:
      return "Invalid"
    case 401:
      return "Unauthorized"
    case 403:
      return "Forbidden"
    case 404:
      return "NotFound"
    case 409:
      return "Conflict"
    case 410:
      return "Gone"
    case 429:
      return "TooManyRequests"
    case 500:
      return "InternalError"
    case 502:
    case 503:
    case 504:
      return "Unavailable"
    default:
      return "Unknown"
  }
}

interface KubernetesStatus {
  readonly message?: string
  readonly reason?: string
  readonly details?: {
    readonly causes?: ReadonlyArray<{ reason?: string; message?: string; field?: string }>
    readonly retryAfterSeconds?: number
  }
}

// client-node hands undeclared statuses (404, 409, 429, 500, …) over as the raw response text.
const parseStatus = (body: unknown): KubernetesStatus | undefined => {
  if (typeof body === "object" && body !== null) return body as KubernetesStatus
  if (typeof body !== "string") return undefined
  try {
    return JSON.parse(body) as KubernetesStatus
  } catch {
    return undefined
  }
}

const causesOf = (status: KubernetesStatus | undefined) =>
  status?.details?.causes?.map((cause) => ({
    ...(cause.reason === undefined ? {} : { reason: cause.reason }),
    ...(cause.message === undefined ? {} : { message: cause.message }),
    ...(cause.field === undefined ? {} : { field: cause.field })
  }))

const isHttpError = (
  error: unknown
): error is { readonly code: number; readonly body: unknown; readonly headers?: Record<string, string> } =>
  typeof error === "object" &&
  error !== null &&
  typeof (error as { code?: unknown }).code === "number" &&
  "body" in error

/**
 * The `KubeError` for whatever a call threw.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromUnknown = (operation: string, error: unknown): KubeError => {
  if (error instanceof KubeError) return error
  // client-node's ApiException and nth's own HTTP errors carry the same three fields.
  if (isHttpError(error)) {
    const status = parseStatus(error.body)
    const header = Number(error.headers?.["retry-after"])
    const retryAfter = status?.details?.retryAfterSeconds ?? (Number.isFinite(header) ? header : undefined)
    const causes = causesOf(status)
    return new KubeError({
      operation,
      reason: reasonOfStatus(error.code),
      status: error.code,
      message: status?.message ?? `HTTP ${error.code}`,
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
      ...(causes === undefined ? {} : { causes })
    })
  }
  const message = error instanceof Error ? error.message : String(error)
  const name = error instanceof Error ? error.name : ""
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  if (typeof statusCode === "number") {
    return new KubeError({ operation, reason: reasonOfStatus(statusCode), status: statusCode, message })
  }
  return new KubeError({
    operation,
    reason: name === "TimeoutError" ? "Timeout" : "Transport",
    message
  })
}

/**
 * Whether waiting and trying again may succeed: throttling, server errors, timeouts and lost connections.
 * An eviction refused by a budget is `TooManyRequests` too; drainers handle it before asking this.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isTransient = (error: KubeError): boolean =>
  error.reason === "TooManyRequests" ||
  error.reason === "Unavailable" ||
  error.reason === "InternalError" ||
  error.reason === "Timeout" ||
  error.reason === "Transport"

/**
 * No usable cluster connection could be built from the configuration: a `KUBECONFIG` (or `~/.kube/config`) that
 * does not exist, is not YAML, has no current context or cluster, or names credentials nth cannot use. A setting
 * to fix, not a failed call: programs report it as bad settings.
 *
 * @category errors
 * @since 0.2.0
 */
export class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  message: Schema.String
}) {}
