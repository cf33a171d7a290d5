/**
 * Checks the mock against aws/amazon-ec2-metadata-mock (AEMM) v1.13.0, the emulator the Go handler's tests use:
 * the same paths must answer with the same JSON shapes (keys, value types, date formats) and the same token
 * behaviour. Skipped unless NTH_AEMM_CHECK=1 (`pnpm check:aemm`), because it needs the AEMM binary: AEMM_BIN,
 * or built once with `go install` into ~/.cache/nth-testbed/aemm.
 *
 * Known, deliberate differences (asserted below where they are observable):
 * - AEMM answers `GET /latest/api/token` with an empty 200; the mock answers 405, as IMDS does.
 * - AEMM serves `spot/termination-time` for every action; the mock only for `terminate`, as IMDS does.
 * - AEMM lists every path it knows in a folder, notice or not, and has no `events/maintenance/history`; the
 *   mock lists only what is readable right now, and serves the history.
 * - AEMM pretty-prints JSON with tabs (application/json); the mock sends compact notices (text/plain). Both are
 *   the same JSON.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { ImdsMock } from "../src/index.ts"
import { get, read, requestToken, token } from "./support.ts"

const enabled = process.env.NTH_AEMM_CHECK === "1"
const version = "v1.13.0"

const rfc3339Seconds = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
const goEventTime =
  /^([1-9]|[12]\d|3[01]) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/

const aemmBinary = (): string => {
  const fromEnv = process.env.AEMM_BIN
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  const directory = join(homedir(), ".cache", "nth-testbed", "aemm")
  const binary = join(directory, "ec2-metadata-mock")
  if (!existsSync(binary)) {
    execFileSync(
      "go",
      ["install", `github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@${version}`],
      { env: { ...process.env, GOBIN: directory }, stdio: "inherit" }
    )
  }
  return binary
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

interface Aemm {
  readonly url: string
  readonly process: ChildProcess
}

// AEMM reads $HOME/aemm-config.json when there is one: a private HOME keeps a stray config out of the check.
const home = enabled ? mkdtempSync(join(tmpdir(), "nth-aemm-")) : ""

const startAemm = async (binary: string, args: ReadonlyArray<string>): Promise<Aemm> => {
  const port = await freePort()
  const child = spawn(binary, ["-n", "127.0.0.1", "-p", String(port), "-I", ...args], {
    env: { ...process.env, HOME: home },
    stdio: "ignore"
  })
  const url = `http://127.0.0.1:${port}`
  for (let attempt = 0; attempt < 100; attempt++) {
    const ready = await requestToken(url, "60").then(
      (answer) => answer.status === 200,
      () => false
    )
    if (ready) return { url, process: child }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill()
  throw new Error(`AEMM ${args.join(" ")} did not start on ${url}`)
}

/** The shape of a JSON value: its keys (sorted) with the type of each value, recursively. */
const shape = (value: unknown): unknown => {
  if (value === null) return "null"
  if (Array.isArray(value)) return value.map(shape)
  if (typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, inner]) => [key, shape(inner)])
    )
  }
  return typeof value
}

const json = async (url: string, path: string): Promise<unknown> => {
  const answer = await read(url, path)
  expect(answer.status, `${url}${path}`).toBe(200)
  return JSON.parse(answer.body)
}

