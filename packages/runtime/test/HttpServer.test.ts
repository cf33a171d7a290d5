import type { AddressInfo } from "node:net"
import { createServer } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpServer } from "../src/index.ts"

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
})
