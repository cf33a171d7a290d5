/**
 * What queue mode needs to know about an EC2 instance before it acts on a message: its private DNS name (the
 * name of its node, by the Go handler's default rule), its state, its placement and its tags (for the managed-tag
 * check), from EC2 `DescribeInstances`.
 *
 * The Go handler makes one `DescribeInstances` call per message, and none of them is remembered, so a burst of
 * messages (a Spot reclaim of a whole fleet, an AWS Health event naming hundreds of instances) is a burst of
 * calls, throttled by EC2 while the queue backs up. Here:
 *
 * - **Batched**: lookups arriving within a short window (`batchWindow`, 10 ms) share one call, up to
 *   `maxBatchSize` (100) instances per call, through Effect's `Request`/`RequestResolver`. The call filters on
 *   `instance-id` rather than passing `InstanceIds`, so an instance EC2 does not know is absent from the answer
 *   instead of failing the whole batch with `InvalidInstanceID.NotFound`.
 * - **Cached**: a private DNS name never changes, tags can, so an answer is kept `timeToLive` (60 s), an
 *   instance EC2 does not know `notFoundTimeToLive` (10 s: one that is just launching may not be visible yet),
 *   at most `capacity` instances (least recently used first out); concurrent lookups of one instance share one
 *   request. Failures are not kept.
 * - **Retried**: throttling (`RequestLimitExceeded`), server errors (5xx) and network failures are retried on a
 *   jittered exponential {@link Schedule} (the SDK's own retries are turned off, so that they do not multiply).
 * - **Typed**: an instance that does not exist is `undefined`, not an error; errors are
 *   {@link InstanceInfoError}s with a closed `reason`.
 *
 * `@aws-sdk/client-ec2` is loaded when {@link make} runs, not when this module is imported: it costs ~0.5 s and
 * ~130 MB, which a program that never builds this service should not pay.
 *
 * @since 0.1.0
 */
import type {
  DescribeInstancesRequest,
  DescribeInstancesResult,
  EC2Client,
  EC2ClientConfig,
  Instance as Ec2Instance
} from "@aws-sdk/client-ec2"
import {
  Cache,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Request,
  RequestResolver,
  Schedule,
  Schema,
  type Scope
} from "effect"
import * as SdkError from "./internal/sdkError.ts"

/**
 * What nth keeps of an instance.
 *
 * @category models
 * @since 0.1.0
 */
export interface Instance {
  readonly instanceId: string
  /** `""` when the instance has none (it is terminated, or still being launched). */
  readonly privateDnsName: string
  /** `pending`, `running`, `shutting-down`, `terminated`, `stopping` or `stopped`. */
  readonly state: string | undefined
  readonly availabilityZone: string | undefined
  /** `aws:///<availability zone>/<instance id>`, the `spec.providerID` of its node. */
  readonly providerId: string | undefined
  readonly instanceType: string | undefined
  /** From the tag `aws:autoscaling:groupName`. */
  readonly autoScalingGroupName: string | undefined
  /** The instance's tags, by key (a tag's value may be `""`). */
  readonly tags: Readonly<Record<string, string>>
  /**
   * `spot`, `scheduled` or `on-demand` (EC2 leaves `InstanceLifecycle` out for on-demand instances), and the
   * addresses: what IMDS would tell about the instance, for webhook templates in queue mode.
   *
   * @since 0.4.0
   */
  readonly lifeCycle?: string | undefined
  /** @since 0.4.0 */
  readonly privateIp?: string | undefined
  /** @since 0.4.0 */
  readonly publicDnsName?: string | undefined
  /** @since 0.4.0 */
  readonly publicIp?: string | undefined
  /** The AWS account that owns the instance (its reservation's `OwnerId`). @since 0.4.0 */
  readonly ownerId?: string | undefined
}

/**
 * Why a lookup failed.
 *
 * - `Throttled`: EC2 throttled the call (`RequestLimitExceeded`, HTTP 429) every time it was retried.
 * - `ServerError`: EC2 answered 5xx every time.
 * - `Unreachable`: no answer (connection refused or reset, DNS, the per-call timeout) every time.
 * - `Denied`: no credentials, or credentials EC2 refuses (`AuthFailure`, `UnauthorizedOperation`, 401, 403).
 * - `Failed`: anything else (a request EC2 rejects, a client without a region); not retried.
 *
 * The first three are retried before they are reported.
 *
 * @category models
 * @since 0.1.0
 */
