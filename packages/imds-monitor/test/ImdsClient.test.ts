import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { ImdsClient, ImdsError } from "../src/index.ts"
import { count, instanceId, log, setup, tokenPath } from "./support.ts"

const instanceIdPath = "/latest/meta-data/instance-id"

describe("session token", () => {
  it.effect("is fetched once and reused across many reads", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      for (let i = 0; i < 20; i++) expect(yield* client.get(instanceIdPath)).toBe(instanceId)
      expect(count(mock, "PUT", tokenPath)).toBe(1)
      expect(count(mock, "GET", instanceIdPath)).toBe(20)
      expect(mock.requests().every((request) => request.method === "PUT" || request.withToken)).toBe(true)
      expect(client.requestCount()).toBe(21)
    })
  )

  it.effect("is shared by concurrent reads", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      yield* Effect.all(
        Array.from({ length: 8 }, () => client.get(instanceIdPath)),
        { concurrency: "unbounded" }
      )
      expect(count(mock, "PUT", tokenPath)).toBe(1)
    })
  )

  it.effect("is replaced shortly before it expires, without a 401", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tokenTtlSeconds: 120 })
      yield* client.get(instanceIdPath)
      // 61 s later 59 s are left, under the 60 s margin: a new token, asked for before the old one runs out.
      yield* TestClock.adjust("61 seconds")
      mock.advanceClock(61_000)
      yield* client.get(instanceIdPath)
      yield* client.get(instanceIdPath)
      expect(log(mock)).toEqual([
        `PUT ${tokenPath} 200`,
        `GET ${instanceIdPath} 200`,
        `PUT ${tokenPath} 200`,
        `GET ${instanceIdPath} 200`,
        `GET ${instanceIdPath} 200`
      ])
    })
  )

  it.effect("is replaced after a 401 and the read repeated once", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tokenTtlSeconds: 120 })
      yield* client.get(instanceIdPath)
      // IMDS's clock ran ahead of ours: the token it issued has expired there.
      mock.advanceClock(121_000)
      expect(yield* client.get(instanceIdPath)).toBe(instanceId)
      expect(log(mock)).toEqual([
        `PUT ${tokenPath} 200`,
        `GET ${instanceIdPath} 200`,
        `GET ${instanceIdPath} 401`,
        `PUT ${tokenPath} 200`,
        `GET ${instanceIdPath} 200`
      ])
    })
  )

  it.effect(
    "without the IMDSv1 fallback, a refused token fails with TokenUnavailable and says how to fix it",
    () =>
      Effect.gen(function* () {
        const { mock, client } = yield* setup({ imdsv1: true })
        mock.injectFault({ mode: "forbidden", pathPrefix: tokenPath })
        const error = yield* Effect.flip(client.get(instanceIdPath))
        expect(error.reason).toBe("TokenUnavailable")
        expect(error.path).toBe(tokenPath)
        expect(error.status).toBe(403)
        expect(error.message).toContain("hop limit")
        expect(error.message).toContain("ENABLE_IMDSV1_FALLBACK")
        // Nothing is read without a token.
        expect(count(mock, "GET", instanceIdPath)).toBe(0)
      })
  )

  it.effect("with the fallback, reads go without a token and the token is tried again only later", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup(
        { imdsv1: true },
        { allowImdsV1Fallback: true, tokenRetryInterval: "60 seconds" }
      )
      const fault = mock.injectFault({ mode: "forbidden", pathPrefix: tokenPath })
      for (let i = 0; i < 5; i++) expect(yield* client.get(instanceIdPath)).toBe(instanceId)
      expect(count(mock, "PUT", tokenPath)).toBe(1)
      expect(
        mock
          .requests()
          .filter((request) => request.method === "GET")
          .every((r) => !r.withToken)
      ).toBe(true)

      // Once IMDS hands out tokens again, the next attempt (a minute later) picks one up.
      mock.removeFault(fault)
      yield* TestClock.adjust("30 seconds")
      yield* client.get(instanceIdPath)
      expect(count(mock, "PUT", tokenPath)).toBe(1)
      yield* TestClock.adjust("31 seconds")
      yield* client.get(instanceIdPath)
      expect(count(mock, "PUT", tokenPath)).toBe(2)
      expect(mock.requests().at(-1)?.withToken).toBe(true)
    })
  )

  it.effect("with the fallback, an instance that requires tokens is asked for one again at once", () =>
    Effect.gen(function* () {
      // IMDSv1 disabled on the instance (no imdsv1): a read without a token gets 401.
      const { mock, client } = yield* setup({}, { allowImdsV1Fallback: true })
      mock.injectFault({ mode: "forbidden", pathPrefix: tokenPath, count: 1 })
      expect(yield* client.get(instanceIdPath)).toBe(instanceId)
      expect(log(mock)).toEqual([
        `PUT ${tokenPath} 403`,
        `GET ${instanceIdPath} 401`,
        `PUT ${tokenPath} 200`,
        `GET ${instanceIdPath} 200`
      ])
    })
  )
})

