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
 * `accountId` is absent when the identity document could not be read and the individual paths were used
 * instead (no metadata path gives the account). `publicHostname` and `publicIpv4` are absent for instances
 * without a public address.
 *
 * @category schemas
 * @since 0.1.0
 */
export const NodeIdentity = Schema.Struct({
  instanceId: InterruptionEvent.InstanceId,
  instanceType: Schema.NonEmptyString,
  availabilityZone: Schema.NonEmptyString,
  region: Schema.NonEmptyString,
  localHostname: Schema.NonEmptyString,
  localIpv4: Schema.NonEmptyString,
  accountId: Schema.optionalKey(Schema.NonEmptyString),
  instanceLifeCycle: Schema.Literals(["spot", "on-demand", "scheduled"]),
  publicHostname: Schema.optionalKey(Schema.NonEmptyString),
  publicIpv4: Schema.optionalKey(Schema.NonEmptyString)
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
  /** The instance's identity, read once and then remembered (a failed read is tried again next time). */
  readonly identity: Effect.Effect<NodeIdentity, ImdsError>
  /** The base URL requests go to, without a trailing slash. */
  readonly endpoint: string
  /** How many HTTP requests (token and reads, retries included) this client has sent: for metrics and tests. */
  readonly requestCount: () => number
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
  "To read IMDS without a token instead (instances with HttpTokens=optional only), set ENABLE_IMDSV1_FALLBACK=true " +
  "(option allowImdsV1Fallback)."

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

const IdentityDocument = Schema.fromJsonString(
  Schema.Struct({
    accountId: Schema.String,
    instanceId: Schema.String,
    instanceType: Schema.String,
    privateIp: Schema.String,
    availabilityZone: Schema.String,
    region: Schema.String
  })
)
const decodeIdentityDocument = Schema.decodeUnknownResult(IdentityDocument)
const decodeNodeIdentity = Schema.decodeUnknownResult(NodeIdentity, { errors: "all" })

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

    const get: Service["get"] = (path) =>
      readOnce(path).pipe(Effect.retry({ schedule: retrySchedule, times: tries - 1, while: isTransient }))

    // -----------------------------------------------------------------------------------------------------------
    // Identity
    // -----------------------------------------------------------------------------------------------------------

    const required = (path: string) =>
      Effect.flatMap(get(path), (body) =>
        body === undefined
          ? Effect.fail(
              new ImdsError({
                reason: "UnexpectedStatus",
                path,
                status: 404,
                message: "IMDS has no such path (404)"
              })
            )
          : Effect.succeed(body.trim())
      )

    const optional = (path: string) =>
      Effect.map(get(path), (body) => (body === undefined || body.trim() === "" ? undefined : body.trim()))

    // The Go handler's order: the signed identity document, or the individual paths when it cannot be decoded.
    const placement = Effect.gen(function* () {
      const document = yield* get(identityDocumentPath).pipe(
        Effect.map((body) =>
          body === undefined ? undefined : Result.getSuccess(decodeIdentityDocument(body))
        ),
        Effect.catchIf(
          (error) => error.reason === "MalformedResponse" || error.reason === "UnexpectedStatus",
          () => Effect.succeed(undefined)
        )
      )
      if (document !== undefined && document._tag === "Some") {
        const { accountId, instanceId, instanceType, privateIp, availabilityZone, region } = document.value
        return { accountId, instanceId, instanceType, localIpv4: privateIp, availabilityZone, region }
      }
      const instanceId = yield* required(`${metaData}/instance-id`)
      const instanceType = yield* required(`${metaData}/instance-type`)
      const localIpv4 = yield* required(`${metaData}/local-ipv4`)
      const availabilityZone = yield* required(`${metaData}/placement/availability-zone`)
      // As the Go handler: the region is the zone without its letter (`us-east-1a` → `us-east-1`).
      return {
        accountId: undefined,
        instanceId,
        instanceType,
        localIpv4,
        availabilityZone,
        region: availabilityZone.slice(0, -1)
      }
    })

    const readIdentity = Effect.gen(function* () {
      const place = yield* placement
      const instanceLifeCycle = yield* required(`${metaData}/instance-life-cycle`)
      const localHostname = yield* required(`${metaData}/local-hostname`)
      const publicHostname = yield* optional(`${metaData}/public-hostname`)
      const publicIpv4 = yield* optional(`${metaData}/public-ipv4`)
      const decoded = decodeNodeIdentity({
        instanceId: place.instanceId,
        instanceType: place.instanceType,
        availabilityZone: place.availabilityZone,
        region: place.region,
        localHostname,
        localIpv4: place.localIpv4,
        ...(place.accountId === undefined || place.accountId === "" ? {} : { accountId: place.accountId }),
        instanceLifeCycle,
        ...(publicHostname === undefined ? {} : { publicHostname }),
        ...(publicIpv4 === undefined ? {} : { publicIpv4 })
      })
      return yield* Effect.fromResult(
        Result.mapError(
          decoded,
          (error) =>
            new ImdsError({
              reason: "MalformedResponse",
              path: identityDocumentPath,
              message: `the instance identity is not valid: ${error.message}`
            })
        )
      )
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
                : Effect.tap(readIdentity, (read) =>
                    Effect.sync(() => {
                      identity = read
                    })
                  )
            )
          )
    )

    return ImdsClient.of({ get, identity: cachedIdentity, endpoint, requestCount: () => requests })
  })

/**
 * The client as a layer; its connections are closed when the layer is released.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<ImdsClient> =>
  Layer.effect(ImdsClient, make(options))
