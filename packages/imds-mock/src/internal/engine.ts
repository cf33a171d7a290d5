/**
 * The state of one mock instance and what IMDS answers from it. Nothing here touches a socket: the HTTP layer
 * asks the engine for a response, and the control API (programmatic or HTTP) changes the engine's state, so the
 * behaviour is the same whichever way a test drives it.
 */
import { Result } from "effect"
import * as Control from "../Control.ts"
import type { Identity } from "../ImdsMock.ts"
import { goEventTime, randomScheduledEventId, randomToken, rfc3339Seconds } from "./format.ts"

/** An answer, before it is written to the wire. */
export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Buffer
}

export interface EngineConfig {
  readonly identity: Identity
  readonly imdsv1: boolean
  readonly clock: () => number
  readonly requestLogLimit: number
}

const tokenPath = "/latest/api/token"
const tokenHeader = "x-aws-ec2-metadata-token"
const ttlHeader = "x-aws-ec2-metadata-token-ttl-seconds"
const maxTtlSeconds = 21_600
// EC2 gives the time of a Spot action two minutes after the notice.
const spotWarningMs = 120_000

const statusTitles: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable"
}

// IMDS answers errors with a small XHTML page; clients only look at the status, but a body that is not JSON
// keeps a client honest about checking it.
const errorPage = (status: number): string => {
  const title = `${status} - ${statusTitles[status] ?? "Error"}`
  return `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>${title}</title>
 </head>
 <body>
  <h1>${title}</h1>
 </body>
</html>
`
}

const commonHeaders = { "content-type": "text/plain", server: "EC2ws" } as const

export const errorResponse = (status: number, headers: Readonly<Record<string, string>> = {}): Response => ({
  status,
  headers: { ...commonHeaders, "content-type": "text/html", ...headers },
  body: errorPage(status)
})

const ok = (body: string, headers: Readonly<Record<string, string>> = {}): Response => ({
  status: 200,
  headers: { ...commonHeaders, ...headers },
  body
})

const orThrow = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

const parseTime = (text: string): number => Date.parse(text)

interface SpotState {
  readonly action: Control.SpotAction
  readonly timeMs: number
  readonly appearsAtMs: number
}

interface ScheduledEventEntry {
  readonly eventId: string
  readonly code: Control.ScheduledEventCode
  state: Control.ScheduledEventState
  readonly description: string
  readonly notBeforeMs: number
  readonly notAfterMs: number | undefined
  readonly notBeforeDeadlineMs: number | undefined
  readonly appearsAtMs: number
}

interface RebalanceState {
  readonly noticeTimeMs: number
  readonly appearsAtMs: number
}

interface FaultEntry {
  readonly id: string
  readonly mode: Control.FaultMode
  readonly pathPrefix: string
  remaining: number | null
  readonly delayMs: number
}

// The lifecycle state can be set to change later; until then the previous state is served.
interface LifecycleState {
  readonly current: Control.TargetLifecycleState | undefined
  readonly pending:
    | { readonly state: Control.TargetLifecycleState | undefined; readonly atMs: number }
    | undefined
}

export type Engine = ReturnType<typeof makeEngine>

