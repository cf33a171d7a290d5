/**
 * Answers the mock never gives (it only serves well-formed notices), from a hand-written IMDS: every path of
 * `bodies` answers 200 with that body, anything else 404.
 */
import * as Http from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ImdsClient, ImdsError, ImdsMonitor } from "../src/index.ts"
import { instanceId, nodeName, rebalancePath, scheduledPath, spotPath, take } from "./support.ts"

const serve = (bodies: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        request.resume()
        if (request.method === "PUT") {
          response.writeHead(200, { "x-aws-ec2-metadata-token-ttl-seconds": "21600" })
          response.end("token")
          return
        }
        const body = bodies[request.url ?? ""]
        response.writeHead(body === undefined ? 404 : 200)
        response.end(body ?? "")
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          })
      )
  ).pipe(
    Effect.flatMap((server) => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      return ImdsClient.make({ endpoint: `http://127.0.0.1:${port}`, tries: 1 })
    })
  )

const options = { nodeName, instanceId, pollInterval: "50 millis" } as const

const event = (fields: Record<string, string>) => ({
  NotBefore: "21 Jan 2027 09:00:00 GMT",
  Code: "system-reboot",
  Description: "scheduled reboot",
  EventId: "instance-event-0123456789abcdef0",
  NotAfter: "21 Jan 2027 11:00:00 GMT",
  State: "active",
  ...fields
})

