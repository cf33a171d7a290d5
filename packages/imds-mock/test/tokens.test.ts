import { describe, expect, it } from "@effect/vitest"
import { get, requestToken, token, ttlHeader, useMock } from "./support.ts"

describe("IMDSv2 tokens", () => {
  const mock = useMock()

  it("issues a token for a PUT with a TTL, echoing the TTL", async () => {
    const answer = await requestToken(mock().url, "300")
    expect(answer.status).toBe(200)
    expect(answer.headers.get(ttlHeader)).toBe("300")
    expect(answer.body).toMatch(/^[A-Za-z0-9+/]{43}=$/)
  })

  it("accepts the bounds of the TTL range", async () => {
    expect((await requestToken(mock().url, "1")).status).toBe(200)
    expect((await requestToken(mock().url, "21600")).status).toBe(200)
  })

  it.each([
    ["missing", null],
    ["zero", "0"],
    ["above six hours", "21601"],
    ["not a number", "abc"],
    ["fractional", "1.5"],
    ["negative", "-5"]
  ])("refuses a %s TTL with 400", async (_name, ttl) => {
    const answer = await requestToken(mock().url, ttl)
    expect(answer.status).toBe(400)
    expect(answer.headers.get(ttlHeader)).toBeNull()
  })

  it.each(["GET", "POST", "DELETE"])("answers %s on the token path with 405", async (method) => {
    const answer = await requestToken(mock().url, "60", method)
    expect(answer.status).toBe(405)
    expect(answer.headers.get("allow")).toBe("PUT")
  })

  it("answers 401 without a token or with one it did not issue", async () => {
    expect((await get(mock().url, "/latest/meta-data/instance-id")).status).toBe(401)
    expect((await get(mock().url, "/latest/meta-data/instance-id", "not-a-token")).status).toBe(401)
    expect((await get(mock().url, "/latest/meta-data/instance-id", await token(mock().url))).status).toBe(200)
  })

  it("expires tokens on the virtual clock", async () => {
    const issued = await token(mock().url, "60")
    mock().advanceClock(59_999)
    expect((await get(mock().url, "/latest/meta-data/instance-id", issued)).status).toBe(200)
    mock().advanceClock(1)
    expect((await get(mock().url, "/latest/meta-data/instance-id", issued)).status).toBe(401)
  })

  it("expires tokens on the injected clock", async () => {
    let nowMs = Date.parse("2026-11-25T10:00:00Z")
    const { ImdsMock } = await import("../src/index.ts")
    const own = await ImdsMock.start({ clock: () => nowMs })
    try {
      const issued = await token(own.url, "1")
      expect((await get(own.url, "/latest/meta-data/instance-id", issued)).status).toBe(200)
      nowMs += 1_000
      expect((await get(own.url, "/latest/meta-data/instance-id", issued)).status).toBe(401)
    } finally {
      await own.close()
    }
  })
})

describe("IMDSv1 allowed", () => {
  const mock = useMock({ imdsv1: true })

  it("answers requests without a token", async () => {
    const answer = await get(mock().url, "/latest/meta-data/instance-id")
    expect(answer.status).toBe(200)
    expect(answer.body).toBe(mock().identity.instanceId)
  })

  it("still refuses a token it did not issue", async () => {
    expect((await get(mock().url, "/latest/meta-data/instance-id", "forged")).status).toBe(401)
  })

  it("records which requests carried a token", async () => {
    await get(mock().url, "/latest/meta-data/instance-id")
    await get(mock().url, "/latest/meta-data/instance-id", await token(mock().url))
    expect(
      mock()
        .requests()
        .map((request) => [request.method, request.withToken])
    ).toEqual([
      ["GET", false],
      ["PUT", false],
      ["GET", true]
    ])
  })
})