export const makeEngine = (config: EngineConfig) => {
  const { identity } = config
  const initialLifecycle: LifecycleState = {
    current: identity.autoScalingGroupName === undefined ? undefined : "InService",
    pending: undefined
  }

  let clockOffsetMs = 0
  const tokens = new Map<string, number>()
  let spot: SpotState | undefined
  let scheduledEvents: Array<ScheduledEventEntry> = []
  let rebalance: RebalanceState | undefined
  let lifecycle = initialLifecycle
  let faults: Array<FaultEntry> = []
  let faultCounter = 0
  let requestLog: Array<Control.RequestRecord> = []
  let requestCount = 0

  const now = (): number => config.clock() + clockOffsetMs
  const appearsAt = (afterSeconds: number | undefined): number => now() + (afterSeconds ?? 0) * 1000

  // -------------------------------------------------------------------------------------------------------------
  // Reading the state as of now
  // -------------------------------------------------------------------------------------------------------------

  const lifecycleNow = (): LifecycleState => {
    const { pending } = lifecycle
    if (pending !== undefined && now() >= pending.atMs)
      lifecycle = { current: pending.state, pending: undefined }
    return lifecycle
  }

  const visibleSpot = (): SpotState | undefined =>
    spot !== undefined && now() >= spot.appearsAtMs ? spot : undefined

  const visibleRebalance = (): RebalanceState | undefined =>
    rebalance !== undefined && now() >= rebalance.appearsAtMs ? rebalance : undefined

  const eventJson = (event: ScheduledEventEntry) => ({
    NotBefore: goEventTime(event.notBeforeMs),
    Code: event.code,
    Description: event.description,
    EventId: event.eventId,
    ...(event.notAfterMs === undefined ? {} : { NotAfter: goEventTime(event.notAfterMs) }),
    State: event.state,
    ...(event.notBeforeDeadlineMs === undefined
      ? {}
      : { NotBeforeDeadline: goEventTime(event.notBeforeDeadlineMs) })
  })

  const identityDocument = () =>
    // Key order and the null fields follow EC2's document, so a client that prints it sees the real shape.
    JSON.stringify(
      {
        accountId: identity.accountId,
        architecture: identity.architecture,
        availabilityZone: identity.availabilityZone,
        billingProducts: null,
        devpayProductCodes: null,
        marketplaceProductCodes: null,
        imageId: identity.amiId,
        instanceId: identity.instanceId,
        instanceType: identity.instanceType,
        kernelId: null,
        pendingTime: identity.pendingTime,
        privateIp: identity.localIpv4,
        ramdiskId: null,
        region: identity.region,
        version: "2017-09-30"
      },
      null,
      2
    )

  // Every path that answers 200 right now, with its body. Directory listings are derived from it, so a path
  // is listed exactly when it can be read, as on EC2 (no `spot/` folder without a notice).
  const leaves = (): Map<string, string> => {
    const meta = "/latest/meta-data"
    const paths = new Map<string, string>([
      [`${meta}/ami-id`, identity.amiId],
      [`${meta}/ami-launch-index`, "0"],
      [`${meta}/hostname`, identity.hostname],
      [`${meta}/instance-id`, identity.instanceId],
      [`${meta}/instance-life-cycle`, identity.instanceLifeCycle],
      [`${meta}/instance-type`, identity.instanceType],
      [`${meta}/local-hostname`, identity.localHostname],
      [`${meta}/local-ipv4`, identity.localIpv4],
      [`${meta}/mac`, identity.mac],
      [`${meta}/placement/availability-zone`, identity.availabilityZone],
      [`${meta}/placement/region`, identity.region],
      [`${meta}/public-hostname`, identity.publicHostname],
      [`${meta}/public-ipv4`, identity.publicIpv4],
      [`${meta}/services/domain`, "amazonaws.com"],
      [`${meta}/services/partition`, "aws"],
      ["/latest/dynamic/instance-identity/document", identityDocument()]
    ])
    const events = scheduledEvents.filter((event) => now() >= event.appearsAtMs)
    paths.set(`${meta}/events/maintenance/scheduled`, JSON.stringify(events.map(eventJson), null, 2))
    paths.set(
      `${meta}/events/maintenance/history`,
      JSON.stringify(events.filter((event) => event.state !== "active").map(eventJson), null, 2)
    )
    const currentRebalance = visibleRebalance()
    if (currentRebalance !== undefined) {
      paths.set(
        `${meta}/events/recommendations/rebalance`,
        JSON.stringify({ noticeTime: rfc3339Seconds(currentRebalance.noticeTimeMs) })
      )
    }
    const currentSpot = visibleSpot()
    if (currentSpot !== undefined) {
      const time = rfc3339Seconds(currentSpot.timeMs)
      paths.set(`${meta}/spot/instance-action`, JSON.stringify({ action: currentSpot.action, time }))
      // termination-time predates instance-action and only ever announced terminations.
      if (currentSpot.action === "terminate") paths.set(`${meta}/spot/termination-time`, time)
    }
    const state = lifecycleNow().current
    if (state !== undefined) paths.set(`${meta}/autoscaling/target-lifecycle-state`, state)
    return paths
  }

  const lookup = (path: string): Response => {
    const normalized = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path
    const all = leaves()
    const leaf = all.get(normalized)
    if (leaf !== undefined) return ok(leaf)
    const prefix = normalized === "/" ? "/" : `${normalized}/`
    const children = new Set<string>()
    for (const key of all.keys()) {
      if (!key.startsWith(prefix)) continue
      const [child, ...rest] = key.slice(prefix.length).split("/")
      // Only folders below the category (`meta-data/`, `dynamic/`) get a trailing slash, as on EC2.
      if (child !== undefined)
        children.add(rest.length > 0 && prefix.length > "/latest/".length ? `${child}/` : child)
    }
    if (children.size === 0) return errorResponse(404)
    return ok([...children].sort().join("\n"))
  }

  // -------------------------------------------------------------------------------------------------------------
  // Tokens
  // -------------------------------------------------------------------------------------------------------------

  const issueToken = (ttlText: string | undefined): Response => {
    const ttlSeconds = ttlText !== undefined && /^\d{1,6}$/.test(ttlText) ? Number(ttlText) : Number.NaN
    if (!(ttlSeconds >= 1 && ttlSeconds <= maxTtlSeconds)) return errorResponse(400)
    const issuedAt = now()
    // Forget expired tokens now and then, so a long-running mock polled for days does not grow.
    if (tokens.size >= 1_000)
      for (const [token, expiry] of tokens) if (expiry <= issuedAt) tokens.delete(token)
    const token = randomToken()
    tokens.set(token, issuedAt + ttlSeconds * 1000)
    return ok(token, { "X-aws-ec2-metadata-token-ttl-seconds": String(ttlSeconds) })
  }

  const tokenIsValid = (token: string): boolean => {
    const expiry = tokens.get(token)
    return expiry !== undefined && now() < expiry
  }

  const headerValue = (value: string | Array<string> | undefined): string | undefined =>
    Array.isArray(value) ? value[0] : value

  /** IMDS's answer to a request (faults aside). */
  const answer = (
    method: string,
    path: string,
    headers: Readonly<Record<string, string | Array<string> | undefined>>
  ): Response => {
    if (path === tokenPath) {
      return method === "PUT"
        ? issueToken(headerValue(headers[ttlHeader]))
        : errorResponse(405, { allow: "PUT" })
    }
    if (method !== "GET" && method !== "HEAD") return errorResponse(405, { allow: "GET, HEAD" })
    const token = headerValue(headers[tokenHeader])
    // With IMDSv1 allowed a request may come without a token, but a token it does send must still be valid.
    if (token === undefined ? !config.imdsv1 : !tokenIsValid(token)) return errorResponse(401)
    return lookup(path)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Faults and the request log
  // -------------------------------------------------------------------------------------------------------------

  /** The fault that applies to a request for `path`, counting it against the fault's count. */
  const takeFault = (path: string): Control.ActiveFault | undefined => {
    const fault = faults.find((candidate) => path.startsWith(candidate.pathPrefix))
    if (fault === undefined) return undefined
    if (fault.remaining !== null) {
      fault.remaining -= 1
      if (fault.remaining === 0) faults = faults.filter((candidate) => candidate !== fault)
    }
    return { ...fault }
  }

  const record = (entry: Omit<Control.RequestRecord, "time" | "epochMs">): void => {
    const epochMs = now()
    requestLog.push({ time: new Date(epochMs).toISOString(), epochMs, ...entry })
    requestCount += 1
    if (requestLog.length > config.requestLogLimit)
      requestLog.splice(0, requestLog.length - config.requestLogLimit)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Control
  // -------------------------------------------------------------------------------------------------------------

  const spotSnapshot = (state: SpotState): Control.SpotInterruptionSnapshot => ({
    action: state.action,
    time: rfc3339Seconds(state.timeMs),
    appearsAt: rfc3339Seconds(state.appearsAtMs)
  })

  const eventSnapshot = (event: ScheduledEventEntry): Control.ScheduledEventSnapshot => ({
    eventId: event.eventId,
    code: event.code,
    state: event.state,
    description: event.description,
    notBefore: goEventTime(event.notBeforeMs),
    ...(event.notAfterMs === undefined ? {} : { notAfter: goEventTime(event.notAfterMs) }),
    ...(event.notBeforeDeadlineMs === undefined
      ? {}
      : { notBeforeDeadline: goEventTime(event.notBeforeDeadlineMs) }),
    appearsAt: rfc3339Seconds(event.appearsAtMs)
  })

  const rebalanceSnapshot = (state: RebalanceState): Control.RebalanceRecommendationSnapshot => ({
    noticeTime: rfc3339Seconds(state.noticeTimeMs),
    appearsAt: rfc3339Seconds(state.appearsAtMs)
  })

  const faultSnapshot = (fault: FaultEntry): Control.ActiveFault => ({ ...fault })

  const findEvent = (eventId: string): ScheduledEventEntry => {
    const event = scheduledEvents.find((candidate) => candidate.eventId === eventId)
    if (event === undefined)
      throw new Control.UnknownId({ message: `No scheduled event with id "${eventId}"` })
    return event
  }

  const setSpotInterruption = (input: unknown): Control.SpotInterruptionSnapshot => {
    const notice = orThrow(Control.decode(Control.SpotInterruption, input))
    const appearsAtMs = appearsAt(notice.afterSeconds)
    spot = {
      action: notice.action,
      timeMs: notice.time === undefined ? appearsAtMs + spotWarningMs : parseTime(notice.time),
      appearsAtMs
    }
    return spotSnapshot(spot)
  }

  const addScheduledEvent = (input: unknown = {}): Control.ScheduledEventSnapshot => {
    const event = orThrow(Control.decode(Control.ScheduledEvent, input))
    const eventId = event.eventId ?? randomScheduledEventId()
    if (scheduledEvents.some((candidate) => candidate.eventId === eventId)) {
      throw new Control.InvalidControlRequest({
        message: `A scheduled event with id "${eventId}" already exists\n  at ["eventId"]`
      })
    }
    const code = event.code ?? "system-reboot"
    const appearsAtMs = appearsAt(event.afterSeconds)
    const entry: ScheduledEventEntry = {
      eventId,
      code,
      state: event.state ?? "active",
      description: event.description ?? `The instance is scheduled for ${code}`,
      notBeforeMs: event.notBefore === undefined ? appearsAtMs : parseTime(event.notBefore),
      notAfterMs: event.notAfter === undefined ? undefined : parseTime(event.notAfter),
      notBeforeDeadlineMs:
        event.notBeforeDeadline === undefined ? undefined : parseTime(event.notBeforeDeadline),
      appearsAtMs
    }
    scheduledEvents.push(entry)
    return eventSnapshot(entry)
  }

  const setScheduledEventState = (eventId: string, input: unknown): Control.ScheduledEventSnapshot => {
    const change = orThrow(Control.decode(Control.ScheduledEventStateChange, input))
    const event = findEvent(eventId)
    event.state = change.state
    return eventSnapshot(event)
  }

  const removeScheduledEvent = (eventId: string): void => {
    findEvent(eventId)
    scheduledEvents = scheduledEvents.filter((candidate) => candidate.eventId !== eventId)
  }

  const setRebalanceRecommendation = (input: unknown = {}): Control.RebalanceRecommendationSnapshot => {
    const recommendation = orThrow(Control.decode(Control.RebalanceRecommendation, input))
    const appearsAtMs = appearsAt(recommendation.afterSeconds)
    rebalance = {
      noticeTimeMs:
        recommendation.noticeTime === undefined ? appearsAtMs : parseTime(recommendation.noticeTime),
      appearsAtMs
    }
    return rebalanceSnapshot(rebalance)
  }

  const setTargetLifecycleState = (input: unknown): void => {
    const change = orThrow(Control.decode(Control.TargetLifecycleStateChange, input))
    const state = change.state ?? undefined
    const atMs = appearsAt(change.afterSeconds)
    const { current } = lifecycleNow()
    lifecycle = atMs <= now() ? { current: state, pending: undefined } : { current, pending: { state, atMs } }
  }

  const injectFault = (input: unknown): Control.ActiveFault => {
    const fault = orThrow(Control.decode(Control.Fault, input))
    faultCounter += 1
    const entry: FaultEntry = {
      id: `fault-${faultCounter}`,
      mode: fault.mode,
      pathPrefix: fault.pathPrefix ?? "/latest/",
      remaining: fault.count ?? null,
      delayMs: fault.delayMs ?? (fault.mode === "delay" ? 1_000 : 0)
    }
    faults.push(entry)
    return faultSnapshot(entry)
  }

  const removeFault = (id: string): void => {
    if (!faults.some((fault) => fault.id === id))
      throw new Control.UnknownId({ message: `No fault with id "${id}"` })
    faults = faults.filter((fault) => fault.id !== id)
  }

  const advanceClock = (input: unknown): string => {
    const { advanceMs } = orThrow(Control.decode(Control.ClockAdvance, input))
    clockOffsetMs += advanceMs
    return new Date(now()).toISOString()
  }

  const snapshot = (): Control.StateSnapshot => {
    const { current, pending } = lifecycleNow()
    return {
      now: new Date(now()).toISOString(),
      clockOffsetMs,
      imdsv1: config.imdsv1,
      spotInterruption: spot === undefined ? null : spotSnapshot(spot),
      scheduledEvents: scheduledEvents.map(eventSnapshot),
      rebalanceRecommendation: rebalance === undefined ? null : rebalanceSnapshot(rebalance),
      targetLifecycleState: current ?? null,
      pendingTargetLifecycleState:
        pending === undefined ? null : { state: pending.state ?? null, at: rfc3339Seconds(pending.atMs) },
      faults: faults.map(faultSnapshot),
      requestCount
    }
  }

  // Tokens survive a reset: a client under test keeps polling with the token it holds, and a reset between two
  // test cases should not hand it a 401 it did not earn.
  const reset = (): void => {
    clockOffsetMs = 0
    spot = undefined
    scheduledEvents = []
    rebalance = undefined
    lifecycle = initialLifecycle
    faults = []
    requestLog = []
    requestCount = 0
  }

  return {
    now,
    answer,
    takeFault,
    record,
    setSpotInterruption,
    clearSpotInterruption: (): void => {
      spot = undefined
    },
    addScheduledEvent,
    setScheduledEventState,
    removeScheduledEvent,
    clearScheduledEvents: (): void => {
      scheduledEvents = []
    },
    setRebalanceRecommendation,
    clearRebalanceRecommendation: (): void => {
      rebalance = undefined
    },
    setTargetLifecycleState,
    injectFault,
    removeFault,
    clearFaults: (): void => {
      faults = []
    },
    advanceClock,
    requests: (): ReadonlyArray<Control.RequestRecord> => [...requestLog],
    clearRequests: (): void => {
      requestLog = []
    },
    snapshot,
    reset
  }
}
