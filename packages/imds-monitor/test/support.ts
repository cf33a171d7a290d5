/**
 * A mock IMDS and a client pointed at it, both living as long as the test's scope, and small helpers to read
 * the mock's request log and run a monitor for a while.
 */
import { ImdsMock } from "@nth/imds-mock"
import { Effect, Fiber, type Scope, Stream } from "effect"
import { ImdsClient, type ImdsMonitor } from "../src/index.ts"

/** The mock's clock starts here and only moves when a test advances it. */
export const startMs = Date.parse("2026-11-25T10:00:00Z")
export const instanceId = "i-0123456789abcdef0"
export const nodeName = "ip-10-0-0-10.ec2.internal"

export const spotPath = "/latest/meta-data/spot/instance-action"
export const scheduledPath = "/latest/meta-data/events/maintenance/scheduled"
export const rebalancePath = "/latest/meta-data/events/recommendations/rebalance"
export const lifecyclePath = "/latest/meta-data/autoscaling/target-lifecycle-state"
export const tokenPath = "/latest/api/token"

export const setup = (
  mockOptions: ImdsMock.Options = {},
  clientOptions: ImdsClient.Options = {}
): Effect.Effect<
  { readonly mock: ImdsMock.ImdsMock; readonly client: ImdsClient.Service },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const mock = yield* ImdsMock.make({ clock: () => startMs, instanceId, ...mockOptions }).pipe(Effect.orDie)
    // Short retry delays keep the retry tests fast; the backoff's shape is the same.
    const client = yield* ImdsClient.make({
      endpoint: mock.url,
      retryBaseDelay: "10 millis",
      ...clientOptions
    })
    return { mock, client }
  })

/** The requests the mock answered for `path` (any path when omitted), as `METHOD path status` lines. */
export const log = (mock: ImdsMock.ImdsMock, path?: string): Array<string> =>
  mock
    .requests()
    .filter((request) => path === undefined || request.path === path)
    .map((request) => `${request.method} ${request.path} ${request.status}`)

export const count = (mock: ImdsMock.ImdsMock, method: string, path: string): number =>
  mock.requests().filter((request) => request.method === method && request.path === path).length

/** Runs a monitor stream for `ms` of real time and returns what it emitted. */
export const collectFor = (
  stream: Stream.Stream<ImdsMonitor.MonitorSignal, never, ImdsClient.ImdsClient>,
  client: ImdsClient.Service,
  ms: number
): Effect.Effect<Array<ImdsMonitor.MonitorSignal>> =>
  Effect.gen(function* () {
    const received: Array<ImdsMonitor.MonitorSignal> = []
    const fiber = yield* stream.pipe(
      Stream.runForEach((signal) => Effect.sync(() => received.push(signal))),
      Effect.provideService(ImdsClient.ImdsClient, client),
      Effect.forkChild
    )
    yield* Effect.sleep(ms)
    yield* Fiber.interrupt(fiber)
    return received
  })

/** The first `n` signals of a monitor stream. */
export const take = (
  stream: Stream.Stream<ImdsMonitor.MonitorSignal, never, ImdsClient.ImdsClient>,
  client: ImdsClient.Service,
  n: number
): Effect.Effect<Array<ImdsMonitor.MonitorSignal>> =>
  stream.pipe(
    Stream.take(n),
    Stream.runCollect,
    Effect.map((signals) => [...signals]),
    Effect.provideService(ImdsClient.ImdsClient, client)
  )
