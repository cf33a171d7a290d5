import { describe, expect, it } from "@effect/vitest"
import { control, get, read, token, useMock } from "./support.ts"

const instanceAction = "/latest/meta-data/spot/instance-action"
const scheduled = "/latest/meta-data/events/maintenance/scheduled"
const rebalance = "/latest/meta-data/events/recommendations/rebalance"
const lifecycle = "/latest/meta-data/autoscaling/target-lifecycle-state"

const json = (body: string): unknown => JSON.parse(body)

describe("control API over HTTP", () => {
  const mock = useMock()

  it("POST and DELETE /control/spot", async () => {
    const set = await control(mock().url, "POST", "/spot", { action: "stop", time: "2026-11-25T10:05:00Z" })
    expect(set.status).toBe(200)
    expect(json(set.body)).toEqual({
      action: "stop",
      time: "2026-11-25T10:05:00Z",
      appearsAt: "2026-11-25T10:00:00Z"
    })
    expect(json((await read(mock().url, instanceAction)).body)).toEqual({
      action: "stop",
      time: "2026-11-25T10:05:00Z"
    })
    expect((await control(mock().url, "DELETE", "/spot")).status).toBe(204)
    expect((await read(mock().url, instanceAction)).status).toBe(404)
  })

  it("POST, PATCH and DELETE /control/scheduled-events", async () => {
    const added = await control(mock().url, "POST", "/scheduled-events", { code: "instance-stop" })
    expect(added.status).toBe(201)
    const { eventId } = json(added.body) as { eventId: string }
    const other = json((await control(mock().url, "POST", "/scheduled-events", {})).body) as {
      eventId: string
    }
    const patched = await control(mock().url, "PATCH", `/scheduled-events/${eventId}`, { state: "canceled" })
    expect([patched.status, (json(patched.body) as { state: string }).state]).toEqual([200, "canceled"])
    const served = json((await read(mock().url, scheduled)).body) as Array<{ EventId: string; State: string }>
    expect(served.map((event) => [event.EventId, event.State])).toEqual([
      [eventId, "canceled"],
      [other.eventId, "active"]
    ])
    expect((await control(mock().url, "DELETE", `/scheduled-events/${eventId}`)).status).toBe(204)
    expect(json((await control(mock().url, "GET", "/scheduled-events")).body)).toHaveLength(1)
    expect((await control(mock().url, "DELETE", "/scheduled-events")).status).toBe(204)
    expect(json((await read(mock().url, scheduled)).body)).toEqual([])
  })

  it("answers 404 for an event it does not hold", async () => {
    const answer = await control(mock().url, "PATCH", "/scheduled-events/instance-event-x", {
      state: "completed"
    })
    expect(answer.status).toBe(404)
    expect(json(answer.body)).toEqual({ error: 'No scheduled event with id "instance-event-x"' })
  })

  it("POST /control/rebalance with an empty body takes the defaults; DELETE clears it", async () => {
    expect((await control(mock().url, "POST", "/rebalance")).status).toBe(200)
    expect(json((await read(mock().url, rebalance)).body)).toEqual({ noticeTime: "2026-11-25T10:00:00Z" })
    expect((await control(mock().url, "DELETE", "/rebalance")).status).toBe(204)
    expect((await read(mock().url, rebalance)).status).toBe(404)
  })

  it("PUT /control/target-lifecycle-state", async () => {
    const set = await control(mock().url, "PUT", "/target-lifecycle-state", { state: "Terminated" })
    expect(json(set.body)).toEqual({ targetLifecycleState: "Terminated", pendingTargetLifecycleState: null })
    expect((await read(mock().url, lifecycle)).body).toBe("Terminated")
    await control(mock().url, "PUT", "/target-lifecycle-state", { state: null })
    expect((await read(mock().url, lifecycle)).status).toBe(404)
  })

  it("POST and DELETE /control/faults", async () => {
    const issued = await token(mock().url)
    const injected = await control(mock().url, "POST", "/faults", { mode: "throttle", count: 5 })
    expect(injected.status).toBe(201)
    const fault = json(injected.body) as { id: string }
    expect(fault).toEqual({
      id: fault.id,
      mode: "throttle",
      pathPrefix: "/latest/",
      remaining: 5,
      delayMs: 0
    })
    expect((await get(mock().url, "/latest/meta-data/instance-id", issued)).status).toBe(429)
    expect((await control(mock().url, "DELETE", `/faults/${fault.id}`)).status).toBe(204)
    expect((await get(mock().url, "/latest/meta-data/instance-id", issued)).status).toBe(200)
    await control(mock().url, "POST", "/faults", { mode: "error" })
    expect((await control(mock().url, "DELETE", "/faults")).status).toBe(204)
    expect(json((await control(mock().url, "GET", "/faults")).body)).toEqual([])
  })

  it("POST /control/clock moves the virtual clock, expiring tokens", async () => {
    const issued = await token(mock().url, "60")
    const moved = await control(mock().url, "POST", "/clock", { advanceMs: 60_000 })
    expect(json(moved.body)).toEqual({ now: "2026-11-25T10:01:00.000Z" })
    expect((await get(mock().url, "/latest/meta-data/instance-id", issued)).status).toBe(401)
  })

  it("GET and DELETE /control/requests", async () => {
    await read(mock().url, "/latest/meta-data/instance-id")
    const requests = json((await control(mock().url, "GET", "/requests")).body) as Array<{ path: string }>
    expect(requests.map((request) => request.path)).toEqual([
      "/latest/api/token",
      "/latest/meta-data/instance-id"
    ])
    expect((await control(mock().url, "DELETE", "/requests")).status).toBe(204)
    expect(json((await control(mock().url, "GET", "/requests")).body)).toEqual([])
  })

  it("GET /control/state and POST /control/reset", async () => {
    await control(mock().url, "POST", "/spot", { action: "terminate" })
    await control(mock().url, "POST", "/clock", { advanceMs: 1_000 })
    const state = json((await control(mock().url, "GET", "/state")).body)
    expect(state).toMatchObject({
      now: "2026-11-25T10:00:01.000Z",
      clockOffsetMs: 1_000,
      imdsv1: false,
      spotInterruption: { action: "terminate", time: "2026-11-25T10:02:00Z" },
      scheduledEvents: [],
      rebalanceRecommendation: null,
      targetLifecycleState: null,
      faults: []
    })
    expect((await control(mock().url, "POST", "/reset")).status).toBe(204)
    expect(json((await control(mock().url, "GET", "/state")).body)).toMatchObject({
      now: "2026-11-25T10:00:00.000Z",
      spotInterruption: null,
      requestCount: 0
    })
  })

  it.each([
    ["/spot", { action: "explode" }, /Expected "terminate" \| "stop" \| "hibernate"[\s\S]*\["action"\]/],
    ["/spot", {}, /\["action"\]/],
    ["/spot", { action: "stop", afterSecond: 5 }, /excess property[\s\S]*\["afterSecond"\]/],
    ["/spot", { action: "stop", time: "tomorrow" }, /RFC 3339[\s\S]*\["time"\]/],
    ["/clock", { advanceMs: "5" }, /Expected number[\s\S]*\["advanceMs"\]/],
    ["/faults", { mode: "delay", delayMs: 1.5 }, /\["delayMs"\]/],
    ["/scheduled-events", { state: "paused" }, /\["state"\]/],
    ["/spot", "{not json", /not valid JSON/],
    ["/spot", "[1]", /Expected object/]
  ])("answers 400 naming the problem for POST %s %j", async (path, body, message) => {
    const answer = await control(mock().url, "POST", path, body)
    expect(answer.status).toBe(400)
    expect(answer.headers.get("content-type")).toBe("application/json")
    expect((json(answer.body) as { error: string }).error).toMatch(message)
  })

  it("answers 404 for unknown control routes and 405 with Allow for unsupported methods", async () => {
    expect((await control(mock().url, "GET", "/nothing")).status).toBe(404)
    const wrong = await control(mock().url, "GET", "/spot")
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get("allow")).toBe("POST, DELETE")
  })

  it("needs no token and is not subject to faults", async () => {
    await control(mock().url, "POST", "/faults", { mode: "error", pathPrefix: "/" })
    expect((await control(mock().url, "GET", "/state")).status).toBe(200)
  })
})
