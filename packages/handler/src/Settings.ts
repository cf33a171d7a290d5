/**
 * The Go handler's settings: the same environment variables, types and defaults, so that moving to nth is an
 * image swap. One table, in three parts (common, IMDS mode, queue mode): each variable is a Schema that decodes
 * its text into its typed value, so the settings' type is the table's and nothing is cast. Every variable is
 * read and checked up front; all problems are reported together, in one message.
 *
 * @since 0.1.0
 */
import type { NodeAction } from "@nth/events"
import type { Webhook } from "@nth/webhook"
import { Config, Duration, Effect, Option, Schema, SchemaIssue, SchemaTransformation } from "effect"
import type * as Handler from "./Handler.ts"
import { applyFlags, type FlagTarget, flagName } from "./internal/flags.ts"

// ---------------------------------------------------------------------------------------------------------------
// How a variable's text becomes its value
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where a setting applies: both modes, IMDS mode (the DaemonSet) or queue mode (the Deployment).
 *
 * @category models
 * @since 0.2.0
 */
export type Mode = "common" | "imds" | "queue"

/**
 * One variable, as `--help` lists it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Variable {
  readonly env: string
  readonly key: string
  readonly mode: Mode
  /** The default, as text (as the Go handler's `--help` prints it). */
  readonly default: string
  readonly help: string
  /** Another variable that stands for the same setting (the Go handler's deprecated names). */
  readonly deprecatedAlias?: string
  /**
   * The Go handler's command-line flag for it, when not the variable's name in kebab case (`NODE_NAME`:
   * `--node-name`).
   */
  readonly flag?: string
  /** A boolean: its flag alone (`--dry-run`) means true. */
  readonly boolean?: boolean
  /**
   * Settings the Go handler has that nth accepts but does not act on yet: setting one logs a warning at start
   * instead of refusing to start, so that a Go handler's values work unchanged.
   */
  readonly notYetSupported?: boolean
}

type Meta = Omit<Variable, "key">

// The Go handler's strconv.ParseBool.
const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"])
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"])

/** A variable: `schema` decodes its text, the default (text too) stands in when it is unset. */
const variable = <T>(schema: Schema.Codec<T, string>, meta: Meta) => {
  const field = schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(meta.default)))
  metas.set(field, meta)
  return field
}
const metas = new WeakMap<object, Meta>()

const bool = (meta: Meta) =>
  variable(
    Schema.String.check(
      Schema.makeFilter((text: string) => TRUE.has(text.trim()) || FALSE.has(text.trim()), {
        message: "is not a boolean (true or false)"
      })
    ).pipe(
      Schema.decodeTo(
        Schema.Boolean,
        SchemaTransformation.transform({ decode: (text) => TRUE.has(text.trim()), encode: String })
      )
    ),
    { ...meta, boolean: true }
  )

// Node's timers, and most of these settings' meanings, stop at a 32-bit integer.
const int32 = { min: -(2 ** 31), max: 2 ** 31 - 1 }

const int = (meta: Meta & { readonly min?: number; readonly max?: number; readonly rangeHint?: string }) => {
  const min = meta.min ?? int32.min
  const max = meta.max ?? int32.max
  return variable(
    Schema.String.check(Schema.isPattern(/^\s*[+-]?\d+\s*$/, { message: "is not an integer" })).pipe(
      Schema.decodeTo(
        Schema.Number.check(
          Schema.isBetween(
            { minimum: min, maximum: max },
            { message: `is out of range (${min}..${max})${meta.rangeHint ? `: ${meta.rangeHint}` : ""}` }
          )
        ),
        SchemaTransformation.transform({ decode: (text) => Number(text.trim()), encode: String })
      )
    ),
    meta
  )
}

const text = (meta: Meta, check?: { readonly test: (text: string) => boolean; readonly message: string }) =>
  variable(
    check === undefined
      ? Schema.String
      : Schema.String.check(Schema.makeFilter(check.test, { message: check.message })),
    meta
  )

const oneOf = <const L extends string>(
  values: readonly [L, ...Array<L>],
  meta: Meta,
  options: { readonly ignoreCase?: boolean } = {}
) => {
  const normalise = (value: string) => (options.ignoreCase ? value.trim().toLowerCase() : value.trim())
  const isOne = (value: string): value is L => values.some((known) => known === value)
  return variable(
    Schema.String.check(
      Schema.makeFilter((value: string) => isOne(normalise(value)), {
        message: `is not one of ${values.join(", ")}`
      })
    ).pipe(
      Schema.decodeTo(
        Schema.Literals(values),
        SchemaTransformation.transform({
          decode: (value) => {
            const normalised = normalise(value)
            return isOne(normalised) ? normalised : values[0]
          },
          encode: (value: L): string => value
        })
      )
    ),
    meta
  )
}

