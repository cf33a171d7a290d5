/**
 * An IMDSv2 client for the instance metadata service, over `node:http` with one keep-alive agent (the DaemonSet
 * that polls IMDS has a small memory budget, so no HTTP library).
 *
 * - **Session token**: `PUT /latest/api/token` once, reused until shortly before its TTL runs out, fetched again
 *   after a 401 (and the request repeated once). Concurrent reads share one token fetch.
 * - **IMDSv1 fallback** only when allowed: if no token can be had, reads go out without one, and the token is
 *   tried again after a while rather than before every read. Without the fallback, a missing token is a
 *   `TokenUnavailable` error that says how to fix it.
 * - **Retries**: throttling (429), server errors (5xx), timeouts and lost connections are retried with jittered
 *   exponential backoff, `tries` attempts in all (`METADATA_TRIES`).
 * - **Timeouts**: every HTTP request (token or read) is abandoned after `requestTimeout`.
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import { InterruptionEvent } from "@nth/events"
import {
  Clock,
  Context,
  Duration,
  Effect,
  Layer,
  Result,
  Schedule,
  Schema,
  type Scope,
  Semaphore
} from "effect"
import { ImdsError, isTransient, reasonOfStatus } from "./ImdsError.ts"

// ---------------------------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------------------------

/**
 * The instance nth runs on, as IMDS describes it at start-up.
 *
 * Only `instanceId` is essential (every event names it); every other field is best effort, absent when IMDS did
 * not give it, and taken as IMDS wrote it (an instance life cycle other than spot, on-demand or scheduled, a
 * hostname nth has never seen): describing the instance must never stop nth from acting on a notice.
 * `accountId` comes only from the identity document; `region`, when the document is unreadable, is the zone
 * without its letter, as the Go handler derives it.
 *
 * @category schemas
 * @since 0.1.0
 */