export const Reason = Schema.Literals(["Throttled", "ServerError", "Unreachable", "Denied", "Failed"])

/**
 * @category models
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * `code` is the AWS error code (`RequestLimitExceeded`, `UnauthorizedOperation`, …) when there is one.
 *
 * @category errors
 * @since 0.1.0
 */
export class InstanceInfoError extends Schema.TaggedError<InstanceInfoError>()("InstanceInfoError", {
  reason: Reason,
  message: Schema.String,
  code: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number)
}) {}

const throttlingCodes = new Set([
  "RequestLimitExceeded",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "SlowDown"
])
const serverErrorCodes = new Set(["InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"])
const deniedCodes = new Set([
  "AuthFailure",
  "UnauthorizedOperation",
  "Blocked",
  "OptInRequired",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "RequestExpired",
  "CredentialsProviderError"
])

/**
 * Turns what an SDK call threw into an {@link InstanceInfoError}.
 *
 * @category errors
 * @since 0.1.0
 */
export const fromUnknown = (error: unknown): InstanceInfoError => {
  if (error instanceof InstanceInfoError) return error
  const fields = SdkError.fieldsOf(error)
  const { message, status } = fields
  const awsCode = [fields.Code, fields.name].find((value) => value !== undefined && value !== "")
  const code = status !== undefined ? awsCode : (fields.code ?? awsCode)
  const reason: Reason =
    (code !== undefined && throttlingCodes.has(code)) || status === 429
      ? "Throttled"
      : (code !== undefined && serverErrorCodes.has(code)) || (status !== undefined && status >= 500)
        ? "ServerError"
        : (code !== undefined && deniedCodes.has(code)) || status === 401 || status === 403
          ? "Denied"
          : SdkError.isNoAnswer(fields, code)
            ? "Unreachable"
            : "Failed"
  return new InstanceInfoError({
    reason,
    message,
    ...(code !== undefined && code !== "Error" ? { code } : {}),
    ...(status !== undefined ? { status } : {})
  })
}

/**
 * Whether a failure is worth another try: throttling, server errors and no answer.
 *
 * @category errors
 * @since 0.1.0
 */
export const isRetryable = (error: InstanceInfoError): boolean =>
  error.reason === "Throttled" || error.reason === "ServerError" || error.reason === "Unreachable"

/**
 * The default tag key of a managed instance (the Go handler's `MANAGED_TAG`).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultManagedTag = "aws-node-termination-handler/managed"

/**
 * The Go handler's managed check (`CHECK_TAG_BEFORE_DRAINING`, `MANAGED_TAG`): with `checkTag` (the default),
 * an instance is managed when it carries the tag key `managedTag`, whatever its value (`""` included); without,
 * every instance is.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isManaged = (
  instance: Pick<Instance, "tags">,
  options: { readonly checkTag?: boolean | undefined; readonly managedTag?: string | undefined } = {}
): boolean =>
  options.checkTag === false || Object.hasOwn(instance.tags, options.managedTag ?? defaultManagedTag)

const instanceIdPattern = /^i-[0-9a-f]{8,17}$/

/**
 * Whether `id` has the form of an EC2 instance id (`i-` and 8 or 17 hex digits). Lookups of anything else are
 * answered "not found" without a call.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isInstanceId = (id: string): boolean => instanceIdPattern.test(id)

/**
 * The one call the service makes: `DescribeInstances` with this request, cancelled through `signal`.
 *
 * @category models
 * @since 0.1.0
 */