// `k1=v1,k2=v2`, each item exactly one `=` and a key, as the Go handler requires.
const annotationItems = (value: string) =>
  value.trim() === "" ? [] : value.split(",").map((item) => item.split("=").map((part) => part.trim()))

const annotations = (meta: Meta) =>
  variable(
    Schema.String.check(
      Schema.makeFilter(
        (value: string) => annotationItems(value).every((parts) => parts.length === 2 && parts[0] !== ""),
        { message: "is not a list of key=value items separated by commas" }
      )
    ).pipe(
      Schema.decodeTo(
        Schema.Record(Schema.String, Schema.String),
        SchemaTransformation.transform({
          decode: (value) =>
            Object.fromEntries(annotationItems(value).map(([key = "", item = ""]) => [key, item])),
          encode: (record) =>
            Object.entries(record)
              .map(([key, item]) => `${key}=${item}`)
              .join(",")
        })
      )
    ),
    meta
  )

const port = (meta: Meta) => int({ ...meta, min: 1, max: 65_535 })

// ---------------------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------------------

const common = {
  dryRun: bool({
    env: "DRY_RUN",
    mode: "common",
    default: "false",
    help: "Log what would be done; write nothing to the cluster"
  }),
  nodeName: text({
    env: "NODE_NAME",
    mode: "common",
    default: "",
    help: "Name of the node this process runs on (required)"
  }),
  podName: text({
    env: "POD_NAME",
    mode: "common",
    default: "",
    help: "This pod's name, so that a drain leaves it alone"
  }),
  podNamespace: text({
    env: "NAMESPACE",
    flag: "pod-namespace",
    mode: "common",
    default: "",
    help: "This pod's namespace"
  }),
  ignoreDaemonSets: bool({
    env: "IGNORE_DAEMON_SETS",
    mode: "common",
    default: "true",
    help: "Leave DaemonSet pods in place when draining"
  }),
  deleteLocalData: bool({
    env: "DELETE_LOCAL_DATA",
    mode: "common",
    default: "true",
    help: "Evict pods with emptyDir volumes"
  }),
  podTerminationGracePeriod: int({
    env: "POD_TERMINATION_GRACE_PERIOD",
    mode: "common",
    default: "-1",
    help: "Grace period for evicted pods in seconds; negative: each pod's own",
    deprecatedAlias: "GRACE_PERIOD"
  }),
  nodeTerminationGracePeriod: int({
    env: "NODE_TERMINATION_GRACE_PERIOD",
    mode: "common",
    default: "120",
    help: "The drain's timeout in seconds (0: none); nth drains as soon as it sees the event",
    min: 0,
    // Timers longer than 2^31 - 1 ms fire at once in Node: a larger value would end every drain immediately.
    max: 2_147_483,
    rangeHint: "0 waits without a timeout; a negative value would make the drain never time out"
  }),
  enableSqsTerminationDraining: bool({
    env: "ENABLE_SQS_TERMINATION_DRAINING",
    mode: "common",
    default: "false",
    help: "Queue mode: read events from SQS instead of IMDS"
  }),
  cordonOnly: bool({ env: "CORDON_ONLY", mode: "common", default: "false", help: "Cordon, never drain" }),
  taintNode: bool({
    env: "TAINT_NODE",
    mode: "common",
    default: "false",
    help: "Taint the node with the event kind's taint before acting"
  }),
  taintEffect: oneOf(["NoSchedule", "PreferNoSchedule", "NoExecute"], {
    env: "TAINT_EFFECT",
    mode: "common",
    default: "NoSchedule",
    help: "Effect of that taint: NoSchedule, PreferNoSchedule or NoExecute"
  }),
  enableOutOfServiceTaint: bool({
    env: "ENABLE_OUT_OF_SERVICE_TAINT",
    mode: "common",
    default: "false",
    help: "After a drain, taint node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
  }),
  excludeFromLoadBalancers: bool({
    env: "EXCLUDE_FROM_LOAD_BALANCERS",
    mode: "common",
    default: "false",
    help: "Label the node out of external load balancers before cordoning"
  }),
  // nth's own settings (since 0.5.0), each off by default: a Go handler's values mean what they meant.
  enablePodDrainAnnotations: bool({
    env: "ENABLE_POD_DRAIN_ANNOTATIONS",
    mode: "common",
    default: "false",
    help: "nth: honour pods' nth.aws/drain-grace-period-seconds, nth.aws/evict-last and nth.aws/do-not-evict annotations"
  }),
  enableNodeCondition: bool({
    env: "ENABLE_NODE_CONDITION",
    mode: "common",
    default: "false",
    help: "nth: show what nth does to a node in its TerminationHandling condition (needs nodes/status patch)"
  }),
  rebalanceUncordonAfterSeconds: int({
    env: "REBALANCE_UNCORDON_AFTER_SECONDS",
    mode: "common",
    default: "0",
    help: "nth: uncordon a node cordoned for a rebalance recommendation that nothing followed within this many seconds (0: never)",
    min: 0,
    max: 2_147_483
  }),
  jsonLogging: bool({
    env: "JSON_LOGGING",
    mode: "common",
    default: "false",
    help: "Log JSON lines instead of text"
  }),
  logLevel: oneOf(
    ["debug", "info", "error"],
    { env: "LOG_LEVEL", mode: "common", default: "info", help: "debug, info or error" },
    { ignoreCase: true }
  ),
  enablePrometheusServer: bool({
    env: "ENABLE_PROMETHEUS_SERVER",
    mode: "common",
    default: "false",
    help: "Serve Prometheus metrics on /metrics (all interfaces)"
  }),
  prometheusServerPort: port({
    env: "PROMETHEUS_SERVER_PORT",
    mode: "common",
    default: "9092",
    help: "Port of the metrics server"
  }),
  enableProbesServer: bool({
    env: "ENABLE_PROBES_SERVER",
    mode: "common",
    default: "false",
    help: "Serve the liveness probe (all interfaces)"
  }),
  probesServerPort: port({
    env: "PROBES_SERVER_PORT",
    mode: "common",
    default: "8080",
    help: "Port of the probes server"
  }),
  probesServerEndpoint: text(
    {
      env: "PROBES_SERVER_ENDPOINT",
      mode: "common",
      default: "/healthz",
      help: "Path of the liveness probe"
    },
    { test: (value) => value.startsWith("/"), message: "must start with /" }
  ),
  emitKubernetesEvents: bool({
    env: "EMIT_KUBERNETES_EVENTS",
    mode: "common",
    default: "false",
    help: "Emit Kubernetes Events for what nth does"
  }),
  kubernetesEventsExtraAnnotations: annotations({
    env: "KUBERNETES_EVENTS_EXTRA_ANNOTATIONS",
    mode: "common",
    default: "",
    help: "k1=v1,k2=v2 annotations added to every Kubernetes Event"
  }),
  workers: int({
    env: "WORKERS",
    mode: "common",
    default: "10",
    help: "Events handled at once",
    min: 1,
    max: 10_000
  }),
  kubeApiQps: int({
    env: "KUBE_API_QPS",
    mode: "common",
    default: "5",
    help: "Accepted for compatibility (nth bounds its own concurrency)",
    notYetSupported: true
  }),
  kubeApiBurst: int({
    env: "KUBE_API_BURST",
    mode: "common",
    default: "10",
    help: "Accepted for compatibility (nth bounds its own concurrency)",
    notYetSupported: true
  }),
  webhookUrl: text({
    env: "WEBHOOK_URL",
    mode: "common",
    default: "",
    help: "POST a notification here for every event nth acts on (empty: none); never logged past its host"
  }),
  webhookHeaders: text({
    env: "WEBHOOK_HEADERS",
    mode: "common",
    default: "",
    help: 'Webhook request headers, a JSON object of strings (empty: {"Content-type":"application/json"})'
  }),
  webhookTemplate: text({
    env: "WEBHOOK_TEMPLATE",
    mode: "common",
    default: "",
    help: "Webhook body: a Go text/template with the Sprig functions, checked at start-up (empty: the Go handler's Slack-shaped default)"
  }),
  webhookTemplateFile: text({
    env: "WEBHOOK_TEMPLATE_FILE",
    mode: "common",
    default: "",
    help: "File holding the webhook template; wins over WEBHOOK_TEMPLATE and is read again for each notification"
  }),
  webhookProxy: text({
    env: "WEBHOOK_PROXY",
    mode: "common",
    default: "",
    help: "HTTP proxy for webhook requests (CONNECT for https URLs); HTTP(S)_PROXY are not used for webhooks"
  }),
  logFormatVersion: int({
    env: "LOG_FORMAT_VERSION",
    mode: "common",
    default: "1",
    help: "The Go handler's log message format, 1 or 2 (no effect: nth has one format)",
    notYetSupported: true
  }),
  useApiserverCache: bool({
    env: "USE_APISERVER_CACHE",
    mode: "common",
    default: "false",
    help: "List pods from the API server's watch cache (no effect: nth's drain always lists from it)",
    notYetSupported: true
  })
}

