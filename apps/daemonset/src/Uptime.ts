/**
 * The node's uptime, which decides whether it rebooted since nth marked it for an uncordon after a scheduled
 * reboot. An uptime that cannot be read or parsed is unknown (`undefined`), never a number: a wrong one could
 * uncordon a node that is about to go away.
 */
import { readFileSync } from "node:fs"

/**
 * The seconds in the first field of a `/proc/uptime`-style text (`"350735.47 234388.90"`), or `undefined` when
 * that field is not a non-negative decimal number.
 */
export const parse = (text: string): number | undefined => {
  const first = text.trim().split(/\s+/)[0] ?? ""
  // Number.parseFloat would read "12abc" as 12 and "" as NaN; the whole field must be a number.
  if (!/^\d+(?:\.\d+)?$/.test(first)) return undefined
  const seconds = Number(first)
  return Number.isFinite(seconds) ? seconds : undefined
}

/** Reads `file` (default `/proc/uptime`); `undefined` when it cannot be read or parsed. */
export const read = (file: string): number | undefined => {
  try {
    return parse(readFileSync(file || "/proc/uptime", "utf8"))
  } catch {
    return undefined
  }
}
