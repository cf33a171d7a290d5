/**
 * What the AWS SDK v3 throws, read once for every client of this package (SQS, EC2, Auto Scaling): the error's
 * name and protocol code, the system code of a failed connection, the HTTP status, the message. Each module keeps
 * its own table of which codes mean what for its service.
 */

export interface SdkErrorFields {
  /** The SDK's error name (`QueueDoesNotExist`, `TimeoutError`, `CredentialsProviderError`, …). */
  readonly name: string | undefined
  /** The Query-protocol code the SDK keeps beside the name (`AWS.SimpleQueueService.NonExistentQueue`). */
  readonly Code: string | undefined
  /** The system code of a connection that failed (`ECONNRESET`, `UND_ERR_SOCKET`, …). */
  readonly code: string | undefined
  /** The HTTP status, when an answer came. */
  readonly status: number | undefined
  /** The message, or the error as text when it has none. */
  readonly message: string
}

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

export const fieldsOf = (error: unknown): SdkErrorFields => {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    readonly name?: unknown
    readonly code?: unknown
    readonly Code?: unknown
    readonly message?: unknown
    readonly $metadata?: { readonly httpStatusCode?: unknown }
  }
  const message = text(e.message)
  return {
    name: text(e.name),
    Code: text(e.Code),
    code: text(e.code),
    status: typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined,
    message: message !== undefined && message !== "" ? message : String(error)
  }
}

/** System codes of a connection that failed or was cut: no answer came. */
export const networkCodes: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT"
])

/** No HTTP answer at all: a failed connection (`code`), or the SDK's own timeout or abort. */
export const isNoAnswer = (fields: SdkErrorFields, code: string | undefined): boolean =>
  fields.status === undefined &&
  ((code !== undefined && networkCodes.has(code)) ||
    fields.name === "TimeoutError" ||
    fields.name === "AbortError")