const imds = {
  metadataUrl: text(
    {
      env: "INSTANCE_METADATA_URL",
      flag: "metadata-url",
      mode: "imds",
      default: "http://169.254.169.254",
      help: "Instance metadata service (IMDS) base URL"
    },
    {
      test: (value) => URL.parse(value)?.protocol === "http:",
      message: "must be an http:// URL (the instance metadata service speaks plain HTTP)"
    }
  ),
  metadataTries: int({
    env: "METADATA_TRIES",
    mode: "imds",
    default: "3",
    help: "Attempts per IMDS request",
    min: 1,
    max: 100
  }),
  allowImdsV1Fallback: bool({
    env: "ENABLE_IMDSV1_FALLBACK",
    mode: "imds",
    // The Go handler always falls back: a node it protects (say, a pod without host networking behind a hop limit
    // of 1, on an instance that allows IMDSv1) must not lose its protection in the swap. Said once, as a warning.
    default: "true",
    help:
      "Read IMDS without a token (IMDSv1) while no IMDSv2 token can be had, as the Go handler does; false: never, " +
      "and each poll fails until a token comes (nth only)"
  }),
  enableScheduledEventDraining: bool({
    env: "ENABLE_SCHEDULED_EVENT_DRAINING",
    mode: "imds",
    default: "true",
    help: "IMDS mode: drain on EC2 scheduled events (and uncordon after a scheduled reboot)"
  }),
  enableSpotInterruptionDraining: bool({
    env: "ENABLE_SPOT_INTERRUPTION_DRAINING",
    mode: "imds",
    default: "true",
    help: "IMDS mode: drain on Spot interruption notices"
  }),
  enableAsgLifecycleDraining: bool({
    env: "ENABLE_ASG_LIFECYCLE_DRAINING",
    mode: "imds",
    default: "false",
    help: "IMDS mode: drain when the ASG target lifecycle state is Terminated"
  }),
  enableRebalanceMonitoring: bool({
    env: "ENABLE_REBALANCE_MONITORING",
    mode: "common",
    default: "false",
    help:
      "Cordon on Spot rebalance recommendations (queue mode: with neither rebalance setting set, rebalance " +
      "recommendations are cordoned and drained, as the Go handler does there)"
  }),
  enableRebalanceDraining: bool({
    env: "ENABLE_REBALANCE_DRAINING",
    mode: "common",
    default: "false",
    help: "Cordon and drain on Spot rebalance recommendations"
  }),
  uptimeFromFile: text({
    env: "UPTIME_FROM_FILE",
    mode: "imds",
    default: "",
    help: "Read the uptime from this file (/proc/uptime format)"
  })
}

