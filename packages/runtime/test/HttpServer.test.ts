import type { AddressInfo } from "node:net"
import { createServer } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpServer, Readiness } from "../src/index.ts"

describe("HttpServer", () => {
  it.live("retries a port in use, then fails with one line naming it", () =>
    Effect.gen(function* () {
      const holder = createServer()
      const port = yield* Effect.promise(
        () =>
          new Promise<number>((resolve) =>
            holder.listen(0, "127.0.0.1", () => resolve((holder.address() as AddressInfo).port))
          )
      )
      const error = yield* Effect.flip(
        Effect.scoped(HttpServer.serve({ port, host: "127.0.0.1", routes: {}, bindTimeout: "1 second" }))
      )
      holder.close()
      expect(error._tag).toBe("ServerBindFailed")
      expect(error.message).toBe(`port ${port} is still in use after 1s of retries`)
    })
  )

  it.live(
    "answers /readyz 503 naming what is down, 200 once every dependency is ready, beside a liveness that stays OK",
    () =>
      Effect.gen(function* () {
        const sqs = Readiness.tracker("SQS has not answered yet")
        const routes = HttpServer.routes({
          probesPath: "/healthz",
          readiness: { sqs: sqs.health, kubernetes: () => ({ ready: true }) }
        })
        const { port } = yield* HttpServer.serve({ port: 0, host: "127.0.0.1", routes })
        const get = (path: string) =>
          Effect.promise(async () => {
            const response = await fetch(`http://127.0.0.1:${port}${path}`)
            return {
              status: response.status,
              body: (await response.json()) as {
                readonly dependencies: Record<string, Readiness.Health>
              }
            }
          })
        expect(yield* get("/readyz")).toEqual({
          status: 503,
          body: {
            ready: false,
            dependencies: {
              sqs: { ready: false, reason: "SQS has not answered yet" },
              kubernetes: { ready: true }
            }
          }
        })
        expect(yield* get("/healthz")).toEqual({ status: 200, body: { health: "OK" } })
        sqs.up()
        expect((yield* get("/readyz")).status).toBe(200)
        sqs.down("ReceiveMessage failed (Throttled): slow down")
        expect((yield* get("/readyz")).body.dependencies.sqs).toEqual({
          ready: false,
          reason: "ReceiveMessage failed (Throttled): slow down"
        })
      }).pipe(Effect.scoped)
  )

  it("reports a check that throws as not ready instead of failing the probe", () => {
    expect(
      Readiness.report({
        imds: () => {
          throw new Error("boom")
        }
      })
    ).toEqual({
      ready: false,
      dependencies: { imds: { ready: false, reason: "its check failed: Error: boom" } }
    })
  })
})