describe.skipIf(!enabled)(`compatibility with amazon-ec2-metadata-mock ${version}`, () => {
  // One AEMM with every default (root command), one told about a Spot notice and a rebalance recommendation,
  // one told about a scheduled event: the subcommands are how AEMM takes specific notices.
  let all: Aemm
  let spot: Aemm
  let events: Aemm
  let mock: ImdsMock.StartedImdsMock

  beforeAll(async () => {
    const binary = aemmBinary()
    ;[all, spot, events] = await Promise.all([
      startAemm(binary, []),
      startAemm(binary, [
        "spot",
        "-a",
        "terminate",
        "-t",
        "2026-11-25T10:02:00Z",
        "-r",
        "2026-11-25T10:00:00Z"
      ]),
      startAemm(binary, [
        "events",
        "-o",
        "instance-stop",
        "-t",
        "canceled",
        "-b",
        "2026-01-05T09:00:43Z",
        "-a",
        "2026-01-06T09:00:43Z",
        "-l",
        "2026-01-09T09:00:43Z"
      ])
    ])
    mock = await ImdsMock.start({ autoScalingGroup: "nodes" })
    mock.setSpotInterruption({ action: "terminate", time: "2026-11-25T10:02:00Z" })
    mock.setRebalanceRecommendation({ noticeTime: "2026-11-25T10:00:00Z" })
    mock.addScheduledEvent({
      eventId: "instance-event-1234567890abcdef0",
      code: "instance-stop",
      state: "canceled",
      notBefore: "2026-01-05T09:00:43Z",
      notAfter: "2026-01-06T09:00:43Z",
      notBeforeDeadline: "2026-01-09T09:00:43Z"
    })
    // AEMM's ASG target lifecycle state turns Terminated once its (default 0 s) termination delay has passed.
    mock.setTargetLifecycleState("Terminated")
  }, 600_000)

  afterAll(async () => {
    for (const aemm of [all, spot, events]) aemm?.process.kill()
    await mock?.close()
    if (home !== "") rmSync(home, { recursive: true, force: true })
  })

  it("issues tokens the same way: 200 with the TTL echoed, 400 for a bad TTL", async () => {
    for (const url of [all.url, mock.url]) {
      const issued = await requestToken(url, "300")
      expect([issued.status, issued.headers.get("x-aws-ec2-metadata-token-ttl-seconds")]).toEqual([
        200,
        "300"
      ])
      expect(issued.body).toMatch(/^[A-Za-z0-9+/]{43}=$/)
      for (const ttl of [null, "0", "21601", "abc"]) {
        expect((await requestToken(url, ttl)).status, `${url} TTL ${ttl}`).toBe(400)
      }
    }
  })

  it("refuses requests without a token or with an unknown one, with 401", async () => {
    for (const url of [all.url, mock.url]) {
      expect((await get(url, "/latest/meta-data/instance-id")).status).toBe(401)
      expect((await get(url, "/latest/meta-data/instance-id", "forged")).status).toBe(401)
    }
  })

  it("expires a token after its TTL", async () => {
    const issued = await Promise.all([token(all.url, "1"), token(mock.url, "1")])
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    expect((await get(all.url, "/latest/meta-data/instance-id", issued[0])).status).toBe(401)
    expect((await get(mock.url, "/latest/meta-data/instance-id", issued[1])).status).toBe(401)
  })

  it("does not issue a token for GET (AEMM: empty 200, the mock: 405 like IMDS)", async () => {
    const aemm = await requestToken(all.url, "60", "GET")
    expect([aemm.status, aemm.body]).toEqual([200, ""])
    expect((await requestToken(mock.url, "60", "GET")).status).toBe(405)
  })

  it("serves the same Spot instance-action and termination-time", async () => {
    const expected = { action: "terminate", time: "2026-11-25T10:02:00Z" }
    expect(await json(spot.url, "/latest/meta-data/spot/instance-action")).toEqual(expected)
    expect(await json(mock.url, "/latest/meta-data/spot/instance-action")).toEqual(expected)
    const defaulted = (await json(all.url, "/latest/meta-data/spot/instance-action")) as { time: string }
    expect(shape(defaulted)).toEqual(shape(expected))
    expect(defaulted.time).toMatch(rfc3339Seconds)
    for (const url of [spot.url, mock.url]) {
      expect((await read(url, "/latest/meta-data/spot/termination-time")).body).toBe("2026-11-25T10:02:00Z")
    }
  })

  it("serves the same scheduled event, dates in the Go layout", async () => {
    const aemm = await json(events.url, "/latest/meta-data/events/maintenance/scheduled")
    expect(await json(mock.url, "/latest/meta-data/events/maintenance/scheduled")).toEqual(aemm)
    expect(aemm).toEqual([
      {
        Code: "instance-stop",
        Description: "The instance is scheduled for instance-stop",
        State: "canceled",
        EventId: "instance-event-1234567890abcdef0",
        NotBefore: "5 Jan 2026 09:00:43 GMT",
        NotAfter: "6 Jan 2026 09:00:43 GMT",
        NotBeforeDeadline: "9 Jan 2026 09:00:43 GMT"
      }
    ])
    const defaulted = (await json(all.url, "/latest/meta-data/events/maintenance/scheduled")) as Array<
      Record<string, string>
    >
    expect(shape(defaulted)).toEqual(shape(aemm))
    for (const key of ["NotBefore", "NotAfter", "NotBeforeDeadline"])
      expect(defaulted[0]?.[key]).toMatch(goEventTime)
  })

  it("serves the same rebalance recommendation", async () => {
    const expected = { noticeTime: "2026-11-25T10:00:00Z" }
    expect(await json(spot.url, "/latest/meta-data/events/recommendations/rebalance")).toEqual(expected)
    expect(await json(mock.url, "/latest/meta-data/events/recommendations/rebalance")).toEqual(expected)
    const defaulted = (await json(all.url, "/latest/meta-data/events/recommendations/rebalance")) as {
      noticeTime: string
    }
    expect(defaulted.noticeTime).toMatch(rfc3339Seconds)
  })

  it("serves the same target lifecycle state", async () => {
    for (const url of [all.url, mock.url]) {
      expect((await read(url, "/latest/meta-data/autoscaling/target-lifecycle-state")).body).toBe(
        "Terminated"
      )
    }
  })

  it("serves an identity document of the same shape", async () => {
    const aemm = (await json(all.url, "/latest/dynamic/instance-identity/document")) as Record<
      string,
      unknown
    >
    const ours = (await json(mock.url, "/latest/dynamic/instance-identity/document")) as Record<
      string,
      unknown
    >
    expect(shape(ours)).toEqual(shape(aemm))
    expect([ours.version, aemm.version]).toEqual(["2017-09-30", "2017-09-30"])
    expect(ours.pendingTime).toMatch(rfc3339Seconds)
    expect(aemm.pendingTime).toMatch(rfc3339Seconds)
  })

  it("serves the identity paths, and lists only names AEMM lists too", async () => {
    for (const path of [
      "instance-id",
      "instance-type",
      "ami-id",
      "hostname",
      "local-hostname",
      "local-ipv4",
      "public-hostname",
      "public-ipv4",
      "mac",
      "instance-life-cycle",
      "placement/availability-zone",
      "placement/region"
    ]) {
      for (const url of [all.url, mock.url]) {
        const answer = await read(url, `/latest/meta-data/${path}`)
        expect(answer.status, `${url} ${path}`).toBe(200)
        expect(answer.body).not.toBe("")
      }
    }
    for (const folder of [
      "/latest/meta-data/",
      "/latest/meta-data/placement/",
      "/latest/meta-data/events/"
    ]) {
      const names = async (url: string) => (await read(url, folder)).body.trim().split("\n")
      expect(await names(all.url)).toEqual(expect.arrayContaining(await names(mock.url)))
    }
  })

  it("answers 404 for an unknown path", async () => {
    for (const url of [all.url, mock.url]) {
      expect((await read(url, "/latest/meta-data/no-such-thing")).status).toBe(404)
    }
  })
})
