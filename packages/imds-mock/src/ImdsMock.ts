/**
 * An EC2 instance metadata service (IMDSv2) on a loopback port, for tests: one per fake node, each with its own
 * identity, notices, faults and virtual clock, all changeable while clients poll it.
 *
 * Two ways in, over one implementation: {@link make} / {@link layer} for Effect code (the server closes with
 * its scope), and {@link start} for plain `async` code (the handle's `close()` closes it).
 *
 * @since 0.1.0
 */
import type * as Http from "node:http"
import { Cause, Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import type * as Control from "./Control.ts"
import { makeEngine } from "./internal/engine.ts"
import { randomInstanceId, regionOfZone, rfc3339Seconds } from "./internal/format.ts"
import { closeServer, listen } from "./internal/server.ts"

// ---------------------------------------------------------------------------------------------------------------
// Options and identity
// ---------------------------------------------------------------------------------------------------------------

/**
 * How to start a mock. Everything is optional: by default it listens on a free port of 127.0.0.1, requires
 * IMDSv2 tokens, and describes an on-demand `m5.large` in `us-east-1a` with a fresh random instance id (so
 * mocks started side by side are different instances).
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Address to listen on. Default `127.0.0.1`. */
  readonly host?: string
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number
  /** Answer requests that carry no token (IMDSv1), as an instance with `HttpTokens=optional` does. */
  readonly imdsv1?: boolean
  /** Milliseconds since the epoch, for token expiry and delayed notices. Default `Date.now`. */
  readonly clock?: () => number
  readonly instanceId?: string
  readonly instanceType?: string
  readonly amiId?: string
  readonly availabilityZone?: string
  /** Default: the availability zone without its letter. */
  readonly region?: string
  readonly localIpv4?: string
  /** Default: derived from `localIpv4` and the region, as EC2 names hosts (`ip-10-0-0-10.ec2.internal`). */
  readonly localHostname?: string
  /** Default: `localHostname`. */
  readonly hostname?: string
  readonly publicIpv4?: string
  readonly publicHostname?: string
  readonly mac?: string
  readonly instanceLifeCycle?: "spot" | "on-demand"
  readonly accountId?: string
  readonly architecture?: string
  /** RFC 3339. Default: when the mock starts. */
  readonly pendingTime?: string
  /** The instance's Auto Scaling group. With one, `autoscaling/target-lifecycle-state` starts as `InService`. */
  readonly autoScalingGroup?: string
  /** How many requests the log keeps (the most recent ones). Default 10,000. */
  readonly requestLogLimit?: number
}

/**
 * The instance a mock describes: its options with every default filled in.
 *
 * @category models
 * @since 0.1.0
 */
export interface Identity {
  readonly instanceId: string
  readonly instanceType: string
  readonly amiId: string
  readonly availabilityZone: string
  readonly region: string
  readonly localIpv4: string
  readonly localHostname: string
  readonly hostname: string
  readonly publicIpv4: string
  readonly publicHostname: string
  readonly mac: string
  readonly instanceLifeCycle: "spot" | "on-demand"
  readonly accountId: string
  readonly architecture: string
  readonly pendingTime: string
  readonly autoScalingGroupName: string | undefined
}

const dashed = (ipv4: string): string => ipv4.replaceAll(".", "-")

// us-east-1 kept the names it had before regions had their own domains.
const resolveIdentity = (options: Options, startedAt: number): Identity => {
  const availabilityZone = options.availabilityZone ?? "us-east-1a"
  const region = options.region ?? regionOfZone(availabilityZone)
  const localIpv4 = options.localIpv4 ?? "10.0.0.10"
  const publicIpv4 = options.publicIpv4 ?? "203.0.113.10"
  const localHostname =
    options.localHostname ??
    (region === "us-east-1"
      ? `ip-${dashed(localIpv4)}.ec2.internal`
      : `ip-${dashed(localIpv4)}.${region}.compute.internal`)
  return {
    instanceId: options.instanceId ?? randomInstanceId(),
    instanceType: options.instanceType ?? "m5.large",
    amiId: options.amiId ?? "ami-0abcdef1234567890",
    availabilityZone,
    region,
    localIpv4,
    localHostname,
    hostname: options.hostname ?? localHostname,
    publicIpv4,
    publicHostname:
      options.publicHostname ??
      (region === "us-east-1"
        ? `ec2-${dashed(publicIpv4)}.compute-1.amazonaws.com`
        : `ec2-${dashed(publicIpv4)}.${region}.compute.amazonaws.com`),
    mac: options.mac ?? "0e:49:61:0f:c3:11",
    instanceLifeCycle: options.instanceLifeCycle ?? "on-demand",
    accountId: options.accountId ?? "123456789012",
    architecture: options.architecture ?? "x86_64",
    pendingTime: options.pendingTime ?? rfc3339Seconds(startedAt),
    autoScalingGroupName: options.autoScalingGroup
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------------------------------

/**
 * A running mock. The control methods change in-memory state and take effect on the next request; they are
 * synchronous and throw {@link Control.InvalidControlRequest} for input that does not match its schema (and
 * {@link Control.UnknownId} for an id the mock does not hold). The same operations are served over HTTP under
 * `/control/` (see the README).
 *
 * @category models
 * @since 0.1.0
 */
export interface ImdsMock {
  /** Where clients reach the mock, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly identity: Identity
  /** The mock's virtual clock: the `clock` option plus every {@link ImdsMock.advanceClock}, in ms. */
  readonly now: () => number
  /** Serves a Spot interruption notice (replacing any other), now or `afterSeconds` later. */
  readonly setSpotInterruption: (notice: Control.SpotInterruption) => Control.SpotInterruptionSnapshot
  readonly clearSpotInterruption: () => void
  /** Adds a scheduled event and returns its `EventId`. */
  readonly addScheduledEvent: (event?: Control.ScheduledEvent) => string
  readonly setScheduledEventState: (eventId: string, state: Control.ScheduledEventState) => void
  readonly removeScheduledEvent: (eventId: string) => void
  readonly clearScheduledEvents: () => void
  readonly setRebalanceRecommendation: (
    recommendation?: Control.RebalanceRecommendation
  ) => Control.RebalanceRecommendationSnapshot
  readonly clearRebalanceRecommendation: () => void
  /**
   * Sets the ASG target lifecycle state (`undefined`: not in an Auto Scaling group, so the path answers 404),
   * now or `afterSeconds` later.
   */
  readonly setTargetLifecycleState: (
    state: Control.TargetLifecycleState | undefined,
    options?: { readonly afterSeconds?: number }
  ) => void
  /** Injects a fault and returns its id. */
  readonly injectFault: (fault: Control.Fault) => string
  readonly removeFault: (id: string) => void
  readonly clearFaults: () => void
  /** Moves the virtual clock forward: tokens expire and delayed notices appear as if the time had passed. */
  readonly advanceClock: (ms: number) => void
  /** The requests answered so far, oldest first (the most recent `requestLogLimit` of them). */
  readonly requests: () => ReadonlyArray<Control.RequestRecord>
  readonly clearRequests: () => void
  readonly state: () => Control.StateSnapshot
  /** Back to the state at start: no notices, events or faults, the clock and request log reset. */
  readonly reset: () => void
}

/**
 * A mock started with {@link start}. `close()` stops it (idempotent); `await using` works too.
 *
 * @category models
 * @since 0.1.0
 */
export interface StartedImdsMock extends ImdsMock, AsyncDisposable {
  readonly close: () => Promise<void>
}

/**
 * Raised when the mock cannot listen, e.g. the port is taken.
 *
 * @category errors
 * @since 0.1.0
 */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  message: Schema.String
}) {}