const queue = {
  checkTagBeforeDraining: bool({
    env: "CHECK_TAG_BEFORE_DRAINING",
    mode: "queue",
    default: "true",
    help: "Queue mode: act only on instances carrying MANAGED_TAG",
    deprecatedAlias: "CHECK_ASG_TAG_BEFORE_DRAINING"
  }),
  managedTag: text({
    env: "MANAGED_TAG",
    mode: "queue",
    default: "aws-node-termination-handler/managed",
    help: "Queue mode: the EC2 tag key of managed instances",
    deprecatedAlias: "MANAGED_ASG_TAG"
  }),
  awsRegion: text({
    env: "AWS_REGION",
    mode: "queue",
    default: "",
    help: "Queue mode: AWS region (else from the queue URL)"
  }),
  awsEndpoint: text({
    env: "AWS_ENDPOINT",
    mode: "queue",
    default: "",
    help: "Queue mode: AWS endpoint override (testing)"
  }),
  queueUrl: text({ env: "QUEUE_URL", mode: "queue", default: "", help: "Queue mode: SQS queue URL" }),
  useProviderId: bool({
    env: "USE_PROVIDER_ID",
    mode: "queue",
    default: "false",
    help: "Queue mode: find nodes by spec.providerID"
  }),
  completeLifecycleActionDelaySeconds: int({
    env: "COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS",
    mode: "queue",
    default: "-1",
    help: "Queue mode: wait this long after a drain before completing the lifecycle action"
  }),
  deleteSqsMsgIfNodeNotFound: bool({
    env: "DELETE_SQS_MSG_IF_NODE_NOT_FOUND",
    mode: "queue",
    default: "false",
    help: "Queue mode: delete the message when its node is not in the cluster"
  }),
  heartbeatInterval: int({
    env: "HEARTBEAT_INTERVAL",
    mode: "queue",
    default: "-1",
    help:
      "Queue mode: seconds between lifecycle heartbeats (30..3600); unset: derived from the hook's heartbeat " +
      "timeout when the drain could outlast it"
  }),
  heartbeatUntil: int({
    env: "HEARTBEAT_UNTIL",
    mode: "queue",
    default: "-1",
    help: "Queue mode: seconds during which heartbeats are sent (60..172800)"
  }),
  sqsMsgVisibilityTimeoutSec: int({
    env: "SQS_MSG_VISIBILITY_TIMEOUT_SEC",
    mode: "queue",
    default: "20",
    help: "Queue mode: visibility timeout of received messages (1..119)"
  })
}