describe("malformed notices", () => {
  it.effect(
    "a Spot action other than terminate, stop or hibernate is still a notice (the Go handler drains)",
    () =>
      Effect.gen(function* () {
        const client = yield* serve({
          [spotPath]: JSON.stringify({ action: "reboot", time: "2026-11-25T10:02:00Z" })
        })
        const [signal] = yield* take(ImdsMonitor.spotInterruption(options), client, 1)
        expect(signal?._tag === "Notice" && signal.event).toMatchObject({
          kind: "SpotInterruptionNotice",
          action: "reboot",
          instanceId
        })
      })
  )

  it.effect("an empty Spot action", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        [spotPath]: JSON.stringify({ action: "", time: "2026-11-25T10:02:00Z" })
      })
      const [signal] = yield* take(ImdsMonitor.spotInterruption(options), client, 1)
      expect(signal?._tag === "PollFailed" && signal.error.reason).toBe("MalformedResponse")
      expect(signal?._tag === "PollFailed" && signal.error.message).toContain('["action"]')
    })
  )

  it.effect("a Spot time that is not RFC 3339", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        [spotPath]: JSON.stringify({ action: "terminate", time: "in two minutes" })
      })
      const [signal] = yield* take(ImdsMonitor.spotInterruption(options), client, 1)
      expect(signal?._tag === "PollFailed" && signal.error.message).toContain("not RFC 3339")
    })
  )

  it.effect("a rebalance notice without noticeTime", () =>
    Effect.gen(function* () {
      const client = yield* serve({ [rebalancePath]: "{}" })
      const [signal] = yield* take(ImdsMonitor.rebalanceRecommendation(options), client, 1)
      expect(signal?._tag === "PollFailed" && signal.error.reason).toBe("MalformedResponse")
    })
  )

  it.effect("scheduled events that are not a list", () =>
    Effect.gen(function* () {
      const client = yield* serve({ [scheduledPath]: JSON.stringify({ events: [] }) })
      const [signal] = yield* take(ImdsMonitor.scheduledEvents(options), client, 1)
      expect(signal?._tag === "PollFailed" && signal.error.path).toBe(scheduledPath)
    })
  )

  it.effect("a scheduled event with an unreadable NotBefore fails on its own; the others are emitted", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        [scheduledPath]: JSON.stringify([
          event({ NotBefore: "2027-01-21T09:00:00Z", EventId: "instance-event-0aaaaaaaaaaaaaaaa" }),
          event({ EventId: "instance-event-0bbbbbbbbbbbbbbbb" }),
          event({ Code: "", EventId: "instance-event-0cccccccccccccccc" })
        ])
      })
      const signals = yield* take(ImdsMonitor.scheduledEvents(options), client, 3)
      expect(signals.map((signal) => signal._tag)).toEqual(["PollFailed", "Notice", "PollFailed"])
      const [badDate, good, badCode] = signals
      expect(badDate?._tag === "PollFailed" && badDate.error.message).toContain("NotBefore")
      expect(good?._tag === "Notice" && good.event.id).toBe("instance-event-0bbbbbbbbbbbbbbbb")
      expect(badCode?._tag === "PollFailed" && badCode.error.message).toMatch(
        /0cccccccccccccccc.*\n.*\["code"\]/
      )
    })
  )

  it.effect(
    "a scheduled event code EC2 may add later is still a notice (the Go handler drains every code)",
    () =>
      Effect.gen(function* () {
        const client = yield* serve({
          [scheduledPath]: JSON.stringify([event({ Code: "instance-relocate" })])
        })
        const [signal] = yield* take(ImdsMonitor.scheduledEvents(options), client, 1)
        expect(signal?._tag === "Notice" && signal.event).toMatchObject({
          kind: "ScheduledMaintenance",
          code: "instance-relocate",
          state: "active"
        })
      })
  )

  it.effect("an unreadable NotAfter falls back to NotBefore; a missing State is active", () =>
    Effect.gen(function* () {
      const { State: _, ...stateless } = event({ NotAfter: "soon", NotBefore: "2 Feb 2027 03:04:05 GMT" })
      const client = yield* serve({ [scheduledPath]: JSON.stringify([stateless]) })
      const [signal] = yield* take(ImdsMonitor.scheduledEvents(options), client, 1)
      expect(signal?._tag).toBe("Notice")
      if (signal?._tag !== "Notice" || signal.event.kind !== "ScheduledMaintenance") return
      expect(signal.event.endTime).toEqual(new Date("2027-02-02T03:04:05Z"))
      expect(signal.event.notAfter).toBeUndefined()
      expect(signal.event.state).toBe("active")
    })
  )

  it.effect("dates that do not exist are unreadable", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        [scheduledPath]: JSON.stringify([event({ NotBefore: "31 Feb 2027 09:00:00 GMT" })])
      })
      const [signal] = yield* take(ImdsMonitor.scheduledEvents(options), client, 1)
      expect(signal?._tag).toBe("PollFailed")
    })
  )

  it.effect(
    "an identity with values nth does not know still reads, and notices still name the instance",
    () =>
      Effect.gen(function* () {
        // A bare IMDS: no identity document, no placement, a life cycle outside spot/on-demand/scheduled.
        const client = yield* serve({
          "/latest/meta-data/instance-id": instanceId,
          "/latest/meta-data/instance-life-cycle": "capacity-block",
          "/latest/meta-data/local-hostname": "",
          [spotPath]: JSON.stringify({ action: "terminate", time: "2026-11-25T10:02:00Z" })
        })
        expect(yield* client.identity).toEqual({ instanceId, instanceLifeCycle: "capacity-block" })
        const { instanceId: _, ...withoutInstanceId } = options
        const [signal] = yield* take(ImdsMonitor.spotInterruption(withoutInstanceId), client, 1)
        expect(signal?._tag === "Notice" && signal.event.instanceId).toBe(instanceId)
      })
  )

  it.effect("a notice is built from meta-data/instance-id alone when the identity cannot be had", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        "/latest/meta-data/instance-id": instanceId,
        [scheduledPath]: JSON.stringify([event({})])
      })
      const withoutIdentity: ImdsClient.Service = {
        ...client,
        identity: Effect.fail(
          new ImdsError.ImdsError({
            reason: "MalformedResponse",
            path: "/latest/dynamic/instance-identity/document",
            message: "unreadable"
          })
        )
      }
      const { instanceId: _, ...withoutInstanceId } = options
      const [signal] = yield* take(ImdsMonitor.scheduledEvents(withoutInstanceId), withoutIdentity, 1)
      expect(signal?._tag === "Notice" && signal.event).toMatchObject({
        kind: "ScheduledMaintenance",
        instanceId
      })
    })
  )

  // Issue 10 D: with meta-data/instance-id and the identity document answering 404, a valid Spot notice was never
  // acted on ("IMDS has no instance id" on every poll).
  it.live("a Spot notice is not dropped while the instance id cannot be read", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        [spotPath]: JSON.stringify({ action: "terminate", time: "2026-11-25T10:02:00Z" })
      })
      const { instanceId: _, ...withoutInstanceId } = options
      const signals = yield* take(ImdsMonitor.spotInterruption(withoutInstanceId), client, 2)
      for (const signal of signals) {
        expect(signal._tag).toBe("Notice")
        if (signal._tag === "Notice") {
          expect(signal.event).toMatchObject({ kind: "SpotInterruptionNotice", nodeName: options.nodeName })
          expect(signal.event.instanceId).toBeUndefined()
        }
      }
    })
  )

  it.effect("an instance id IMDS should never give is a PollFailed, not a crash", () =>
    Effect.gen(function* () {
      const client = yield* serve({
        [spotPath]: JSON.stringify({ action: "terminate", time: "2026-11-25T10:02:00Z" })
      })
      const [signal] = yield* take(
        ImdsMonitor.spotInterruption({ ...options, instanceId: "not-an-instance" }),
        client,
        1
      )
      expect(signal?._tag === "PollFailed" && signal.error.reason).toBe("MalformedResponse")
    })
  )
})
