import { describe, expect, it } from "@effect/vitest"
import { get, read, requestToken, token, useMock } from "./support.ts"

const instanceId = "/latest/meta-data/instance-id"
const instanceAction = "/latest/meta-data/spot/instance-action"

describe("faults", () => {
  const mock = useMock()

  it.each([
    ["throttle", 429],
    ["error", 500],
    ["unavailable", 503],
    ["forbidden", 403]
  ] as const)("%s answers %i for a count of requests, then recovers", async (mode, status) => {
    const issued = await token(mock().url)
    mock().injectFault({ mode, count: 2 })
    expect((await get(mock().url, instanceId, issued)).status).toBe(status)
    expect((await get(mock().url, instanceId, issued)).status).toBe(status)
    expect((await get(mock().url, instanceId, issued)).status).toBe(200)
    expect(mock().state().faults).toEqual([])
  })

  it("delay answers normally, late", async () => {
    const issued = await token(mock().url)
    mock().injectFault({ mode: "delay", delayMs: 300, count: 1 })
    const started = performance.now()
    const answer = await get(mock().url, instanceId, issued)
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
    expect([answer.status, answer.body]).toEqual([200, mock().identity.instanceId])
    const again = performance.now()
    await get(mock().url, instanceId, issued)
    expect(performance.now() - again).toBeLessThan(290)
  })

  it("garbage answers 200 with a body that is not the JSON", async () => {
    mock().setSpotInterruption({ action: "terminate" })
    const issued = await token(mock().url)
    mock().injectFault({ mode: "garbage", count: 2 })
    const json = await get(mock().url, instanceAction, issued)
    expect(json.status).toBe(200)
    expect(json.body).toBe('{"action":"terminate","tim')
    expect(() => JSON.parse(json.body)).toThrow()
    const text = await fetch(`${mock().url}${instanceId}`, {
      headers: { "X-aws-ec2-metadata-token": issued }
    })
    expect(text.status).toBe(200)
    const bytes = Buffer.from(await text.arrayBuffer())
    expect(bytes.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xfe, 0x00]))
    expect(JSON.parse((await get(mock().url, instanceAction, issued)).body)).toHaveProperty("action")
  })

  it("drop destroys the connection without an answer", async () => {
    const issued = await token(mock().url)
    mock().injectFault({ mode: "drop", count: 1 })
    await expect(get(mock().url, instanceId, issued)).rejects.toThrow()
    expect((await get(mock().url, instanceId, issued)).status).toBe(200)
    expect(mock().requests().at(-2)).toMatchObject({ path: instanceId, status: 0, fault: "drop" })
  })

  it("lasts until cleared without a count", async () => {
    const issued = await token(mock().url)
    mock().injectFault({ mode: "unavailable" })
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await get(mock().url, instanceId, issued)).status).toBe(503)
    }
    mock().clearFaults()
    expect((await get(mock().url, instanceId, issued)).status).toBe(200)
  })

  it("applies only under its path prefix", async () => {
    mock().setSpotInterruption({ action: "terminate" })
    const issued = await token(mock().url)
    mock().injectFault({ mode: "error", pathPrefix: "/latest/meta-data/spot/" })
    expect((await get(mock().url, instanceAction, issued)).status).toBe(500)
    expect((await get(mock().url, instanceId, issued)).status).toBe(200)
  })

  it("applies to the token endpoint when its path matches", async () => {
    mock().injectFault({ mode: "throttle", pathPrefix: "/latest/api/token", count: 1 })
    expect((await requestToken(mock().url)).status).toBe(429)
    expect((await requestToken(mock().url)).status).toBe(200)
  })

  it("applies the oldest matching fault first, and removes one fault by id", async () => {
    const issued = await token(mock().url)
    const first = mock().injectFault({ mode: "error" })
    mock().injectFault({ mode: "forbidden" })
    expect((await get(mock().url, instanceId, issued)).status).toBe(500)
    mock().removeFault(first)
    expect((await get(mock().url, instanceId, issued)).status).toBe(403)
  })

  it("refuses a fault with a bad mode or count", () => {
    expect(() => mock().injectFault({ mode: "explode" } as never)).toThrow(/\["mode"\]/)
    expect(() => mock().injectFault({ mode: "error", count: 0 })).toThrow(/\["count"\]/)
    expect(() => mock().injectFault({ mode: "error", pathPrefix: "latest" })).toThrow(/\["pathPrefix"\]/)
  })
})

describe("request log", () => {
  const mock = useMock({ requestLogLimit: 3 })

  it("records IMDS requests with their time, status and token, but not control requests", async () => {
    const issued = await token(mock().url)
    mock().advanceClock(1_500)
    await get(mock().url, instanceId, issued)
    await fetch(`${mock().url}/control/state`)
    expect(mock().requests()).toEqual([
      {
        time: "2026-11-25T10:00:00.000Z",
        epochMs: Date.parse("2026-11-25T10:00:00Z"),
        method: "PUT",
        path: "/latest/api/token",
        status: 200,
        withToken: false
      },
      {
        time: "2026-11-25T10:00:01.500Z",
        epochMs: Date.parse("2026-11-25T10:00:01.500Z"),
        method: "GET",
        path: instanceId,
        status: 200,
        withToken: true
      }
    ])
  })

  it("keeps only the most recent requests, and can be cleared", async () => {
    for (const path of ["/a", "/b", "/c", "/d"]) await read(mock().url, path)
    expect(
      mock()
        .requests()
        .map((request) => request.path)
    ).toEqual(["/c", "/latest/api/token", "/d"])
    expect(mock().state().requestCount).toBe(8)
    mock().clearRequests()
    expect(mock().requests()).toEqual([])
  })
})
