/**
 * The time format of EventBridge events and Auto Scaling notifications.
 */

// Go's `time.Parse(time.RFC3339, …)`, which the Go handler uses: a date, `T`, a time with optional fractional
// seconds, and `Z` or a numeric offset.
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/

/**
 * An RFC 3339 time (`2026-11-25T10:02:00Z`, `2021-01-29T00:52:33.385Z`). `undefined` for anything else,
 * including dates that do not exist (`2026-02-31`).
 */
export const parseRfc3339 = (text: string): Date | undefined => {
  if (!rfc3339.test(text)) return undefined
  const date = new Date(text)
  if (Number.isNaN(date.getTime())) return undefined
  // `Date` rolls 31 Feb over into March where Go refuses it; the date part must come back unchanged. Offsets can
  // move the UTC day, so compare in the text's own offset.
  const offsetMinutes = offsetOf(text)
  const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 10)
  return local === text.slice(0, 10) ? date : undefined
}

const offsetOf = (text: string): number => {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(text)
  if (match === null) return 0
  const [, sign, hours, minutes] = match
  return (sign === "-" ? -1 : 1) * (Number(hours) * 60 + Number(minutes))
}

/**
 * A time as the descriptions print it: RFC 3339 in UTC, with milliseconds only when there are some.
 */
export const formatRfc3339 = (date: Date): string => date.toISOString().replace(/\.000Z$/, "Z")
