/**
 * `kubectl drain`'s command line, read as kubectl reads it (Go's pflag): `--name=value` and `--name value`, a
 * boolean given alone or as `--name=true|false`, `-l value`, `-lvalue` and `-l=value`, `--` ending the flags.
 * The same defaults, the same errors for a bad value or an unknown flag, plus nth's own flags.
 */

export type DryRun = "none" | "client" | "server"

export interface Flags {
  readonly nodes: ReadonlyArray<string>
  readonly selector: string | undefined
  readonly podSelector: string | undefined
  readonly force: boolean
  readonly ignoreDaemonSets: boolean
  readonly deleteEmptyDirData: boolean
  readonly disableEviction: boolean
  readonly gracePeriodSeconds: number
  readonly timeoutSeconds: number
  readonly skipWaitForDeleteTimeoutSeconds: number
  readonly chunkSize: number
  readonly dryRun: DryRun
  readonly kubeconfig: string | undefined
  readonly context: string | undefined
  /** nth: when the node goes away (a time, or a duration from now). */
  readonly deadline: Date | undefined
  /** nth: the per-pod report after the drain, as a table or JSON. */
  readonly output: "table" | "json" | undefined
  readonly help: boolean
  /** Warnings kubectl would print for these flags (a deprecated form). */
  readonly warnings: ReadonlyArray<string>
}

/** A command line kubectl would refuse: its message, and whether kubectl adds "See '… --help' for usage." */
export class UsageError extends Error {
  readonly hint: "usage" | "help"
  constructor(message: string, hint: "usage" | "help") {
    super(message)
    this.hint = hint
  }
}

type Kind = "bool" | "int" | "duration" | "string"

const definitions: Record<string, { readonly kind: Kind; readonly short?: string }> = {
  force: { kind: "bool" },
  "ignore-daemonsets": { kind: "bool" },
  "delete-emptydir-data": { kind: "bool" },
  "disable-eviction": { kind: "bool" },
  "grace-period": { kind: "int" },
  timeout: { kind: "duration" },
  "skip-wait-for-delete-timeout": { kind: "int" },
  "chunk-size": { kind: "int" },
  selector: { kind: "string", short: "l" },
  "pod-selector": { kind: "string" },
  "dry-run": { kind: "string" },
  kubeconfig: { kind: "string" },
  context: { kind: "string" },
  deadline: { kind: "string" },
  output: { kind: "string", short: "o" },
  help: { kind: "bool", short: "h" }
}
const byShort = new Map(
  Object.entries(definitions).flatMap(([name, d]) => (d.short ? [[d.short, name] as const] : []))
)

const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }

/** Go's `time.ParseDuration`, in seconds: "90s", "1m30s", "1.5h", "0". */
export const parseGoDuration = (text: string): number | undefined => {
  if (text === "0") return 0
  const sign = text.startsWith("-") ? -1 : 1
  let rest = text.replace(/^[-+]/, "")
  if (rest === "") return undefined
  let seconds = 0
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/.exec(rest)
    if (match === null) return undefined
    seconds += Number(match[1]) * (units[match[2]!] ?? 0)
    rest = rest.slice(match[0].length)
  }
  return sign * seconds
}

const goBool = (text: string): boolean | undefined =>
  ["1", "t", "T", "TRUE", "true", "True"].includes(text)
    ? true
    : ["0", "f", "F", "FALSE", "false", "False"].includes(text)
      ? false
      : undefined

