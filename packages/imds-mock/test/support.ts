/**
 * Small HTTP helpers for talking to a mock the way an IMDS client does: real requests over loopback.
 */
import { afterEach, beforeEach } from "@effect/vitest"
import { ImdsMock } from "../src/index.ts"

export const ttlHeader = "X-aws-ec2-metadata-token-ttl-seconds"
export const tokenHeader = "X-aws-ec2-metadata-token"

/** A fixed start time for the injected clock, so expected times can be written out. */
export const startMs = Date.parse("2026-11-25T10:00:00Z")

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

const toAnswer = async (response: globalThis.Response): Promise<Answer> => ({
  status: response.status,
  headers: response.headers,
  body: await response.text()
})

/** PUT (or `method`) on the token path; a `null` TTL sends no TTL header. */
export const requestToken = (url: string, ttl: string | null = "21600", method = "PUT"): Promise<Answer> =>
  fetch(`${url}/latest/api/token`, { method, headers: ttl === null ? {} : { [ttlHeader]: ttl } }).then(
    toAnswer
  )

export const token = async (url: string, ttl = "21600"): Promise<string> => {
  const answer = await requestToken(url, ttl)
  if (answer.status !== 200) throw new Error(`token request answered ${answer.status}`)
  return answer.body
}

export const get = (url: string, path: string, withToken?: string, method = "GET"): Promise<Answer> =>
  fetch(`${url}${path}`, {
    method,
    headers: withToken === undefined ? {} : { [tokenHeader]: withToken }
  }).then(toAnswer)

/** GET with a fresh token. */
export const read = async (url: string, path: string): Promise<Answer> => get(url, path, await token(url))

export const control = (url: string, method: string, path: string, body?: unknown): Promise<Answer> =>
  fetch(`${url}/control${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
  }).then(toAnswer)

/**
 * A fresh mock for each test of the enclosing `describe`, closed after it. The clock starts at {@link startMs}
 * and only moves when the test advances it.
 */
export const useMock = (options: ImdsMock.Options = {}): (() => ImdsMock.StartedImdsMock) => {
  let mock: ImdsMock.StartedImdsMock | undefined
  beforeEach(async () => {
    mock = await ImdsMock.start({ clock: () => startMs, ...options })
  })
  afterEach(async () => {
    await mock?.close()
    mock = undefined
  })
  return () => {
    if (mock === undefined) throw new Error("useMock: no mock outside a test")
    return mock
  }
}