export type DescribeInstances = (
  request: DescribeInstancesRequest,
  signal: AbortSignal
) => Promise<DescribeInstancesResult>

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The client to send with (one with middleware, say). Default: one built from `region`, `endpoint` and
   * `requestHandler`, with the SDK's own retries off, destroyed with the scope.
   */
  readonly client?: EC2Client | undefined
  /** Default: the SDK's (`AWS_REGION`, the shared config file). */
  readonly region?: string | undefined
  /**
   * An endpoint override (the Go handler's `AWS_ENDPOINT`, for tests against an emulator). Default: the SDK's
   * (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, else EC2's regional endpoint).
   */
  readonly endpoint?: string | undefined
  /**
   * How the client sends its requests (one that goes through a proxy, say). Default: the SDK's (a keep-alive
   * `NodeHttpHandler`, which ignores `HTTPS_PROXY`).
   */
  readonly requestHandler?: EC2ClientConfig["requestHandler"] | undefined
  /** How long a first lookup waits for others to share its call. Default 10 ms. */
  readonly batchWindow?: Duration.Input | undefined
  /** At most this many instances per call (a full batch is sent at once). Default 100. */
  readonly maxBatchSize?: number | undefined
  /** How long an instance's answer is kept. Default 60 s. */
  readonly timeToLive?: Duration.Input | undefined
  /** How long "not found" (or an instance without a private DNS name) is kept. Default 10 s. */
  readonly notFoundTimeToLive?: Duration.Input | undefined
  /** At most this many instances are kept. Default 5000. */
  readonly capacity?: number | undefined
  /** How long one call may take before it counts as `Unreachable` (and is retried). Default 10 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /**
   * The delays between attempts of a call that failed with a retryable error. Default {@link defaultRetry}.
   */
  readonly retry?: Schedule.Schedule<unknown, InstanceInfoError> | undefined
}

/**
 * 200 ms, doubling, five retries, each delay scaled by a random factor in [0.8, 1.2] (about 6 s in all before
 * the error is reported).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultRetry: Schedule.Schedule<unknown, InstanceInfoError> = Schedule.exponential(
  "200 millis"
).pipe(Schedule.jittered, Schedule.upTo({ times: 5 }))

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /**
   * The instance, or `undefined` when EC2 does not know it (never launched, gone for more than about an hour
   * after its termination, another account's or region's, or not an instance id at all).
   */
  readonly describe: (instanceId: string) => Effect.Effect<Instance | undefined, InstanceInfoError>
  /** Forgets what is kept of an instance: its next lookup asks EC2. */
  readonly invalidate: (instanceId: string) => Effect.Effect<void>
  /** How many `DescribeInstances` calls (attempts, pages) the service has sent. */
  readonly callCount: () => number
}

/**
 * @category services
 * @since 0.1.0
 */
export class InstanceInfo extends Context.Service<InstanceInfo, Service>()(
  "@nth/queue-monitor/InstanceInfo"
) {}

interface DescribeInstance extends Request.Request<Instance | undefined, InstanceInfoError> {
  readonly _tag: "DescribeInstance"
  readonly instanceId: string
}

const DescribeInstance = Request.tagged<DescribeInstance>("DescribeInstance")

const toInstance = (instance: Ec2Instance, instanceId: string): Instance => {
  const tags: Record<string, string> = Object.fromEntries(
    (instance.Tags ?? []).flatMap((tag) => (tag.Key === undefined ? [] : [[tag.Key, tag.Value ?? ""]]))
  )
  const zone = instance.Placement?.AvailabilityZone || undefined
  return {
    instanceId,
    privateDnsName: instance.PrivateDnsName ?? "",
    state: instance.State?.Name,
    availabilityZone: zone,
    providerId: zone === undefined ? undefined : `aws:///${zone}/${instanceId}`,
    instanceType: instance.InstanceType,
    autoScalingGroupName: tags["aws:autoscaling:groupName"],
    tags,
    lifeCycle: instance.InstanceLifecycle ?? "on-demand",
    privateIp: instance.PrivateIpAddress || undefined,
    publicDnsName: instance.PublicDnsName || undefined,
    publicIp: instance.PublicIpAddress || undefined
  }
}

// The instance ids an `InvalidInstanceID.*` message names ("The instance IDs 'i-1, i-2' do not exist").
const idsNamedIn = (message: string): ReadonlyArray<string> => message.match(/i-[0-9a-f]+/g) ?? []

