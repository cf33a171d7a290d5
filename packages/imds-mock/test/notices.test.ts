import { describe, expect, it } from "@effect/vitest"
import { Control } from "../src/index.ts"
import { read, useMock } from "./support.ts"

const instanceAction = "/latest/meta-data/spot/instance-action"
const terminationTime = "/latest/meta-data/spot/termination-time"
const scheduled = "/latest/meta-data/events/maintenance/scheduled"
const history = "/latest/meta-data/events/maintenance/history"
const rebalance = "/latest/meta-data/events/recommendations/rebalance"
const lifecycle = "/latest/meta-data/autoscaling/target-lifecycle-state"

describe("Spot interruption notice", () => {
  const mock = useMock()

  it("answers 404 while there is no notice", async () => {
    expect((await read(mock().url, instanceAction)).status).toBe(404)
    expect((await read(mock().url, terminationTime)).status).toBe(404)
  })

  it("serves the notice, timed two minutes after it appears by default", async () => {
    const notice = mock().setSpotInterruption({ action: "terminate" })
    expect(notice).toEqual({
      action: "terminate",
      time: "2026-11-25T10:02:00Z",
      appearsAt: "2026-11-25T10:00:00Z"
    })
    const answer = await read(mock().url, instanceAction)
    expect(answer.status).toBe(200)
    expect(answer.body).toBe('{"action":"terminate","time":"2026-11-25T10:02:00Z"}')
    expect((await read(mock().url, terminationTime)).body).toBe("2026-11-25T10:02:00Z")
  })

  it("serves a given time in UTC at second precision", async () => {
    mock().setSpotInterruption({ action: "hibernate", time: "2026-11-25T12:02:00.750+02:00" })
    expect(JSON.parse((await read(mock().url, instanceAction)).body)).toEqual({
      action: "hibernate",
      time: "2026-11-25T10:02:00Z"
    })
  })

  it("serves termination-time only for a termination", async () => {
    mock().setSpotInterruption({ action: "stop" })
    expect((await read(mock().url, instanceAction)).status).toBe(200)
    expect((await read(mock().url, terminationTime)).status).toBe(404)
  })

  it("holds a delayed notice back until its time on the virtual clock", async () => {
    mock().setSpotInterruption({ action: "terminate", afterSeconds: 5 })
    expect((await read(mock().url, instanceAction)).status).toBe(404)
    mock().advanceClock(4_999)
    expect((await read(mock().url, instanceAction)).status).toBe(404)
    mock().advanceClock(1)
    const answer = await read(mock().url, instanceAction)
    expect(JSON.parse(answer.body)).toEqual({ action: "terminate", time: "2026-11-25T10:02:05Z" })
  })

  it("stops serving the notice once cleared", async () => {
    mock().setSpotInterruption({ action: "terminate" })
    mock().clearSpotInterruption()
    expect((await read(mock().url, instanceAction)).status).toBe(404)
  })

  it("refuses a notice with a bad action or time, naming the field", () => {
    expect(() => mock().setSpotInterruption({ action: "explode" } as never)).toThrow(/\["action"\]/)
    expect(() => mock().setSpotInterruption({ action: "stop", time: "soon" })).toThrow(
      Control.InvalidControlRequest
    )
    expect(() => mock().setSpotInterruption({ action: "stop", afterSeconds: -1 })).toThrow(
      /\["afterSeconds"\]/
    )
  })
})