describe("retries", () => {
  it.live("retries 429 and 500, then succeeds", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.injectFault({ mode: "throttle", pathPrefix: instanceIdPath, count: 1 })
      mock.injectFault({ mode: "error", pathPrefix: instanceIdPath, count: 1 })
      expect(yield* client.get(instanceIdPath)).toBe(instanceId)
      expect(log(mock, instanceIdPath)).toEqual([
        `GET ${instanceIdPath} 429`,
        `GET ${instanceIdPath} 500`,
        `GET ${instanceIdPath} 200`
      ])
    })
  )

  it.live("stops after `tries` attempts with the last error", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tries: 2 })
      mock.injectFault({ mode: "unavailable", pathPrefix: instanceIdPath })
      const error = yield* Effect.flip(client.get(instanceIdPath))
      expect(error).toBeInstanceOf(ImdsError.ImdsError)
      expect(error.reason).toBe("ServerError")
      expect(error.status).toBe(503)
      expect(count(mock, "GET", instanceIdPath)).toBe(2)
    })
  )

  it.live("makes one attempt with tries = 1", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tries: 1 })
      mock.injectFault({ mode: "throttle", pathPrefix: instanceIdPath })
      expect((yield* Effect.flip(client.get(instanceIdPath))).reason).toBe("Throttled")
      expect(count(mock, "GET", instanceIdPath)).toBe(1)
    })
  )

  it.live("does not retry 403", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.injectFault({ mode: "forbidden", pathPrefix: instanceIdPath })
      expect((yield* Effect.flip(client.get(instanceIdPath))).reason).toBe("Forbidden")
      expect(count(mock, "GET", instanceIdPath)).toBe(1)
    })
  )

  it.live(
    "health: not ready before the first answer, after a read that failed its retries; ready after any answer",
    () =>
      Effect.gen(function* () {
        const { mock, client } = yield* setup({}, { tries: 1 })
        expect(client.health()).toEqual({ ready: false, reason: "IMDS has not answered yet" })
        mock.injectFault({ mode: "unavailable", pathPrefix: instanceIdPath })
        yield* Effect.flip(client.get(instanceIdPath))
        expect(client.health()).toMatchObject({ ready: false, reason: expect.stringContaining("503") })
        mock.clearFaults()
        // A 404 is an answer.
        expect(yield* client.get("/latest/meta-data/spot/instance-action")).toBeUndefined()
        expect(client.health()).toEqual({ ready: true })
      })
  )

  it.live("retries a dropped connection", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.injectFault({ mode: "drop", pathPrefix: instanceIdPath, count: 1 })
      expect(yield* client.get(instanceIdPath)).toBe(instanceId)
      expect(count(mock, "GET", instanceIdPath)).toBe(2)
    })
  )

  it.live("times out a slow answer, and retries it", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { requestTimeout: "200 millis", tries: 1 })
      yield* client.get(instanceIdPath)
      mock.injectFault({ mode: "delay", pathPrefix: instanceIdPath, delayMs: 2_000, count: 1 })
      const error = yield* Effect.flip(client.get(instanceIdPath))
      expect(error.reason).toBe("Timeout")
      expect(error.path).toBe(instanceIdPath)

      const retrying = yield* setup({}, { requestTimeout: "200 millis", tries: 2 })
      retrying.mock.injectFault({ mode: "delay", pathPrefix: instanceIdPath, delayMs: 2_000, count: 1 })
      expect(yield* retrying.client.get(instanceIdPath)).toBe(instanceId)
    })
  )

  it.live("a token request that times out is TokenUnavailable", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { requestTimeout: "100 millis", tries: 2 })
      mock.injectFault({ mode: "delay", pathPrefix: tokenPath, delayMs: 2_000 })
      const error = yield* Effect.flip(client.get(instanceIdPath))
      expect(error.reason).toBe("TokenUnavailable")
      expect(error.message).toContain("no answer in")
      // A timeout may be passing: the token is asked for once per attempt (the mock does not log answers
      // the client gave up on, so the client's own count tells).
      expect(client.requestCount()).toBe(2)
    })
  )
})

describe("reads", () => {
  it.effect("404 is undefined", () =>
    Effect.gen(function* () {
      const { client } = yield* setup()
      expect(yield* client.get("/latest/meta-data/spot/instance-action")).toBeUndefined()
    })
  )

  it.effect("a body that is not UTF-8 is MalformedResponse", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup()
      mock.injectFault({ mode: "garbage", pathPrefix: instanceIdPath, count: 1 })
      const error = yield* Effect.flip(client.get(instanceIdPath))
      expect(error.reason).toBe("MalformedResponse")
      expect(yield* client.get(instanceIdPath)).toBe(instanceId)
    })
  )

  it.effect("the endpoint may end with a slash", () =>
    Effect.gen(function* () {
      const { mock } = yield* setup()
      const client = yield* ImdsClient.make({ endpoint: `${mock.url}/` })
      expect(client.endpoint).toBe(mock.url)
      expect(yield* client.get(instanceIdPath)).toBe(instanceId)
    })
  )
})