/**
 * Builds the service on a given `DescribeInstances` (a stub, in tests). Everything but the client applies.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = (
  describeInstances: DescribeInstances,
  options: Options = {}
): Effect.Effect<Service> =>
  Effect.gen(function* () {
    const requestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? "10 seconds")
    const retry = options.retry ?? defaultRetry
    let calls = 0

    const attempt = (request: DescribeInstancesRequest) =>
      Effect.tryPromise({
        try: (signal) => {
          calls += 1
          return describeInstances(request, signal)
        },
        catch: fromUnknown
      }).pipe(
        Effect.timeoutOrElse({
          duration: requestTimeout,
          orElse: () =>
            Effect.fail(
              new InstanceInfoError({
                reason: "Unreachable",
                message: `DescribeInstances: no answer in ${Duration.format(requestTimeout)}`
              })
            )
        }),
        Effect.retry({ schedule: retry, while: isRetryable })
      )

    // One call (and its pages) for a set of ids: the instances EC2 returned, by id.
    const describeIds = (ids: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const found = new Map<string, Instance>()
        let nextToken: string | undefined
        do {
          const page: DescribeInstancesResult = yield* attempt({
            Filters: [{ Name: "instance-id", Values: [...ids] }],
            ...(nextToken === undefined ? {} : { NextToken: nextToken })
          })
          for (const reservation of page.Reservations ?? []) {
            for (const instance of reservation.Instances ?? []) {
              if (instance.InstanceId !== undefined)
                found.set(instance.InstanceId, {
                  ...toInstance(instance, instance.InstanceId),
                  ...(reservation.OwnerId ? { ownerId: reservation.OwnerId } : {})
                })
            }
          }
          nextToken = page.NextToken || undefined
        } while (nextToken !== undefined)
        return found
      })

    // A filter never fails for an unknown id, but EC2 (or an emulator) may still answer InvalidInstanceID.*:
    // the ids its message names are not found, and the others are asked again.
    const describeAll = (
      ids: ReadonlyArray<string>
    ): Effect.Effect<Map<string, Instance>, InstanceInfoError> =>
      describeIds(ids).pipe(
        Effect.catchIf(
          (error) => error.code?.startsWith("InvalidInstanceID") === true,
          (error) => {
            const named = new Set(idsNamedIn(error.message))
            const rest = ids.filter((id) => !named.has(id))
            return rest.length === 0 || rest.length === ids.length
              ? Effect.succeed(new Map<string, Instance>())
              : describeAll(rest)
          }
        )
      )

    const resolver = RequestResolver.make<DescribeInstance>((entries) =>
      describeAll([...new Set(entries.map((entry) => entry.request.instanceId))]).pipe(
        Effect.flatMap((found) =>
          Effect.sync(() => {
            for (const entry of entries)
              entry.completeUnsafe(Exit.succeed(found.get(entry.request.instanceId)))
          })
        )
      )
    ).pipe(
      RequestResolver.setDelay(options.batchWindow ?? "10 millis"),
      RequestResolver.batchN(options.maxBatchSize ?? 100)
    )

    const timeToLive = Duration.fromInputUnsafe(options.timeToLive ?? "60 seconds")
    const notFoundTimeToLive = Duration.fromInputUnsafe(options.notFoundTimeToLive ?? "10 seconds")
    const cache = yield* Cache.makeWith(
      (instanceId: string) => Effect.request(DescribeInstance({ instanceId }), resolver),
      {
        capacity: options.capacity ?? 5000,
        timeToLive: (exit) =>
          Exit.isFailure(exit)
            ? Duration.zero
            : exit.value === undefined || exit.value.privateDnsName === ""
              ? notFoundTimeToLive
              : timeToLive
      }
    )

    return InstanceInfo.of({
      describe: (instanceId) => (isInstanceId(instanceId) ? Cache.get(cache, instanceId) : Effect.undefined),
      invalidate: (instanceId) => Cache.invalidate(cache, instanceId),
      callCount: () => calls
    })
  })

/**
 * Builds the service on an EC2 client: `options.client`, else one of its own, destroyed when the scope ends.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const sdk = yield* Effect.promise(() => import("@aws-sdk/client-ec2"))
    const client =
      options.client ??
      (yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new sdk.EC2Client({
              ...(options.region ? { region: options.region } : {}),
              ...(options.endpoint ? { endpoint: options.endpoint } : {}),
              ...(options.requestHandler ? { requestHandler: options.requestHandler } : {}),
              // Retries are the service's (a jittered schedule): the SDK's would multiply them.
              maxAttempts: 1
            })
        ),
        (client) => Effect.sync(() => client.destroy())
      ))
    return yield* makeWith(
      (request, signal) => client.send(new sdk.DescribeInstancesCommand(request), { abortSignal: signal }),
      options
    )
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<InstanceInfo> =>
  Layer.effect(InstanceInfo, make(options))
