/**
 * Whatever IMDS answers on a notice path, a monitor's poll gives a notice built from it (a valid event of the
 * shared model) or a `PollFailed` saying what was wrong (the program logs it and counts it in
 * `events_error_total`), or nothing (a valid answer that holds no notice): never a defect that would stop the
 * stream. Answers are arbitrary text, arbitrary JSON, and real answers (Spot, scheduled events, rebalance, target
 * lifecycle state) with fields deleted, replaced or retyped.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { InterruptionEvent } from "@nth/events"
import { Effect, Exit, Option, Schema, Stream } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll } from "vitest"
import { ImdsClient, ImdsMonitor } from "../src/index.ts"
import { instanceId, lifecyclePath, nodeName, rebalancePath, scheduledPath, spotPath } from "./support.ts"

const isEvent = Schema.is(InterruptionEvent.InterruptionEvent)

// One hand-written IMDS for every run: each path answers 200 with the body the run sets.
const bodies = new Map<string, string>()
let server: Http.Server
let endpoint: string

beforeAll(async () => {
  server = Http.createServer((request, response) => {
    request.resume()
    if (request.method === "PUT") {
      response.writeHead(200, { "x-aws-ec2-metadata-token-ttl-seconds": "21600" }).end("token")
      return
    }
    const body = bodies.get(request.url ?? "")
    response.writeHead(body === undefined ? 404 : 200).end(body ?? "")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  server.closeAllConnections()
  server.close()
})

const options = { nodeName, instanceId, pollInterval: "20 millis" } as const

const real: Readonly<Record<string, unknown>> = {
  [spotPath]: { action: "terminate", time: "2026-11-25T10:02:00Z" },
  [scheduledPath]: [
    {
      NotBefore: "21 Jan 2027 09:00:00 GMT",
      Code: "system-reboot",
      Description: "scheduled reboot",
      EventId: "instance-event-0123456789abcdef0",
      NotAfter: "21 Jan 2027 11:00:00 GMT",
      State: "active"
    }
  ],
  [rebalancePath]: { noticeTime: "2026-11-25T10:00:00Z" }
}

const monitors = {
  [spotPath]: ImdsMonitor.spotInterruption(options),
  [scheduledPath]: ImdsMonitor.scheduledEvents(options),
  [rebalancePath]: ImdsMonitor.rebalanceRecommendation(options),
  [lifecyclePath]: ImdsMonitor.targetLifecycleState(options)
}

/** A real answer with one field deleted, replaced by any JSON value, or the whole answer cut short. */
const mutated = (value: unknown): fc.Arbitrary<string> => {
  const text = JSON.stringify(value)
  const record = (Array.isArray(value) ? value[0] : value) as Record<string, unknown>
  const keys = Object.keys(record)
  return fc.oneof(
    fc.constantFrom(...keys).map((key) => {
      const { [key]: _gone, ...rest } = record
      return JSON.stringify(Array.isArray(value) ? [rest] : rest)
    }),
    fc.tuple(fc.constantFrom(...keys), fc.jsonValue()).map(([key, replacement]) => {
      const changed = { ...record, [key]: replacement }
      return JSON.stringify(Array.isArray(value) ? [changed] : changed)
    }),
    fc.nat({ max: text.length }).map((cut) => text.slice(0, cut))
  )
}

const answers = (path: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string(),
    fc.json(),
    path === lifecyclePath
      ? fc.constantFrom("Terminated", "InService", "Pending:Wait", "", "Terminated\n", "terminated")
      : mutated(real[path])
  )

/** The first signal of a poll of `path` answering `body`, or none when a valid answer holds no notice. */
const firstSignal = (path: keyof typeof monitors, body: string) =>
  Effect.gen(function* () {
    bodies.clear()
    bodies.set(path, body)
    const client = yield* ImdsClient.make({ endpoint, tries: 1 })
    return yield* monitors[path].pipe(
      Stream.take(1),
      Stream.runHead,
      Effect.provideService(ImdsClient.ImdsClient, client),
      Effect.timeoutOption("100 millis"),
      Effect.map(Option.flatten)
    )
  }).pipe(Effect.scoped)

describe("IMDS monitors, any answer", () => {
  for (const path of [spotPath, scheduledPath, rebalancePath, lifecyclePath] as const) {
    it.live(
      `${path.replace("/latest/meta-data/", "")}: a notice, a PollFailed that says why, or nothing; never a defect`,
      () =>
        Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(answers(path), async (body) => {
              const exit = await Effect.runPromiseExit(firstSignal(path, body))
              if (Exit.isFailure(exit))
                throw new Error(`the poll of ${JSON.stringify(body)} died: ${String(exit.cause)}`)
              const signal = Option.getOrUndefined(exit.value)
              if (signal === undefined) return
              if (signal._tag === "PollFailed") {
                expect(signal.error.message).not.toBe("")
                expect(signal.error.path).toBe(path)
              } else {
                expect(isEvent(signal.event)).toBe(true)
                expect(signal.event.nodeName).toBe(nodeName)
              }
            }),
            { numRuns: path === lifecyclePath ? 30 : 60 }
          )
        )
    )
  }
})