export const NodeIdentity = Schema.Struct({
  instanceId: InterruptionEvent.InstanceId,
  instanceType: Schema.optionalKey(Schema.String),
  availabilityZone: Schema.optionalKey(Schema.String),
  region: Schema.optionalKey(Schema.String),
  localHostname: Schema.optionalKey(Schema.String),
  localIpv4: Schema.optionalKey(Schema.String),
  accountId: Schema.optionalKey(Schema.String),
  instanceLifeCycle: Schema.optionalKey(Schema.String),
  publicHostname: Schema.optionalKey(Schema.String),
  publicIpv4: Schema.optionalKey(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export interface NodeIdentity extends Schema.Schema.Type<typeof NodeIdentity> {}

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /**
   * Reads a metadata path (e.g. `/latest/meta-data/spot/instance-action`): its body, or `undefined` when IMDS
   * answers 404 (for the notice paths: no notice right now).
   */
  readonly get: (path: string) => Effect.Effect<string | undefined, ImdsError>
  /**
   * The instance's identity, remembered once read in full. It fails only when the instance id cannot be had;
   * a field that could not be read (an error, not a 404) is left out and the identity is read again next time.
   */
  readonly identity: Effect.Effect<NodeIdentity, ImdsError>
  /** The base URL requests go to, without a trailing slash. */
  readonly endpoint: string
  /** How many HTTP requests (token and reads, retries included) this client has sent: for metrics and tests. */
  readonly requestCount: () => number
  /**
   * Whether IMDS answers: the outcome of the last read (after its retries), for a readiness probe. Not ready
   * until the first read is answered; a 404 counts as an answer.
   *
   * @since 0.3.0
   */
  readonly health: () => { readonly ready: boolean; readonly reason?: string | undefined }
}

/**
 * @category services
 * @since 0.1.0
 */
export class ImdsClient extends Context.Service<ImdsClient, Service>()("@nth/imds-monitor/ImdsClient") {}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** IMDS's base URL (`INSTANCE_METADATA_URL`). Default `http://169.254.169.254`. */
  readonly endpoint?: string | undefined
  /** How long one HTTP request may take. Default 2 seconds, the Go handler's. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Attempts per read, the first included (`METADATA_TRIES`). Default 3. */
  readonly tries?: number | undefined
  /** The first retry's delay, doubled for each further retry (with ±20% jitter, at most 4 s). Default 250 ms. */
  readonly retryBaseDelay?: Duration.Input | undefined
  /** The lifetime asked for a session token, 1 to 21600. Default 21600 (6 hours, the most IMDS grants). */
  readonly tokenTtlSeconds?: number | undefined
  /** A token is replaced when less than this remains of its lifetime (at most half of it). Default 60 s. */
  readonly tokenRefreshMargin?: Duration.Input | undefined
  /**
   * Read without a token (IMDSv1) when no token can be had. Only works on instances with `HttpTokens=optional`.
   * Default `false`.
   */
  readonly allowImdsV1Fallback?: boolean | undefined
  /** With the fallback in use, how long to read without a token before trying to get one again. Default 60 s. */
  readonly tokenRetryInterval?: Duration.Input | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------------------------

const tokenPath = "/latest/api/token"
const tokenHeader = "x-aws-ec2-metadata-token"
const ttlHeader = "x-aws-ec2-metadata-token-ttl-seconds"
const metaData = "/latest/meta-data"
const identityDocumentPath = "/latest/dynamic/instance-identity/document"
// Metadata bodies are small (the largest, user data, is capped at 16 KiB); anything much bigger is not IMDS.
const maxBodyBytes = 256 * 1024
const maxRetryDelay = Duration.seconds(4)

const tokenHelp =
  "If nth runs in a container without host networking, the token's answer may not reach it: raise the " +
  "instance's metadata hop limit to 2 (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2). " +
  "To read IMDS without a token instead (instances with HttpTokens=optional only), allow the IMDSv1 fallback: " +
  "ENABLE_IMDSV1_FALLBACK=true, the DaemonSet program's default (option allowImdsV1Fallback)."

interface RawResponse {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Buffer
}

type TokenState =
  | { readonly _tag: "None" }
  | { readonly _tag: "Token"; readonly token: string; readonly expiresAt: number }
  | { readonly _tag: "Tokenless"; readonly retryAt: number }

const utf8 = new TextDecoder("utf-8", { fatal: true })

const decodeBody = (path: string, body: Buffer): Result.Result<string, ImdsError> => {
  try {
    return Result.succeed(utf8.decode(body))
  } catch {
    return Result.fail(
      new ImdsError({ reason: "MalformedResponse", path, status: 200, message: "the body is not UTF-8 text" })
    )
  }
}

const describeFailure = (error: ImdsError): string =>
  error.status === undefined ? error.message : `HTTP ${error.status}`

// Every field optional: a document missing one still gives the others (the missing ones are read one by one).
const IdentityDocument = Schema.fromJsonString(
  Schema.Struct({
    accountId: Schema.optionalKey(Schema.String),
    instanceId: Schema.optionalKey(Schema.String),
    instanceType: Schema.optionalKey(Schema.String),
    privateIp: Schema.optionalKey(Schema.String),
    availabilityZone: Schema.optionalKey(Schema.String),
    region: Schema.optionalKey(Schema.String)
  })
)
type IdentityDocument = typeof IdentityDocument.Type
const decodeIdentityDocument = Schema.decodeUnknownResult(IdentityDocument)
const isInstanceId = Schema.is(InterruptionEvent.InstanceId)

const nonEmpty = (text: string | undefined): string | undefined => {
  const trimmed = text?.trim()
  return trimmed === undefined || trimmed === "" ? undefined : trimmed
}

const parseEndpoint = (endpoint: string): URL => {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new Error(`The IMDS endpoint ${JSON.stringify(endpoint)} is not a URL`)
  }
  if (url.protocol !== "http:") {
    throw new Error(
      `The IMDS endpoint ${JSON.stringify(endpoint)} must be an http:// URL (IMDS speaks plain HTTP)`
    )
  }
  return url
}

/**
 * Builds a client. Its keep-alive connections are closed when the scope ends. An endpoint that is not an
 * `http://` URL is a defect (settings are validated before this point).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const url = yield* Effect.try({
      try: () => parseEndpoint(options.endpoint ?? "http://169.254.169.254"),
      catch: (e) => e
    }).pipe(Effect.orDie)
    const basePath = url.pathname.replace(/\/+$/, "")
    const endpoint = `${url.origin}${basePath}`
    const timeout = Duration.fromInputUnsafe(options.requestTimeout ?? "2 seconds")
    const tries = Math.max(1, Math.floor(options.tries ?? 3))
    const ttlSeconds = Math.min(21_600, Math.max(1, Math.floor(options.tokenTtlSeconds ?? 21_600)))
    const refreshMarginMs = Math.min(
      Duration.toMillis(Duration.fromInputUnsafe(options.tokenRefreshMargin ?? "60 seconds")),
      (ttlSeconds * 1000) / 2
    )
    const allowV1 = options.allowImdsV1Fallback ?? false
    const tokenRetryMs = Duration.toMillis(
      Duration.fromInputUnsafe(options.tokenRetryInterval ?? "60 seconds")
    )
    const retrySchedule = Schedule.min([
      Schedule.exponential(options.retryBaseDelay ?? "250 millis"),
      Schedule.spaced(maxRetryDelay)
    ]).pipe(Schedule.jittered)

    // One agent for every request: connections stay open between polls instead of a handshake every 2 s.
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Http.Agent({ keepAlive: true, maxSockets: 8, maxFreeSockets: 4 })),
      (agent) => Effect.sync(() => agent.destroy())
    )
    let requests = 0

    /** One HTTP exchange, abandoned (and its socket destroyed) on timeout or interruption. */
    const send = (method: "GET" | "PUT", path: string, headers: Http.OutgoingHttpHeaders) =>
      Effect.callback<RawResponse, ImdsError>((resume) => {
        let settled = false
        const settle = (effect: Effect.Effect<RawResponse, ImdsError>) => {
          if (settled) return
          settled = true
          resume(effect)
        }
        const transport = (error: Error) =>
          settle(Effect.fail(new ImdsError({ reason: "Transport", path, message: error.message })))
        requests += 1
        const request = Http.request({
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: `${basePath}${path}`,
          method,
          headers,
          agent
        })
        request.on("response", (response) => {
          const chunks: Array<Buffer> = []
          let size = 0
          response.on("data", (chunk: Buffer) => {
            size += chunk.length
            if (size <= maxBodyBytes) {
              chunks.push(chunk)
              return
            }
            settle(
              Effect.fail(
                new ImdsError({
                  reason: "MalformedResponse",
                  path,
                  status: response.statusCode ?? 0,
                  message: `the body is larger than ${maxBodyBytes} bytes`
                })
              )
            )
            request.destroy()
          })
          response.on("end", () =>
            settle(
              Effect.succeed({
                status: response.statusCode ?? 0,
                headers: response.headers,
                body: Buffer.concat(chunks)
              })
            )
          )
          response.on("error", transport)
          response.on("close", () => {
            if (!response.complete)
              transport(new Error("the connection closed before the answer was complete"))
          })
        })
        request.on("error", transport)
        request.end()
        return Effect.sync(() => {
          settled = true
          request.destroy()
        })
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new ImdsError({ reason: "Timeout", path, message: `no answer in ${Duration.format(timeout)}` })
            )
        })
      )

    // -----------------------------------------------------------------------------------------------------------
    // Token
    // -----------------------------------------------------------------------------------------------------------

    let tokenState: TokenState = { _tag: "None" }
    let readingWithoutToken = false
    const tokenLock = yield* Semaphore.make(1)

    /** The token to use now: `string`, `undefined` to go without, or `null` when one must be fetched. */
    const cachedToken = (now: number): string | undefined | null => {
      switch (tokenState._tag) {
        case "Token":
          return tokenState.expiresAt - refreshMarginMs > now ? tokenState.token : null
        case "Tokenless":
          return tokenState.retryAt > now ? undefined : null
        case "None":
          return null
      }
    }

    const requestToken = Effect.gen(function* () {
      const response = yield* send("PUT", tokenPath, { [ttlHeader]: String(ttlSeconds) })
      if (response.status !== 200) {
        return yield* new ImdsError({
          reason: reasonOfStatus(response.status),
          path: tokenPath,
          status: response.status,
          message: `IMDS answered ${response.status}`
        })
      }
      const token = yield* Effect.fromResult(decodeBody(tokenPath, response.body))
      if (token.trim() === "") {
        return yield* new ImdsError({
          reason: "MalformedResponse",
          path: tokenPath,
          message: "the token is empty"
        })
      }
      // IMDS may grant less than was asked for; its answer is what counts.
      const granted = Number(response.headers[ttlHeader])
      return {
        token: token.trim(),
        ttlSeconds: Number.isInteger(granted) && granted > 0 ? granted : ttlSeconds
      }
    })

    const fetchToken = Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const result = yield* Effect.result(requestToken)
      if (Result.isSuccess(result)) {
        if (readingWithoutToken) yield* Effect.logInfo("IMDSv2 session token obtained; reading IMDS with it")
        readingWithoutToken = false
        // Counted from before the request: the token cannot outlive what IMDS granted.
        tokenState = {
          _tag: "Token",
          token: result.success.token,
          expiresAt: startedAt + result.success.ttlSeconds * 1000
        }
        return result.success.token as string | undefined
      }
      const cause = result.failure
      const unavailable = new ImdsError({
        reason: "TokenUnavailable",
        path: tokenPath,
        ...(cause.status === undefined ? {} : { status: cause.status }),
        message: `No IMDSv2 session token (PUT ${tokenPath}: ${describeFailure(cause)}). ${tokenHelp}`
      })
      if (!allowV1) {
        tokenState = { _tag: "None" }
        return yield* unavailable
      }
      // Said once when the fallback starts, not on every later failed attempt.
      if (!readingWithoutToken) {
        readingWithoutToken = true
        yield* Effect.logWarning(
          `No IMDSv2 session token (PUT ${tokenPath}: ${describeFailure(cause)}); reading IMDS without a token ` +
            `(IMDSv1) and trying again in ${Duration.format(Duration.millis(tokenRetryMs))}`
        )
      }
      tokenState = { _tag: "Tokenless", retryAt: startedAt + tokenRetryMs }
      return undefined
    })

    const currentToken: Effect.Effect<string | undefined, ImdsError> = Effect.gen(function* () {
      const cached = cachedToken(yield* Clock.currentTimeMillis)
      if (cached !== null) return cached
      // Several monitors poll at once: the first fetches, the others find its token when they get the permit.
      return yield* tokenLock.withPermits(1)(
        Effect.gen(function* () {
          const again = cachedToken(yield* Clock.currentTimeMillis)
          return again !== null ? again : yield* fetchToken
        })
      )
    })

    /** Forgets a token IMDS refused (unless another fiber already replaced it). */
    const forget = (token: string | undefined) =>
      Effect.sync(() => {
        if (
          token === undefined
            ? tokenState._tag === "Tokenless"
            : tokenState._tag === "Token" && tokenState.token === token
        )
          tokenState = { _tag: "None" }
      })

    // -----------------------------------------------------------------------------------------------------------
    // Reads
    // -----------------------------------------------------------------------------------------------------------

    const readOnce = (path: string) =>
      Effect.gen(function* () {
        const headersFor = (token: string | undefined): Http.OutgoingHttpHeaders =>
          token === undefined ? {} : { [tokenHeader]: token }
        let token = yield* currentToken
        let response = yield* send("GET", path, headersFor(token))
        // An expired or revoked token (or, without one, an instance that requires tokens): get a token and ask
        // once more.
        if (response.status === 401) {
          yield* forget(token)
          token = yield* currentToken
          response = yield* send("GET", path, headersFor(token))
        }
        if (response.status === 200) return yield* Effect.fromResult(decodeBody(path, response.body))
        if (response.status === 404) return undefined
        return yield* new ImdsError({
          reason: reasonOfStatus(response.status),
          path,
          status: response.status,
          message:
            response.status === 401
              ? token === undefined
                ? "IMDS requires a session token (401) and none could be had"
                : "IMDS refused a fresh session token (401)"
              : `IMDS answered ${response.status}`
        })
      })

    let health: ReturnType<Service["health"]> = { ready: false, reason: "IMDS has not answered yet" }
    const get: Service["get"] = (path) =>
      readOnce(path).pipe(
        Effect.retry({ schedule: retrySchedule, times: tries - 1, while: isTransient }),
        Effect.tap(() =>
          Effect.sync(() => {
            health = { ready: true }
          })
        ),
        Effect.tapError((error) =>
          Effect.sync(() => {
            health = { ready: false, reason: error.message }
          })
        )
      )

    // -----------------------------------------------------------------------------------------------------------
    // Identity
    // -----------------------------------------------------------------------------------------------------------

    const instanceIdPath = `${metaData}/instance-id`

    /** The one field the identity cannot do without. */
    const readInstanceId = Effect.gen(function* () {
      const body = nonEmpty(yield* get(instanceIdPath))
      if (body === undefined) {
        return yield* new ImdsError({
          reason: "UnexpectedStatus",
          path: instanceIdPath,
          status: 404,
          message: "IMDS has no instance id"
        })
      }
      if (!isInstanceId(body)) {
        return yield* new ImdsError({
          reason: "MalformedResponse",
          path: instanceIdPath,
          message: `${JSON.stringify(body)} is not an EC2 instance id`
        })
      }
      return body
    })

    // The Go handler's order: the identity document, then the individual paths for what it did not give. Only the
    // instance id is essential; anything else that cannot be read is left out, and the identity is not
    // remembered when a read failed (rather than found nothing), so that the next call completes it.
    const readIdentity = Effect.gen(function* () {
      let complete = true
      const bestEffort = (path: string) =>
        get(path).pipe(
          Effect.map(nonEmpty),
          Effect.catch((error) =>
            Effect.logDebug(`instance identity: ${path} unavailable: ${error.message}`).pipe(
              Effect.andThen(
                Effect.sync(() => {
                  complete = false
                  return undefined
                })
              )
            )
          )
        )
      const document: IdentityDocument = yield* get(identityDocumentPath).pipe(
        Effect.map((body) =>
          body === undefined ? {} : Result.getOrElse(decodeIdentityDocument(body), () => ({}))
        ),
        Effect.catch(() =>
          Effect.sync(() => {
            complete = false
            return {}
          })
        )
      )
      const fromDocument = (value: string | undefined, path: string) => {
        const given = nonEmpty(value)
        return given === undefined ? bestEffort(path) : Effect.succeed(given)
      }
      const documented = nonEmpty(document.instanceId)
      const instanceId =
        documented !== undefined && isInstanceId(documented) ? documented : yield* readInstanceId
      const instanceType = yield* fromDocument(document.instanceType, `${metaData}/instance-type`)
      const localIpv4 = yield* fromDocument(document.privateIp, `${metaData}/local-ipv4`)
      const availabilityZone = yield* fromDocument(
        document.availabilityZone,
        `${metaData}/placement/availability-zone`
      )
      // As the Go handler: without the document, the region is the zone without its letter (us-east-1a → us-east-1).
      const region = nonEmpty(document.region) ?? nonEmpty(availabilityZone?.slice(0, -1))
      const accountId = nonEmpty(document.accountId)
      const instanceLifeCycle = yield* bestEffort(`${metaData}/instance-life-cycle`)
      const localHostname = yield* bestEffort(`${metaData}/local-hostname`)
      const publicHostname = yield* bestEffort(`${metaData}/public-hostname`)
      const publicIpv4 = yield* bestEffort(`${metaData}/public-ipv4`)
      const fields = {
        instanceType,
        availabilityZone,
        region,
        localHostname,
        localIpv4,
        accountId,
        instanceLifeCycle,
        publicHostname,
        publicIpv4
      }
      const read: NodeIdentity = {
        instanceId,
        ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
      }
      return { read, complete }
    })

    let identity: NodeIdentity | undefined
    const identityLock = yield* Semaphore.make(1)
    const cachedIdentity = Effect.suspend(() =>
      identity !== undefined
        ? Effect.succeed(identity)
        : identityLock.withPermits(1)(
            Effect.suspend(() =>
              identity !== undefined
                ? Effect.succeed(identity)
                : Effect.map(readIdentity, ({ read, complete }) => {
                    if (complete) identity = read
                    return read
                  })
            )
          )
    )

    return ImdsClient.of({
      get,
      identity: cachedIdentity,
      endpoint,
      requestCount: () => requests,
      health: () => health
    })
  })

/**
 * The instance id, from the client's identity or, when that cannot be had, from `meta-data/instance-id` alone:
 * what a monitor needs to turn a notice into an event, so that no notice is lost to metadata nth does not need.
 *
 * @category getters
 * @since 0.1.0
 */
export const instanceIdOf = (client: Service): Effect.Effect<string, ImdsError> =>
  client.identity.pipe(
    Effect.map((identity) => identity.instanceId),
    Effect.catch((identityError) =>
      Effect.flatMap(client.get(`${metaData}/instance-id`), (body) => {
        const instanceId = nonEmpty(body)
        return instanceId === undefined
          ? Effect.fail(identityError)
          : Effect.as(
              Effect.logDebug(
                `instance identity unavailable (${identityError.message}); instance id read on its own`
              ),
              instanceId
            )
      })
    )
  )

/**
 * The client as a layer; its connections are closed when the layer is released.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<ImdsClient> =>
  Layer.effect(ImdsClient, make(options))
