/**
 * What the plugin prints: kubectl drain's lines and messages where kubectl has them (the refusals word for word,
 * grouped as kubectl groups them), nth's own where it does more (waiting on a budget, a deadline re-eviction),
 * and the per-pod report as a table or JSON.
 */
import type { DrainReport as Report } from "@nth/drainer"
import { KubeError } from "@nth/kube"
import type { Flags } from "./flags.ts"

type DrainReport = Report.DrainReport
type PodReport = Report.PodReport
type Progress = Report.Progress

/** kubectl's words for the built-in rules' refusals. */
const kubectlRefusal: Record<string, string> = {
  DaemonSetPod: "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
  LocalStorage: "cannot delete Pods with local storage (use --delete-emptydir-data to override)",
  Unreplicated: "cannot delete Pods that declare no controller (use --force to override)"
}

/** kubectl capitalises "Pods" in its warnings. */
const kubectlWarning = (text: string) => text.replace(/\bpods\b/, "Pods")

const refusalOf = (pod: PodReport): string =>
  (pod.reason !== undefined ? kubectlRefusal[pod.reason] : undefined) ??
  // A missing DaemonSet: kubectl shows the API's own NotFound message.
  (pod.reason === "OrphanedDaemonSetPod"
    ? (pod.message ?? "").split(";")[0]!
    : (pod.message ?? pod.reason ?? "refused"))

const byPod = (a: PodReport, b: PodReport) =>
  a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace)

/** Messages with their pods, in the order kubectl gives them: each message where its first pod comes. */
const grouped = (entries: ReadonlyArray<readonly [string, PodReport]>): ReadonlyArray<string> => {
  const groups = new Map<string, Array<string>>()
  for (const [message, pod] of [...entries].sort((a, b) => byPod(a[1], b[1])))
    groups.set(message, [...(groups.get(message) ?? []), `${pod.namespace}/${pod.name}`])
  return [...groups].map(([message, pods]) => `${message}: ${pods.join(", ")}`)
}

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

/** An API failure as kubectl prints one: `Error from server (NotFound): nodes "x" not found`. */
export const apiError = (error: unknown, resource: string, name?: string): string => {
  // client-node's own errors (a read, a list) and the drainer's KubeError, read the same way.
  const e = KubeError.fromUnknown(`read ${resource}`, error)
  if (e.reason === "NotFound" && name !== undefined)
    return `Error from server (NotFound): ${resource} "${name}" not found`
  if (e.reason === "Forbidden") return `Error from server (Forbidden): ${e.message}`
  return `error: ${e.message}`
}

/** Why a node was not drained: kubectl's one-line summary, the lines it lists at the end, and the report. */
export const failure = (
  node: string,
  error: unknown
): { readonly summary: string; readonly lines: ReadonlyArray<string>; readonly report?: DrainReport } => {
  const e = error as { _tag?: string; report?: DrainReport }
  if (e?._tag === "DrainRefused" && e.report !== undefined) {
    const lines = grouped(
      e.report.pods.filter((pod) => pod.outcome === "Refused").map((pod) => [refusalOf(pod), pod] as const)
    )
    return { summary: lines.length === 1 ? lines[0]! : `[${lines.join(", ")}]`, lines, report: e.report }
  }
  if (e?._tag === "KubeError") {
    const line = apiError(error, "nodes", node)
    return { summary: line, lines: [line] }
  }
  const line = errorText(error)
  return { summary: line, lines: [line], ...(e?.report !== undefined ? { report: e.report } : {}) }
}

const seconds = (ms: number | undefined) => (ms === undefined ? "" : `${(ms / 1000).toFixed(1)}s`)