/**
 * Every setting, as one Schema over the settings' names (`dryRun`, …): the source of the settings' type.
 *
 * @category schemas
 * @since 0.2.0
 */
export const schema = Schema.Struct({ ...common, ...imds, ...queue })

/**
 * The settings, decoded.
 *
 * @category models
 * @since 0.1.0
 */
export interface Settings extends Schema.Schema.Type<typeof schema> {}

/**
 * Every variable, in the table's order (the `--help` text is made from it).
 *
 * @category constants
 * @since 0.1.0
 */
export const variables: ReadonlyArray<Variable> = Object.entries(schema.fields).flatMap(([key, field]) => {
  const meta = metas.get(field)
  return meta === undefined ? [] : [{ key, ...meta }]
})

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

/**
 * Raised when settings are missing or wrong: `problems` lists every one, `message` all of them at once.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidSettings extends Schema.TaggedError<InvalidSettings>()("InvalidSettings", {
  message: Schema.String,
  problems: Schema.Array(Schema.String)
}) {}

/**
 * Notes worth a log line at start (deprecated names, settings without effect), not worth refusing to start.
 *
 * @category models
 * @since 0.1.0
 */
export interface Parsed {
  readonly settings: Settings
  readonly warnings: ReadonlyArray<string>
  /**
   * The variables that were set (under their own name or a deprecated alias), for the settings whose meaning
   * depends on whether they were given at all (queue mode's rebalance switches, see {@link toHandlerOptions}).
   *
   * @since 0.3.0
   */
  readonly given: ReadonlySet<string>
}

/**
 * Which mode the program runs: the IMDS-mode program refuses queue mode (`imds`) and the queue-mode program IMDS
 * mode (`queue`). Without it, `ENABLE_SQS_TERMINATION_DRAINING` picks the mode, as in the Go handler's one binary.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParseOptions {
  readonly program?: "imds" | "queue" | undefined
  /**
   * The command line's arguments (`process.argv.slice(2)`): the Go handler's flags, which win over the
   * environment. An unknown flag or a leftover argument is refused, naming it.
   *
   * @since 0.3.0
   */
  readonly argv?: ReadonlyArray<string> | undefined
}

/** Each flag (the variables' and their deprecated aliases') and the variable it stands for. */
const flagTable: ReadonlyMap<string, FlagTarget> = new Map(
  variables.flatMap((v) => {
    const own: [string, FlagTarget] = [flagName(v.env, v.flag), { env: v.env, boolean: v.boolean === true }]
    return v.deprecatedAlias === undefined
      ? [own]
      : [
          own,
          [flagName(v.deprecatedAlias, undefined), { env: v.deprecatedAlias, boolean: v.boolean === true }]
        ]
  })
)

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A warning for the other mode's settings that were given (under their own name or a deprecated one): the Go
 * handler ignores them without a word (queue mode's IMDS switches, IMDS mode's queue settings); nth says so.
 */
// A NoExecute taint evicts every pod that does not tolerate it, whatever the drain leaves alone: a pod annotated
// nth.aws/do-not-evict is then evicted by Kubernetes all the same. Said at start, as the settings allow it.
const doNotEvictWarnings = (s: Settings): Array<string> => {
  if (!s.enablePodDrainAnnotations) return []
  const noExecute = [
    ...(s.taintNode && s.taintEffect === "NoExecute" ? ["TAINT_NODE with TAINT_EFFECT=NoExecute"] : []),
    ...(s.enableOutOfServiceTaint && !s.cordonOnly ? ["ENABLE_OUT_OF_SERVICE_TAINT"] : [])
  ]
  return noExecute.length === 0
    ? []
    : [
        `ENABLE_POD_DRAIN_ANNOTATIONS: with ${noExecute.join(" and ")}, the node's NoExecute taint has Kubernetes evict pods annotated nth.aws/do-not-evict too (unless they tolerate it)`
      ]
}

