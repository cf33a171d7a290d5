/**
 * What every chaos run shares: the kills (a random program, at a random moment, restarted a second later under
 * its own key, as its controller would restart it; every third one a SIGTERM stop instead of a SIGKILL) and the
 * count of the faults that were served, by kind, for the printed figures; and the wait for every node drained.
 */
import type { ApiFaultProxy } from "./apiFaults.ts"
import * as Fixtures from "./fixtures.ts"
import type { Program } from "./programs.ts"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Kills {
  readonly killed: number
  readonly stopped: number
}

/**
 * `kills` times: waits a random `pause` (ms, min and spread), stops a random one of `programs` (SIGTERM every
 * third time, else SIGKILL), then after a second `restart`s it under the same key (which must put the new one
 * into `programs`).
 */
export const killAtRandom = async <K>(options: {
  readonly programs: ReadonlyMap<K, Program>
  readonly restart: (key: K) => void
  readonly kills: number
  readonly pause: { readonly minMs: number; readonly spreadMs: number }
}): Promise<Kills> => {
  let killed = 0
  let stopped = 0
  for (let k = 0; k < options.kills; k++) {
    await sleep(options.pause.minMs + Math.random() * options.pause.spreadMs)
    const keys = [...options.programs.keys()]
    const key = keys[Math.floor(Math.random() * keys.length)] as K
    const app = options.programs.get(key)
    if (app === undefined) continue
    if (k % 3 === 2) {
      await app.stop("SIGTERM")
      stopped += 1
    } else {
      app.process.kill("SIGKILL")
      await app.exited
      killed += 1
    }
    await sleep(1000)
    options.restart(key)
  }
  return { killed, stopped }
}

/** Counts by `<side> <kind>` of the log entries that were faults (anything but `forwarded`). */
export const faultCounts = (
  sides: Record<string, ReadonlyArray<{ readonly action: string }>>
): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const [side, log] of Object.entries(sides))
    for (const entry of log)
      if (entry.action !== "forwarded")
        counts.set(`${side} ${entry.action}`, (counts.get(`${side} ${entry.action}`) ?? 0) + 1)
  return counts
}

/** The counts as the figures print them: `api status 16, aws error 9`. */
export const describeCounts = (counts: ReadonlyMap<string, number>): string =>
  [...counts].map(([kind, n]) => `${kind} ${n}`).join(", ")

/**
 * The API server's faults of every kind a chaos run spreads over its drains: evictions throttled (429 with
 * Retry-After, `throttledEvictions` of them), failing (503) and reset; node writes in conflict (409) and failing
 * (500); pod watches (and, for queue mode's node index, node watches) cut mid-way; slow reads.
 */
export const injectApiFaults = (
  api: ApiFaultProxy,
  options: { readonly throttledEvictions: number; readonly cutNodeWatches?: number }
): void => {
  api.inject({
    method: "POST",
    path: /\/eviction$/,
    fault: { _tag: "status", status: 429, retryAfterSeconds: 1 },
    times: options.throttledEvictions
  })
  api.inject({ method: "POST", path: /\/eviction$/, fault: { _tag: "status", status: 503 }, times: 2 })
  api.inject({ method: "POST", path: /\/eviction$/, fault: { _tag: "reset" }, times: 2 })
  api.inject({
    method: "PATCH",
    path: /^\/api\/v1\/nodes\//,
    fault: { _tag: "status", status: 409, reason: "Conflict" },
    times: 2
  })
  api.inject({
    method: "PATCH",
    path: /^\/api\/v1\/nodes\//,
    fault: { _tag: "status", status: 500 },
    times: 2
  })
  api.inject({
    method: "GET",
    path: /^\/api\/v1\/pods\?.*watch=true/,
    fault: { _tag: "cutWatch", afterMs: 1500 },
    times: 4
  })
  if (options.cutNodeWatches)
    api.inject({
      method: "GET",
      path: /^\/api\/v1\/nodes\?.*watch=true/,
      fault: { _tag: "cutWatch", afterMs: 2000 },
      times: options.cutNodeWatches
    })
  api.inject({ method: "GET", fault: { _tag: "delay", ms: 300 }, times: 10 })
}

/**
 * Waits until every node named is drained (no live pod left on it), writing in `drainedAt` when each was first
 * seen so, as it goes: a test that times out still knows which nodes were drained, and when.
 */
export const waitForDrained = (
  clients: Fixtures.Clients,
  nodeNames: ReadonlyArray<string>,
  drainedAt: Map<string, number>,
  timeoutMs: number
): Promise<true> =>
  Fixtures.waitFor(
    "every node drained",
    async () => {
      for (const name of nodeNames) {
        if (drainedAt.has(name)) continue
        if ((await Fixtures.livePodsOn(clients, name)).length === 0) drainedAt.set(name, Date.now())
      }
      return drainedAt.size === nodeNames.length ? true : undefined
    },
    { timeoutMs, intervalMs: 500 }
  )
