/**
 * The text forms IMDS uses, and the random ids it hands out.
 */
import { randomBytes } from "node:crypto"

const monthAbbreviations = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec"
]

const twoDigits = (value: number): string => String(value).padStart(2, "0")

/**
 * RFC 3339 in UTC at second precision (`2026-11-25T10:02:00Z`): the form of Spot and rebalance notice times.
 * IMDS never sends fractions of a second, and clients hash the text into event ids, so it must match exactly.
 */
export const rfc3339Seconds = (epochMs: number): string =>
  new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")

/**
 * The Go layout `2 Jan 2006 15:04:05 GMT` that scheduled events use: day without a leading zero, English month
 * abbreviation, 24-hour clock.
 */
export const goEventTime = (epochMs: number): string => {
  const date = new Date(epochMs)
  const clock = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map(twoDigits).join(":")
  return `${date.getUTCDate()} ${monthAbbreviations[date.getUTCMonth()]} ${date.getUTCFullYear()} ${clock} GMT`
}

const randomHex = (digits: number): string =>
  randomBytes(Math.ceil(digits / 2))
    .toString("hex")
    .slice(0, digits)

/** A fresh instance id in the current 17-digit form. */
export const randomInstanceId = (): string => `i-${randomHex(17)}`

/** A fresh scheduled event id, in the form EC2 uses (`instance-event-` and 17 hex digits). */
export const randomScheduledEventId = (): string => `instance-event-${randomHex(17)}`

/** A fresh session token: 32 random bytes in base64, as long as the tokens EC2 issues. */
export const randomToken = (): string => randomBytes(32).toString("base64")

/** The region of an availability zone: `us-east-1a` → `us-east-1`. */
export const regionOfZone = (availabilityZone: string): string => availabilityZone.replace(/[a-z]+$/, "")