const otherModeWarnings = (
  s: Settings,
  options: ParseOptions,
  given: (name: string) => string | undefined
): Array<string> => {
  const queueMode =
    options.program === "queue" || (options.program !== "imds" && s.enableSqsTerminationDraining)
  const unused = queueMode ? "imds" : "queue"
  const names = variables
    .filter((v) => v.mode === unused)
    .flatMap((v) => [v.env, ...(v.deprecatedAlias === undefined ? [] : [v.deprecatedAlias])])
    .filter((name) => given(name) !== undefined)
  if (names.length === 0) return []
  const [running, other] = queueMode ? ["queue", "IMDS"] : ["IMDS", "queue"]
  return [
    `${names.join(", ")} ${names.length === 1 ? "is a setting" : "are settings"} of ${other} mode only, ` +
      `unused here: nth is running in ${running} mode (ENABLE_SQS_TERMINATION_DRAINING=${queueMode})`
  ]
}

/** The rules that span several settings, checked once each setting is valid on its own. */
const crossChecks = (s: Settings, options: ParseOptions): Array<string> => {
  const problems: Array<string> = []
  if (!s.nodeName) problems.push("NODE_NAME is required: the name of the node this process runs on")
  if (options.program === "imds" && s.enableSqsTerminationDraining) {
    problems.push(
      "ENABLE_SQS_TERMINATION_DRAINING=true selects queue mode, but this program runs IMDS mode only " +
        "(queue mode is nth's queue-mode program). Unset it (or set it to false) here"
    )
    return problems
  }
  if (options.program === "queue" && !s.enableSqsTerminationDraining) {
    problems.push(
      "ENABLE_SQS_TERMINATION_DRAINING must be true for this program, which runs queue mode only " +
        "(IMDS mode is nth's IMDS-mode program)"
    )
    return problems
  }
  const queueMode = s.enableSqsTerminationDraining && options.program !== "imds"
  if (!queueMode && (s.heartbeatInterval !== -1 || s.heartbeatUntil !== -1)) {
    problems.push("HEARTBEAT_INTERVAL/HEARTBEAT_UNTIL: heartbeats are only supported in queue mode")
  }
  if (s.heartbeatInterval !== -1 && (s.heartbeatInterval < 30 || s.heartbeatInterval > 3600)) {
    problems.push(`HEARTBEAT_INTERVAL: ${s.heartbeatInterval} is outside 30..3600`)
  }
  if (s.heartbeatUntil !== -1 && (s.heartbeatUntil < 60 || s.heartbeatUntil > 172800)) {
    problems.push(`HEARTBEAT_UNTIL: ${s.heartbeatUntil} is outside 60..172800`)
  }
  if (s.heartbeatUntil !== -1 && s.heartbeatInterval === -1) {
    problems.push("HEARTBEAT_UNTIL is set without HEARTBEAT_INTERVAL")
  }
  if (s.heartbeatInterval !== -1 && s.heartbeatUntil !== -1 && s.heartbeatInterval > s.heartbeatUntil) {
    problems.push("HEARTBEAT_INTERVAL must be less than or equal to HEARTBEAT_UNTIL")
  }
  if (queueMode && (s.sqsMsgVisibilityTimeoutSec < 1 || s.sqsMsgVisibilityTimeoutSec > 119)) {
    problems.push(`SQS_MSG_VISIBILITY_TIMEOUT_SEC: ${s.sqsMsgVisibilityTimeoutSec} is outside 1..119`)
  }
  if (queueMode && !s.queueUrl)
    problems.push("QUEUE_URL is required in queue mode (ENABLE_SQS_TERMINATION_DRAINING=true)")
  // The webhook settings are checked as the program starts (`Notifications.make`): their check needs the template
  // engine, loaded only when WEBHOOK_URL is set.
  return problems
}

/**
 * The webhook settings, for `@nth/webhook`'s `Webhook.prepare`.
 *
 * @category conversions
 * @since 0.4.0
 */
export const toWebhookSettings = (settings: Settings): Webhook.Settings => ({
  url: settings.webhookUrl,
  headers: settings.webhookHeaders,
  template: settings.webhookTemplate,
  templateFile: settings.webhookTemplateFile,
  proxy: settings.webhookProxy
})