describe("scheduled events", () => {
  const mock = useMock()

  it("serves an empty list while there are none", async () => {
    expect(JSON.parse((await read(mock().url, scheduled)).body)).toEqual([])
    expect(JSON.parse((await read(mock().url, history)).body)).toEqual([])
  })

  it("serves several events with times in the Go layout, leaving out unset ones", async () => {
    mock().addScheduledEvent({
      eventId: "instance-event-0d59937288b749b32",
      code: "system-reboot",
      description: "scheduled reboot",
      notBefore: "2019-01-21T09:00:43Z",
      notAfter: "2019-01-21T11:00:43Z",
      notBeforeDeadline: "2019-01-28T09:00:43Z"
    })
    const second = mock().addScheduledEvent({
      code: "instance-retirement",
      notBefore: "2026-01-05T09:00:43Z"
    })
    expect(second).toMatch(/^instance-event-[0-9a-f]{17}$/)
    expect(JSON.parse((await read(mock().url, scheduled)).body)).toEqual([
      {
        NotBefore: "21 Jan 2019 09:00:43 GMT",
        Code: "system-reboot",
        Description: "scheduled reboot",
        EventId: "instance-event-0d59937288b749b32",
        NotAfter: "21 Jan 2019 11:00:43 GMT",
        State: "active",
        NotBeforeDeadline: "28 Jan 2019 09:00:43 GMT"
      },
      {
        NotBefore: "5 Jan 2026 09:00:43 GMT",
        Code: "instance-retirement",
        Description: "The instance is scheduled for instance-retirement",
        EventId: second,
        State: "active"
      }
    ])
  })

  it("defaults to an active system reboot starting when it appears", async () => {
    const eventId = mock().addScheduledEvent()
    expect(JSON.parse((await read(mock().url, scheduled)).body)).toEqual([
      {
        NotBefore: "25 Nov 2026 10:00:00 GMT",
        Code: "system-reboot",
        Description: "The instance is scheduled for system-reboot",
        EventId: eventId,
        State: "active"
      }
    ])
  })

  it("changes an event's state, and lists canceled and completed events in the history too", async () => {
    const reboot = mock().addScheduledEvent({ code: "instance-reboot" })
    const stop = mock().addScheduledEvent({ code: "instance-stop" })
    mock().setScheduledEventState(reboot, "canceled")
    const states = async (path: string) =>
      (JSON.parse((await read(mock().url, path)).body) as Array<{ EventId: string; State: string }>).map(
        (event) => [event.EventId, event.State]
      )
    expect(await states(scheduled)).toEqual([
      [reboot, "canceled"],
      [stop, "active"]
    ])
    expect(await states(history)).toEqual([[reboot, "canceled"]])
    mock().setScheduledEventState(stop, "completed")
    expect(await states(history)).toEqual([
      [reboot, "canceled"],
      [stop, "completed"]
    ])
    mock().removeScheduledEvent(reboot)
    expect(await states(scheduled)).toEqual([[stop, "completed"]])
    mock().clearScheduledEvents()
    expect(await states(scheduled)).toEqual([])
  })

  it("holds a delayed event back until its time", async () => {
    mock().addScheduledEvent({ afterSeconds: 60 })
    expect(JSON.parse((await read(mock().url, scheduled)).body)).toEqual([])
    mock().advanceClock(60_000)
    expect(JSON.parse((await read(mock().url, scheduled)).body)).toHaveLength(1)
  })

  it("refuses unknown ids, duplicate ids and bad codes", () => {
    expect(() => mock().setScheduledEventState("instance-event-00000000000000000", "canceled")).toThrow(
      Control.UnknownId
    )
    mock().addScheduledEvent({ eventId: "instance-event-1" })
    expect(() => mock().addScheduledEvent({ eventId: "instance-event-1" })).toThrow(/already exists/)
    expect(() => mock().addScheduledEvent({ code: "reboot" } as never)).toThrow(/\["code"\]/)
  })
})

describe("rebalance recommendation", () => {
  const mock = useMock()

  it("answers 404, then the notice, then 404 once cleared", async () => {
    expect((await read(mock().url, rebalance)).status).toBe(404)
    mock().setRebalanceRecommendation({ noticeTime: "2026-11-25T10:00:00Z" })
    const answer = await read(mock().url, rebalance)
    expect([answer.status, answer.body]).toEqual([200, '{"noticeTime":"2026-11-25T10:00:00Z"}'])
    mock().clearRebalanceRecommendation()
    expect((await read(mock().url, rebalance)).status).toBe(404)
  })

  it("dates a recommendation when it appears by default", async () => {
    mock().setRebalanceRecommendation({ afterSeconds: 30 })
    expect((await read(mock().url, rebalance)).status).toBe(404)
    mock().advanceClock(30_000)
    expect(JSON.parse((await read(mock().url, rebalance)).body)).toEqual({
      noticeTime: "2026-11-25T10:00:30Z"
    })
  })
})

describe("ASG target lifecycle state", () => {
  describe("outside an Auto Scaling group", () => {
    const mock = useMock()

    it("answers 404 until a state is set", async () => {
      expect((await read(mock().url, lifecycle)).status).toBe(404)
      mock().setTargetLifecycleState("Terminated")
      expect((await read(mock().url, lifecycle)).body).toBe("Terminated")
    })
  })

  describe("in an Auto Scaling group", () => {
    const mock = useMock({ autoScalingGroup: "nodes" })

    it("starts InService and changes when told, now or later", async () => {
      expect((await read(mock().url, lifecycle)).body).toBe("InService")
      mock().setTargetLifecycleState("Terminated", { afterSeconds: 10 })
      expect((await read(mock().url, lifecycle)).body).toBe("InService")
      expect(mock().state().pendingTargetLifecycleState).toEqual({
        state: "Terminated",
        at: "2026-11-25T10:00:10Z"
      })
      mock().advanceClock(10_000)
      expect((await read(mock().url, lifecycle)).body).toBe("Terminated")
      mock().setTargetLifecycleState(undefined)
      expect((await read(mock().url, lifecycle)).status).toBe(404)
    })

    it("goes back to InService on reset", async () => {
      mock().setTargetLifecycleState("Warmed:Stopped")
      mock().reset()
      expect((await read(mock().url, lifecycle)).body).toBe("InService")
    })
  })
})