/**
 * The service key for a mock provided by {@link layer}.
 *
 * @category services
 * @since 0.1.0
 */
export const ImdsMock = Context.Service<ImdsMock>("@nth/imds-mock/ImdsMock")

const urlHost = (host: string): string => {
  // A wildcard address is not somewhere a client can connect to; loopback on the same family is.
  if (host === "0.0.0.0") return "127.0.0.1"
  if (host === "::") return "[::1]"
  return host.includes(":") ? `[${host}]` : host
}

// ---------------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Starts a mock that lives as long as the scope: closing the scope stops the server and drops its
 * connections.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<ImdsMock, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = options.clock ?? Date.now
    const identity = resolveIdentity(options, clock())
    const engine = makeEngine({
      identity,
      imdsv1: options.imdsv1 ?? false,
      clock,
      requestLogLimit: options.requestLogLimit ?? 10_000
    })
    const host = options.host ?? "127.0.0.1"
    const server = yield* Effect.acquireRelease(
      Effect.callback<Http.Server, ListenError>((resume) => {
        const pending = listen(engine, host, options.port ?? 0, {
          onListening: (listening) => resume(Effect.succeed(listening)),
          onError: (error) =>
            resume(Effect.fail(new ListenError({ message: `Cannot listen on ${host}: ${error.message}` })))
        })
        return Effect.promise(() => closeServer(pending))
      }),
      (listening) => Effect.promise(() => closeServer(listening))
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0)
    return {
      url: `http://${urlHost(host)}:${port}`,
      host,
      port,
      identity,
      now: engine.now,
      setSpotInterruption: engine.setSpotInterruption,
      clearSpotInterruption: engine.clearSpotInterruption,
      addScheduledEvent: (event) => engine.addScheduledEvent(event).eventId,
      setScheduledEventState: (eventId, state) => {
        engine.setScheduledEventState(eventId, { state })
      },
      removeScheduledEvent: engine.removeScheduledEvent,
      clearScheduledEvents: engine.clearScheduledEvents,
      setRebalanceRecommendation: engine.setRebalanceRecommendation,
      clearRebalanceRecommendation: engine.clearRebalanceRecommendation,
      setTargetLifecycleState: (state, stateOptions) =>
        engine.setTargetLifecycleState({ state: state ?? null, ...stateOptions }),
      injectFault: (fault) => engine.injectFault(fault).id,
      removeFault: engine.removeFault,
      clearFaults: engine.clearFaults,
      advanceClock: (ms) => {
        engine.advanceClock({ advanceMs: ms })
      },
      requests: engine.requests,
      clearRequests: engine.clearRequests,
      state: engine.snapshot,
      reset: engine.reset
    } satisfies ImdsMock
  })

/**
 * A layer providing one mock as the {@link ImdsMock} service, stopped when the layer is released.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<ImdsMock, ListenError> =>
  Layer.effect(ImdsMock, make(options))

/**
 * Starts a mock from plain `async` code. The promise rejects with a {@link ListenError} if it cannot listen.
 *
 * @example
 * ```ts
 * const mock = await ImdsMock.start({ instanceId: "i-0123456789abcdef0" })
 * mock.setSpotInterruption({ action: "terminate" })
 * // … point the client under test at mock.url …
 * await mock.close()
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = async (options: Options = {}): Promise<StartedImdsMock> => {
  const scope = Effect.runSync(Scope.make())
  const closeScope = () => Effect.runPromise(Scope.close(scope, Exit.void))
  const exit = await Effect.runPromiseExit(Scope.provide(scope)(make(options)))
  if (Exit.isFailure(exit)) {
    await closeScope()
    throw Cause.squash(exit.cause)
  }
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= closeScope()
    return closing
  }
  return { ...exit.value, close, [Symbol.asyncDispose]: close }
}
