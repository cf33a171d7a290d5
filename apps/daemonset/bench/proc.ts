/** What /proc says of a process, for the benchmarks. */
import { readFileSync } from "node:fs"

/** Its resident memory (`VmRSS`), in MiB. */
export const rssMiB = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024
}
