import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { ImdsMock } from "../src/index.ts"
import { get, read, token } from "./support.ts"

const instanceAction = "/latest/meta-data/spot/instance-action"

const reachable = (url: string): Promise<boolean> =>
  fetch(`${url}/control/state`).then(
    () => true,
    () => false
  )

describe("Promise API", () => {
  it("starts on a free loopback port and closes, more than once without harm", async () => {
    const mock = await ImdsMock.start()
    expect(mock.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(mock.url).toBe(`http://127.0.0.1:${mock.port}`)
    expect(await reachable(mock.url)).toBe(true)
    await mock.close()
    await mock.close()
    expect(await reachable(mock.url)).toBe(false)
  })

  it("closes through Symbol.asyncDispose", async () => {
    const mock = await ImdsMock.start()
    await mock[Symbol.asyncDispose]()
    expect(await reachable(mock.url)).toBe(false)
  })

  it("rejects with a ListenError when the port is taken", async () => {
    const mock = await ImdsMock.start()
    try {
      await expect(ImdsMock.start({ port: mock.port })).rejects.toBeInstanceOf(ImdsMock.ListenError)
      await expect(ImdsMock.start({ port: mock.port })).rejects.toThrow(/EADDRINUSE/)
    } finally {
      await mock.close()
    }
  })

  it("closes a connection held by a delay fault without waiting for it", async () => {
    const mock = await ImdsMock.start()
    const issued = await token(mock.url)
    mock.injectFault({ mode: "delay", delayMs: 60_000 })
    const pending = get(mock.url, "/latest/meta-data/instance-id", issued)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const started = performance.now()
    await mock.close()
    expect(performance.now() - started).toBeLessThan(1_000)
    await expect(pending).rejects.toThrow()
  })
})

describe("side by side", () => {
  it("keeps the state, tokens and clocks of two mocks apart", async () => {
    const first = await ImdsMock.start({ instanceId: "i-00000000000000001" })
    const second = await ImdsMock.start({ instanceId: "i-00000000000000002" })
    try {
      expect(first.port).not.toBe(second.port)
      first.setSpotInterruption({ action: "terminate" })
      second.injectFault({ mode: "error", pathPrefix: "/latest/meta-data/placement/" })
      expect((await read(first.url, instanceAction)).status).toBe(200)
      expect((await read(second.url, instanceAction)).status).toBe(404)
      expect((await read(first.url, "/latest/meta-data/instance-id")).body).toBe("i-00000000000000001")
      expect((await read(second.url, "/latest/meta-data/instance-id")).body).toBe("i-00000000000000002")
      expect((await read(first.url, "/latest/meta-data/placement/region")).status).toBe(200)
      const firstToken = await token(first.url)
      expect((await get(second.url, "/latest/meta-data/instance-id", firstToken)).status).toBe(401)
      first.advanceClock(3_600_000)
      expect(second.state().clockOffsetMs).toBe(0)
    } finally {
      await Promise.all([first.close(), second.close()])
    }
  })
})

describe("Effect API", () => {
  it.live("serves while its scope is open and closes with it", () =>
    Effect.gen(function* () {
      const url = yield* Effect.scoped(
        Effect.gen(function* () {
          const mock = yield* ImdsMock.make({ instanceId: "i-0123456789abcdef0" })
          mock.setSpotInterruption({ action: "stop", time: "2026-11-25T10:02:00Z" })
          const answer = yield* Effect.promise(() => read(mock.url, instanceAction))
          expect(JSON.parse(answer.body)).toEqual({ action: "stop", time: "2026-11-25T10:02:00Z" })
          return mock.url
        })
      )
      expect(yield* Effect.promise(() => reachable(url))).toBe(false)
    })
  )

  it.live("provides the mock as a service through a layer", () =>
    Effect.gen(function* () {
      const mock = yield* ImdsMock.ImdsMock
      const answer = yield* Effect.promise(() => read(mock.url, "/latest/meta-data/instance-id"))
      expect(answer.body).toBe("i-0fedcba9876543210")
    }).pipe(Effect.provide(ImdsMock.layer({ instanceId: "i-0fedcba9876543210" })))
  )

  it.live("fails with a ListenError when the port is taken", () =>
    Effect.gen(function* () {
      const taken = yield* ImdsMock.make()
      const exit = yield* Effect.exit(Layer.build(ImdsMock.layer({ port: taken.port })))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(ImdsMock.make({ port: taken.port }))
      expect(error._tag).toBe("ListenError")
    }).pipe(Effect.scoped)
  )
})
