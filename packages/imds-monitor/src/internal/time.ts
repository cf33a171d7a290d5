/**
 * The two time formats IMDS uses.
 */

const months: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11
}

const scheduledEventTime = /^(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{1,2}):(\d{2}):(\d{2}) GMT$/

/**
 * A scheduled event's time, in Go's layout `2 Jan 2006 15:04:05 GMT` (day without a leading zero, English month
 * abbreviation). `undefined` for anything else, including dates that do not exist (`31 Feb`), as Go's parser.
 */
export const parseScheduledEventTime = (text: string): Date | undefined => {
  const match = scheduledEventTime.exec(text)
  if (match === null) return undefined
  const [, day, monthName, year, hour, minute, second] = match
  const month = months[monthName ?? ""]
  if (month === undefined) return undefined
  const parts = [year, day, hour, minute, second].map(Number) as [number, number, number, number, number]
  const [y, d, h, min, s] = parts
  if (h > 23 || min > 59 || s > 59) return undefined
  const date = new Date(Date.UTC(y, month, d, h, min, s))
  // Date.UTC rolls 31 Feb over into March; a real date comes back with the same day.
  return date.getUTCDate() === d && date.getUTCMonth() === month ? date : undefined
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/**
 * An RFC 3339 time (`2026-11-25T10:02:00Z`), the form of Spot and rebalance notice times. `undefined` for
 * anything else.
 */
export const parseRfc3339 = (text: string): Date | undefined => {
  if (!rfc3339.test(text)) return undefined
  const date = new Date(text)
  return Number.isNaN(date.getTime()) ? undefined : date
}