/**
 * Parses the settings from environment variables (a record such as `process.env`). A variable set to the empty
 * string counts as unset (the Go handler's rule), so a chart that renders `VAR: ""` gets the default.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (
  environment: Readonly<Record<string, string | undefined>>,
  options: ParseOptions = {}
): Parsed | InvalidSettings => {
  const flags = applyFlags(environment, options.argv ?? [], flagTable)
  const env = flags.env
  const warnings: Array<string> = []
  const given = (name: string): string | undefined => (env[name] === "" ? undefined : env[name])
  // The table's input: each setting's text under its key, from its variable or its deprecated alias.
  const input: Record<string, string> = {}
  // The name each value came under, for the problems: a deprecated name is named as given.
  const givenAs: Record<string, string> = {}
  const notYetSupported: Array<string> = []
  const set = new Set<string>()
  for (const variable of variables) {
    let raw = given(variable.env)
    if (variable.deprecatedAlias !== undefined && given(variable.deprecatedAlias) !== undefined) {
      if (raw === undefined) {
        raw = given(variable.deprecatedAlias)
        givenAs[variable.key] = `${variable.deprecatedAlias} (deprecated name of ${variable.env})`
        warnings.push(`${variable.deprecatedAlias} is deprecated; use ${variable.env}`)
      } else {
        warnings.push(
          `both ${variable.deprecatedAlias} (deprecated) and ${variable.env} are set; ${variable.env} wins`
        )
      }
    }
    if (raw === undefined) continue
    input[variable.key] = raw
    set.add(variable.env)
    if (variable.notYetSupported) notYetSupported.push(variable.env)
  }
  const decode = Schema.decodeUnknownResult(schema)
  const decoded = decode(input, { errors: "all" })
  const problems: Array<string> = [...flags.problems]
  if (decoded._tag === "Failure") {
    const failed = new Set<string>()
    for (const { path, message } of formatIssues(decoded.failure.issue).issues) {
      const key = String(path?.[0] ?? "")
      failed.add(key)
      const name = givenAs[key] ?? variables.find((v) => v.key === key)?.env ?? key
      problems.push(`${name}: "${input[key] ?? ""}" ${message}`)
    }
    // The rules across settings are checked too, with the defaults standing in for the values refused above, so
    // that one message lists every problem.
    const others = decode(Object.fromEntries(Object.entries(input).filter(([key]) => !failed.has(key))))
    if (others._tag === "Success") problems.push(...crossChecks(others.success, options))
  } else {
    problems.push(...crossChecks(decoded.success, options))
  }
  if (problems.length > 0 || decoded._tag === "Failure") {
    return new InvalidSettings({
      problems,
      message: `invalid settings (${problems.length}):\n${problems.map((p) => `  - ${p}`).join("\n")}`
    })
  }
  // Accepted rather than refused, so that the Go handler's values work unchanged; said once, at start.
  for (const name of notYetSupported) {
    warnings.push(`${name} is accepted for compatibility with the Go handler but has no effect in nth`)
  }
  warnings.push(...otherModeWarnings(decoded.success, options, given))
  warnings.push(...doNotEvictWarnings(decoded.success))
  return { settings: decoded.success, warnings, given: set }
}

/**
 * Reads every variable through Effect's `Config` (so a `ConfigProvider` can stand in for the environment) and
 * parses them for the given program.
 *
 * @category parsing
 * @since 0.1.0
 */
export const loadFor = (options: ParseOptions): Effect.Effect<Parsed, InvalidSettings | Config.ConfigError> =>
  Effect.gen(function* () {
    const names = variables.flatMap((v) => (v.deprecatedAlias ? [v.env, v.deprecatedAlias] : [v.env]))
    const env: Record<string, string | undefined> = {}
    for (const name of names) env[name] = Option.getOrUndefined(yield* Config.option(Config.String(name)))
    const parsed = parse(env, options)
    return parsed instanceof InvalidSettings ? yield* parsed : parsed
  })

/**
 * {@link loadFor} without a program: `ENABLE_SQS_TERMINATION_DRAINING` picks the mode.
 *
 * @category parsing
 * @since 0.1.0
 */
export const load: Effect.Effect<Parsed, InvalidSettings | Config.ConfigError> = loadFor({})

// ---------------------------------------------------------------------------------------------------------------
// What the settings mean for the libraries
// ---------------------------------------------------------------------------------------------------------------