export const parse = (argv: ReadonlyArray<string>, now = Date.now()): Flags => {
  const values: Record<string, string> = {}
  const nodes: Array<string> = []
  const warnings: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      nodes.push(...argv.slice(i + 1))
      break
    }
    let name: string
    let value: string | undefined
    let shown: string
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=")
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      value = eq === -1 ? undefined : arg.slice(eq + 1)
      shown = `--${name}`
      if (definitions[name] === undefined) throw new UsageError(`unknown flag: --${name}`, "help")
    } else if (arg.startsWith("-") && arg.length > 1) {
      const letter = arg[1]!
      const long = byShort.get(letter)
      if (long === undefined) throw new UsageError(`unknown shorthand flag: '${letter}' in ${arg}`, "help")
      name = long
      shown = `-${letter}, --${long}`
      const tail = arg.slice(2)
      value = tail === "" ? undefined : tail.startsWith("=") ? tail.slice(1) : tail
    } else {
      nodes.push(arg)
      continue
    }
    const kind = definitions[name]!.kind
    if (value === undefined) {
      if (kind === "bool") value = "true"
      else if (name === "dry-run") value = "unchanged"
      else {
        const next = argv[i + 1]
        if (next === undefined) throw new UsageError(`flag needs an argument: ${shown.split(",")[0]}`, "help")
        value = next
        i++
      }
    }
    values[name] = value
  }

  const invalid = (name: string, value: string, why: string) =>
    new UsageError(
      `invalid argument "${value}" for "${name.length === 1 ? `-${name}` : `--${name}`}" flag: ${why}`,
      "help"
    )
  const bool = (name: string): boolean => {
    const text = values[name]
    if (text === undefined) return false
    const parsed = goBool(text)
    if (parsed === undefined)
      throw invalid(name, text, `strconv.ParseBool: parsing "${text}": invalid syntax`)
    return parsed
  }
  const int = (name: string, fallback: number): number => {
    const text = values[name]
    if (text === undefined) return fallback
    if (!/^[-+]?\d+$/.test(text))
      throw invalid(name, text, `strconv.ParseInt: parsing "${text}": invalid syntax`)
    return Number(text)
  }
  const duration = (name: string): number => {
    const text = values[name]
    if (text === undefined) return 0
    const seconds = parseGoDuration(text)
    if (seconds === undefined) throw invalid(name, text, `time: invalid duration "${text}"`)
    return seconds
  }

  let dryRun: DryRun
  const dry = values["dry-run"] ?? "none"
  if (dry === "unchanged") {
    warnings.push("--dry-run is deprecated and can be replaced with --dry-run=client.")
    dryRun = "client"
  } else if (dry === "true" || dry === "false") {
    const replacement = dry === "true" ? "client" : "none"
    warnings.push(
      `--dry-run=${dry} is deprecated (boolean value) and can be replaced with --dry-run=${replacement}.`
    )
    dryRun = replacement
  } else if (dry === "none" || dry === "client" || dry === "server") dryRun = dry
  else throw new UsageError(`Invalid dry-run value (${dry}). Must be "none", "server", or "client".`, "usage")

  const output = values.output
  if (output !== undefined && output !== "table" && output !== "json")
    throw new UsageError(
      `unable to match a printer suitable for the output format "${output}", allowed formats are: json,table`,
      "usage"
    )

  let deadline: Date | undefined
  if (values.deadline !== undefined) {
    const text = values.deadline
    // A duration with its unit (2m, 90s), or an RFC 3339 time: a bare number is neither (Date would read "5" as
    // the year 2001, a deadline long past that would evict every pod at once with a 1 s grace).
    const seconds = parseGoDuration(text)
    const at =
      seconds !== undefined && text !== "0"
        ? new Date(now + seconds * 1000)
        : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)
          ? new Date(text)
          : new Date(Number.NaN)
    if (Number.isNaN(at.getTime()))
      throw invalid(
        "deadline",
        text,
        "neither a duration with its unit (2m) nor a time (2026-12-04T10:02:00Z)"
      )
    if (at.getTime() <= now) throw invalid("deadline", text, "the deadline has passed")
    deadline = at
  }

  const selector = values.selector
  const help = bool("help")
  if (!help) {
    if (selector !== undefined && nodes.length > 0)
      throw new UsageError("cannot specify both a node name and a --selector option", "usage")
    if (selector === undefined && nodes.length === 0)
      throw new UsageError("USAGE: drain NODE [flags]", "usage")
  }
  return {
    nodes,
    selector,
    podSelector: values["pod-selector"],
    force: bool("force"),
    ignoreDaemonSets: bool("ignore-daemonsets"),
    deleteEmptyDirData: bool("delete-emptydir-data"),
    disableEviction: bool("disable-eviction"),
    gracePeriodSeconds: int("grace-period", -1),
    timeoutSeconds: duration("timeout"),
    skipWaitForDeleteTimeoutSeconds: int("skip-wait-for-delete-timeout", 0),
    chunkSize: int("chunk-size", 500),
    dryRun,
    kubeconfig: values.kubeconfig,
    context: values.context,
    deadline,
    output,
    help,
    warnings
  }
}

export const help = `Drain node in preparation for maintenance, with nth's drainer: kubectl drain's flags, rules and refusals,
budget-aware retries the moment a PodDisruptionBudget allows, an optional deadline, and a per-pod report.

 The given node will be marked unschedulable to prevent new pods from arriving. Then it evicts the pods that
kubectl drain would: not mirror pods; DaemonSet-managed pods only ignored with --ignore-daemonsets; pods with
emptyDir data only with --delete-emptydir-data; pods no controller manages only with --force. An eviction a
PodDisruptionBudget refuses is tried again as soon as the budget allows one.

Examples:
  # Drain node "foo", even if there are pods not managed by a controller on it
  kubectl nth-drain foo --force

  # As above, but abort if the drain takes longer than 15 minutes, and show what happened to each pod
  kubectl nth-drain foo --force --ignore-daemonsets --timeout=15m -o table

  # Drain a Spot node that goes away in two minutes: every grace period ends before then
  kubectl nth-drain foo --ignore-daemonsets --deadline=2m

Options (as kubectl drain's):
    --chunk-size=500: Return large lists in chunks rather than all at once. Pass 0 to disable.
    --delete-emptydir-data=false: Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).
    --disable-eviction=false: Force drain to use delete, even if eviction is supported. This will bypass checking PodDisruptionBudgets, use with caution.
    --dry-run='none': Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.
    --force=false: Continue even if there are pods that do not declare a controller.
    --grace-period=-1: Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.
    --ignore-daemonsets=false: Ignore DaemonSet-managed pods.
    --pod-selector='': Label selector to filter pods on the node
    -l, --selector='': Selector (label query) to filter on
    --skip-wait-for-delete-timeout=0: If pod DeletionTimestamp older than N seconds, skip waiting for the pod.  Seconds must be greater than 0 to skip.
    --timeout=0s: The length of time to wait before giving up, zero means infinite

nth's options:
    --deadline='': When the node goes away, as a duration from now (2m) or a time (2026-12-04T10:02:00Z): grace periods are shortened to end before it, and the drain fails if pods remain then.
    -o, --output='': The per-pod report after the drain: table or json (json: one object per node on stdout, progress on stderr).

Global options:
    --context='': The name of the kubeconfig context to use
    --kubeconfig='': Path to the kubeconfig file to use for CLI requests.
    -h, --help=false: help for nth-drain

Usage:
  kubectl nth-drain NODE [options]
`