describe("identity", () => {
  it.effect("comes from the identity document and the individual paths", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({
        instanceType: "c6i.xlarge",
        availabilityZone: "eu-west-1b",
        localIpv4: "10.1.2.3",
        instanceLifeCycle: "spot",
        accountId: "210987654321"
      })
      const identity = yield* client.identity
      expect(identity).toEqual({
        instanceId,
        instanceType: "c6i.xlarge",
        availabilityZone: "eu-west-1b",
        region: "eu-west-1",
        localHostname: "ip-10-1-2-3.eu-west-1.compute.internal",
        localIpv4: "10.1.2.3",
        accountId: "210987654321",
        instanceLifeCycle: "spot",
        publicHostname: mock.identity.publicHostname,
        publicIpv4: mock.identity.publicIpv4
      })
      // Read once, then remembered.
      const before = mock.requests().length
      expect(yield* client.identity).toEqual(identity)
      expect(mock.requests().length).toBe(before)
    })
  )

  it.effect("falls back to the individual paths when the document cannot be decoded, as the Go handler", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({ availabilityZone: "us-west-2c" })
      mock.injectFault({
        mode: "garbage",
        pathPrefix: "/latest/dynamic/instance-identity/document",
        count: 1
      })
      const identity = yield* client.identity
      expect(identity.instanceId).toBe(instanceId)
      expect(identity.instanceType).toBe("m5.large")
      expect(identity.availabilityZone).toBe("us-west-2c")
      expect(identity.region).toBe("us-west-2")
      expect(identity.accountId).toBeUndefined()
      expect(count(mock, "GET", "/latest/meta-data/placement/availability-zone")).toBe(1)
    })
  )

  it.effect("fails only without an instance id, and a failed read is not remembered", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tries: 1 })
      mock.injectFault({
        mode: "forbidden",
        pathPrefix: "/latest/dynamic/instance-identity/document",
        count: 1
      })
      mock.injectFault({ mode: "forbidden", pathPrefix: instanceIdPath, count: 1 })
      const error = yield* Effect.flip(client.identity)
      expect(error.reason).toBe("Forbidden")
      expect(error.path).toBe(instanceIdPath)
      expect((yield* client.identity).instanceId).toBe(instanceId)
    })
  )

  it.effect("leaves out a field it cannot read, and reads it again next time", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tries: 1 })
      mock.injectFault({ mode: "forbidden", pathPrefix: "/latest/meta-data/local-hostname", count: 1 })
      mock.injectFault({ mode: "error", pathPrefix: "/latest/meta-data/instance-life-cycle", count: 1 })
      const partial = yield* client.identity
      expect(partial.instanceId).toBe(instanceId)
      expect(partial.instanceType).toBe("m5.large")
      expect(partial.localHostname).toBeUndefined()
      expect(partial.instanceLifeCycle).toBeUndefined()
      const full = yield* client.identity
      expect(full.localHostname).toBe(mock.identity.localHostname)
      expect(full.instanceLifeCycle).toBe(mock.identity.instanceLifeCycle)
    })
  )

  it.effect("without the identity document, needs nothing but the instance id", () =>
    Effect.gen(function* () {
      const { mock, client } = yield* setup({}, { tries: 1 })
      // Every path but the instance id refused: the document, the placement, the hostnames, the life cycle.
      mock.injectFault({ mode: "forbidden", pathPrefix: "/latest/dynamic/" })
      for (const name of [
        "instance-type",
        "local-ipv4",
        "placement",
        "instance-life-cycle",
        "local-hostname"
      ])
        mock.injectFault({ mode: "forbidden", pathPrefix: `/latest/meta-data/${name}` })
      mock.injectFault({ mode: "unavailable", pathPrefix: "/latest/meta-data/public-" })
      expect(yield* client.identity).toEqual({ instanceId })
      expect(yield* ImdsClient.instanceIdOf(client)).toBe(instanceId)
    })
  )
})

describe("errors", () => {
  it("classifies transient failures", () => {
    const error = (reason: ImdsError.Reason, status?: number) =>
      new ImdsError.ImdsError({
        reason,
        path: "/",
        message: "x",
        ...(status === undefined ? {} : { status })
      })
    expect(ImdsError.isTransient(error("Throttled", 429))).toBe(true)
    expect(ImdsError.isTransient(error("ServerError", 503))).toBe(true)
    expect(ImdsError.isTransient(error("Timeout"))).toBe(true)
    expect(ImdsError.isTransient(error("Transport"))).toBe(true)
    expect(ImdsError.isTransient(error("TokenUnavailable"))).toBe(true)
    expect(ImdsError.isTransient(error("TokenUnavailable", 503))).toBe(true)
    expect(ImdsError.isTransient(error("TokenUnavailable", 403))).toBe(false)
    expect(ImdsError.isTransient(error("Forbidden", 403))).toBe(false)
    expect(ImdsError.isTransient(error("MalformedResponse", 200))).toBe(false)
    expect(ImdsError.reasonOfStatus(418)).toBe("UnexpectedStatus")
  })
})