/** The per-pod report as a table, kubectl get's style: upper-case headers, columns padded with spaces. */
export const table = (reports: ReadonlyArray<DrainReport>): string => {
  const rows: Array<ReadonlyArray<string>> = [
    ["NODE", "NAMESPACE", "POD", "OUTCOME", "METHOD", "ATTEMPTS", "GRACE", "GONE AFTER", "DETAIL"]
  ]
  for (const report of reports)
    for (const pod of [...report.pods].sort(byPod))
      rows.push([
        report.node,
        pod.namespace,
        pod.name,
        pod.outcome,
        pod.method,
        String(pod.attempts),
        pod.gracePeriodSeconds === undefined
          ? ""
          : `${pod.gracePeriodSeconds}s${pod.gracePeriodShortened ? " (shortened)" : ""}`,
        seconds(pod.goneAfterMs),
        [
          pod.outcome === "Refused" ? refusalOf(pod) : (pod.message ?? ""),
          pod.blockedBy.length > 0 ? `blocked by ${pod.blockedBy.join(", ")}` : "",
          pod.error ?? ""
        ]
          .filter((part) => part !== "")
          .join("; ")
      ])
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("   ")
        .trimEnd()
    )
    .join("\n")
}

export const writer = (flags: Flags) => {
  const dry = flags.dryRun === "client" ? " (dry run)" : flags.dryRun === "server" ? " (server dry run)" : ""
  // With -o json, stdout is the JSON alone: the lines go to stderr.
  const toStdout = flags.output !== "json"
  const line = (text: string) => (toStdout ? process.stdout : process.stderr).write(`${text}\n`)
  const error = (text: string) => process.stderr.write(`${text}\n`)
  const evicting = new Set<string>()
  const deleted = new Set<string>()
  const waiting = new Set<string>()
  const key = (pod: { namespace: string; name: string }) => `${pod.namespace}/${pod.name}`

  const progress = (event: Progress) => {
    switch (event._tag) {
      case "PodEvicting":
        evicting.add(key(event.pod))
        line(`evicting pod ${key(event.pod)}${dry}`)
        return
      case "PodDeleted":
        deleted.add(key(event.pod))
        return
      case "PodEvictedAgain":
        error(
          `evicting pod ${key(event.pod)} again with a ${event.gracePeriodSeconds ?? 0}s grace period, to end before the deadline`
        )
        return
      case "PodBlocked": {
        // Once per pod and budget: the drain retries the moment the budget allows, not every 5 s as kubectl.
        const id = `${key(event.pod)} ${event.budget ?? ""}`
        if (waiting.has(id)) return
        waiting.add(id)
        error(
          `waiting for ${event.budget === undefined ? "a disruption budget" : `disruption budget ${event.budget}`} to allow evicting pods/"${event.pod.name}" -n "${event.pod.namespace}": ${event.message}`
        )
        return
      }
      case "PodGone":
        line(`pod/${event.pod.name} ${deleted.has(key(event.pod)) ? "deleted" : "evicted"}${dry}`)
        return
      case "PodFailed":
        error(`error when evicting pods/"${event.pod.name}" -n "${event.pod.namespace}": ${event.error}`)
        return
      default:
        return
    }
  }

  /** After a drain: the pods a dry run would evict (no progress came for them), then kubectl's warnings. */
  const finished = (report: DrainReport) => {
    for (const pod of report.pods)
      if (pod.outcome === "WouldRemove" && !evicting.has(key(pod))) line(`evicting pod ${key(pod)}${dry}`)
    const warnings = grouped(
      report.pods.flatMap((pod) => [
        ...pod.warnings.map((warning) => [kubectlWarning(warning), pod] as const),
        ...(pod.outcome === "Skipped" && pod.reason === "DaemonSetPod"
          ? [["ignoring DaemonSet-managed Pods", pod] as const]
          : [])
      ])
    )
    if (warnings.length > 0) error(`Warning: ${warnings.join("; ")}`)
  }

  const report = (reports: ReadonlyArray<DrainReport>) => {
    if (flags.output === "json") process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`)
    else if (flags.output === "table" && reports.length > 0) process.stdout.write(`${table(reports)}\n`)
  }

  return { dry, line, error, progress, finished, report }
}