/**
 * The rules that {@link NodeAction.decide} takes. `given` ({@link Parsed.given}): in queue mode the rebalance
 * switches count only when one of them was set; without it, queue mode drains rebalance recommendations.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toActionSettings = (
  settings: Settings,
  given: ReadonlySet<string> = new Set()
): NodeAction.Rules => ({
  mode: settings.enableSqsTerminationDraining ? "queue" : "imds",
  rebalanceSettingsGiven: given.has("ENABLE_REBALANCE_MONITORING") || given.has("ENABLE_REBALANCE_DRAINING"),
  cordonOnly: settings.cordonOnly,
  enableSpotInterruptionDraining: settings.enableSpotInterruptionDraining,
  enableScheduledEventDraining: settings.enableScheduledEventDraining,
  enableRebalanceMonitoring: settings.enableRebalanceMonitoring,
  enableRebalanceDraining: settings.enableRebalanceDraining,
  enableAsgLifecycleDraining: settings.enableAsgLifecycleDraining,
  taintNode: settings.taintNode,
  taintEffect: settings.taintEffect
})

/**
 * The handler's options from the Go handler's settings: what each setting means for {@link Handler.Options}.
 *
 * @category conversions
 * @since 0.2.0
 */
export const toHandlerOptions = (
  /** The settings; with `given` ({@link Parsed.given}) for queue mode's rebalance switches. */
  settings: Settings,
  given: ReadonlySet<string> = new Set()
): Handler.Options => ({
  actions: toActionSettings(settings, given),
  dryRun: settings.dryRun,
  drain: {
    ignoreDaemonSets: settings.ignoreDaemonSets,
    deleteEmptyDirData: settings.deleteLocalData,
    gracePeriodSeconds: settings.podTerminationGracePeriod,
    timeoutSeconds: settings.nodeTerminationGracePeriod,
    podAnnotations: settings.enablePodDrainAnnotations
  },
  excludeFromLoadBalancers: settings.excludeFromLoadBalancers,
  nodeCondition: settings.enableNodeCondition,
  // The Go handler adds it after a drain, never in cordon-only mode (the cordon-only action has no post-drain).
  outOfServiceTaint: settings.enableOutOfServiceTaint && !settings.cordonOnly,
  ownPod: { name: settings.podName, namespace: settings.podNamespace },
  ...(settings.rebalanceUncordonAfterSeconds > 0
    ? { rebalanceUncordonAfter: Duration.seconds(settings.rebalanceUncordonAfterSeconds) }
    : {}),
  kubernetesEvents: {
    enabled: settings.emitKubernetesEvents,
    extraAnnotations: settings.kubernetesEventsExtraAnnotations,
    reportingInstance: settings.nodeName
  }
})

const modeTitles: Readonly<Record<Mode, string>> = {
  common: "Both modes",
  imds: "IMDS mode",
  queue: "Queue mode"
}

/** The names' column of `--help`: a longer name puts its description on the next line, aligned with the others. */
const helpColumn = 64

const helpRow = (names: string, text: string): string =>
  names.length < helpColumn
    ? `  ${names.padEnd(helpColumn)} ${text}`
    : `  ${names}\n  ${" ".repeat(helpColumn)} ${text}`

/**
 * Read by the Kubernetes client rather than the settings (client-go's in-cluster configuration reads the first two
 * in the Go handler too); the Go handler's flags for them are refused, pointing at the variables.
 */
const kubernetesClientHelp: ReadonlyArray<readonly [string, string]> = [
  [
    "KUBERNETES_SERVICE_HOST, --kubernetes-service-host",
    "In a pod: the API server's host (the kubelet sets it); the flag is refused: set the variable"
  ],
  [
    "KUBERNETES_SERVICE_PORT, --kubernetes-service-port",
    "In a pod: the API server's port (the kubelet sets it; default: 443); the flag is refused: set the variable"
  ],
  ["KUBECONFIG", "A kubeconfig file, which wins over the in-cluster configuration (nth only)"]
]

/**
 * The `--help` text: every variable with its default, by the mode it applies to.
 *
 * @category formatting
 * @since 0.1.0
 */
export const help = (): string =>
  [
    ...(["common", "imds", "queue"] as const).map(
      (mode) =>
        `${modeTitles[mode]}:\n${variables
          .filter((v) => v.mode === mode)
          .map((v) =>
            helpRow(
              `${v.env}, --${flagName(v.env, v.flag)}`,
              `${v.help} (default: ${v.default === "" ? '""' : v.default})${
                v.deprecatedAlias
                  ? ` [also ${v.deprecatedAlias}, --${flagName(v.deprecatedAlias, undefined)}, deprecated]`
                  : ""
              }`
            )
          )
          .join("\n")}`
    ),
    `Kubernetes API, both modes (read by the Kubernetes client):\n${kubernetesClientHelp
      .map(([names, text]) => helpRow(names, text))
      .join("\n")}`
  ].join("\n\n")
