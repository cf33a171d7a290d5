/**
 * The Go handler's settings: the same environment variables, types and defaults, so that moving to nth is an
 * image swap. Every variable is read and checked up front; all problems are reported together, in one message.
 *
 * @since 0.1.0
 */

import type { NodeAction } from "@nth/events"
import { Config, Effect, Option, Schema } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Settings {
  readonly dryRun: boolean
  readonly nodeName: string
  readonly podName: string
  readonly podNamespace: string
  readonly metadataUrl: string
  readonly metadataTries: number
  readonly allowImdsV1Fallback: boolean
  readonly ignoreDaemonSets: boolean
  readonly deleteLocalData: boolean
  readonly podTerminationGracePeriod: number
  readonly nodeTerminationGracePeriod: number
  readonly enableScheduledEventDraining: boolean
  readonly enableSpotInterruptionDraining: boolean
  readonly enableAsgLifecycleDraining: boolean
  readonly enableSqsTerminationDraining: boolean
  readonly enableRebalanceMonitoring: boolean
  readonly enableRebalanceDraining: boolean
  readonly checkTagBeforeDraining: boolean
  readonly managedTag: string
  readonly cordonOnly: boolean
  readonly taintNode: boolean
  readonly taintEffect: NodeAction.TaintEffect
  readonly enableOutOfServiceTaint: boolean
  readonly excludeFromLoadBalancers: boolean
  readonly jsonLogging: boolean
  readonly logLevel: "debug" | "info" | "error"
  readonly uptimeFromFile: string
  readonly enablePrometheusServer: boolean
  readonly prometheusServerPort: number
  readonly enableProbesServer: boolean
  readonly probesServerPort: number
  readonly probesServerEndpoint: string
  readonly emitKubernetesEvents: boolean
  readonly kubernetesEventsExtraAnnotations: Readonly<Record<string, string>>
  readonly awsRegion: string
  readonly awsEndpoint: string
  readonly queueUrl: string
  readonly workers: number
  readonly useProviderId: boolean
  readonly completeLifecycleActionDelaySeconds: number
  readonly deleteSqsMsgIfNodeNotFound: boolean
  readonly heartbeatInterval: number
  readonly heartbeatUntil: number
  readonly sqsMsgVisibilityTimeoutSec: number
  readonly kubeApiQps: number
  readonly kubeApiBurst: number
  readonly webhookUrl: string
  readonly webhookHeaders: string
  readonly webhookTemplate: string
  readonly webhookTemplateFile: string
  readonly webhookProxy: string
  readonly logFormatVersion: number
  readonly useApiserverCache: boolean
}

type Kind = "bool" | "int" | "string"

interface Variable {
  readonly env: string
  readonly key: keyof Settings
  readonly kind: Kind
  readonly default: string
  readonly help: string
  /** Another variable that stands for the same setting (the Go handler's deprecated names). */
  readonly deprecatedAlias?: string
  /**
   * Settings the Go handler has that nth accepts but does not act on yet: setting one logs a warning at start
   * instead of refusing to start, so that a Go handler's values work unchanged.
   */
  readonly notYetSupported?: boolean
  /** Integers: the smallest and largest values that mean something (default: a 32-bit integer's range). */
  readonly min?: number
  readonly max?: number
  /** Why a value outside min..max is refused, appended to the message. */
  readonly rangeHint?: string
}

const int32 = { min: -(2 ** 31), max: 2 ** 31 - 1 }

/**
 * Every variable, with its default and what it does (the `--help` text is made from this table).
 *
 * @category constants
 * @since 0.1.0
 */
export const variables: ReadonlyArray<Variable> = [
  {
    env: "DRY_RUN",
    key: "dryRun",
    kind: "bool",
    default: "false",
    help: "Log what would be done; write nothing to the cluster"
  },
  {
    env: "NODE_NAME",
    key: "nodeName",
    kind: "string",
    default: "",
    help: "Name of the node this process runs on (required)"
  },
  {
    env: "POD_NAME",
    key: "podName",
    kind: "string",
    default: "",
    help: "This pod's name, so that a drain leaves it alone"
  },
  { env: "NAMESPACE", key: "podNamespace", kind: "string", default: "", help: "This pod's namespace" },
  {
    env: "INSTANCE_METADATA_URL",
    key: "metadataUrl",
    kind: "string",
    default: "http://169.254.169.254",
    help: "Instance metadata service (IMDS) base URL"
  },
  {
    env: "METADATA_TRIES",
    key: "metadataTries",
    kind: "int",
    default: "3",
    help: "Attempts per IMDS request",
    min: 1,
    max: 100
  },
  {
    env: "ENABLE_IMDSV1_FALLBACK",
    key: "allowImdsV1Fallback",
    kind: "bool",
    default: "false",
    help: "Read IMDS without a token when no IMDSv2 token can be had (nth only)"
  },
  {
    env: "IGNORE_DAEMON_SETS",
    key: "ignoreDaemonSets",
    kind: "bool",
    default: "true",
    help: "Leave DaemonSet pods in place when draining"
  },
  {
    env: "DELETE_LOCAL_DATA",
    key: "deleteLocalData",
    kind: "bool",
    default: "true",
    help: "Evict pods with emptyDir volumes"
  },
  {
    env: "POD_TERMINATION_GRACE_PERIOD",
    key: "podTerminationGracePeriod",
    kind: "int",
    default: "-1",
    help: "Grace period for evicted pods in seconds; negative: each pod's own",
    deprecatedAlias: "GRACE_PERIOD"
  },
  {
    env: "NODE_TERMINATION_GRACE_PERIOD",
    key: "nodeTerminationGracePeriod",
    kind: "int",
    default: "120",
    help: "Seconds before the interruption at which draining starts; also the drain's timeout (0: none)",
    min: 0,
    // Longer timers than 2^31 - 1 ms fire at once in Node: a larger value would end every drain immediately.
    max: 2_147_483,
    rangeHint: "0 waits without a timeout; a negative value would make the drain never time out"
  },
  {
    env: "ENABLE_SCHEDULED_EVENT_DRAINING",
    key: "enableScheduledEventDraining",
    kind: "bool",
    default: "true",
    help: "IMDS mode: drain on EC2 scheduled events (and uncordon after a scheduled reboot)"
  },
  {
    env: "ENABLE_SPOT_INTERRUPTION_DRAINING",
    key: "enableSpotInterruptionDraining",
    kind: "bool",
    default: "true",
    help: "IMDS mode: drain on Spot interruption notices"
  },
  {
    env: "ENABLE_ASG_LIFECYCLE_DRAINING",
    key: "enableAsgLifecycleDraining",
    kind: "bool",
    default: "false",
    help: "IMDS mode: drain when the ASG target lifecycle state is Terminated"
  },
  {
    env: "ENABLE_SQS_TERMINATION_DRAINING",
    key: "enableSqsTerminationDraining",
    kind: "bool",
    default: "false",
    help: "Queue mode: read events from SQS instead of IMDS"
  },
  {
    env: "ENABLE_REBALANCE_MONITORING",
    key: "enableRebalanceMonitoring",
    kind: "bool",
    default: "false",
    help: "IMDS mode: cordon on Spot rebalance recommendations"
  },
  {
    env: "ENABLE_REBALANCE_DRAINING",
    key: "enableRebalanceDraining",
    kind: "bool",
    default: "false",
    help: "IMDS mode: cordon and drain on Spot rebalance recommendations"
  },
  {
    env: "CHECK_TAG_BEFORE_DRAINING",
    key: "checkTagBeforeDraining",
    kind: "bool",
    default: "true",
    help: "Queue mode: act only on instances carrying MANAGED_TAG",
    deprecatedAlias: "CHECK_ASG_TAG_BEFORE_DRAINING"
  },
  {
    env: "MANAGED_TAG",
    key: "managedTag",
    kind: "string",
    default: "aws-node-termination-handler/managed",
    help: "Queue mode: the EC2 tag key of managed instances",
    deprecatedAlias: "MANAGED_ASG_TAG"
  },
  { env: "CORDON_ONLY", key: "cordonOnly", kind: "bool", default: "false", help: "Cordon, never drain" },
  {
    env: "TAINT_NODE",
    key: "taintNode",
    kind: "bool",
    default: "false",
    help: "Taint the node with the event kind's taint before acting"
  },
  {
    env: "TAINT_EFFECT",
    key: "taintEffect",
    kind: "string",
    default: "NoSchedule",
    help: "Effect of that taint: NoSchedule, PreferNoSchedule or NoExecute"
  },
  {
    env: "ENABLE_OUT_OF_SERVICE_TAINT",
    key: "enableOutOfServiceTaint",
    kind: "bool",
    default: "false",
    help: "After a drain, taint node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
  },
  {
    env: "EXCLUDE_FROM_LOAD_BALANCERS",
    key: "excludeFromLoadBalancers",
    kind: "bool",
    default: "false",
    help: "Label the node out of external load balancers before cordoning"
  },
  {
    env: "JSON_LOGGING",
    key: "jsonLogging",
    kind: "bool",
    default: "false",
    help: "Log JSON lines instead of text"
  },
  { env: "LOG_LEVEL", key: "logLevel", kind: "string", default: "info", help: "debug, info or error" },
  {
    env: "UPTIME_FROM_FILE",
    key: "uptimeFromFile",
    kind: "string",
    default: "",
    help: "Read the uptime from this file (/proc/uptime format)"
  },
  {
    env: "ENABLE_PROMETHEUS_SERVER",
    key: "enablePrometheusServer",
    kind: "bool",
    default: "false",
    help: "Serve Prometheus metrics on /metrics"
  },
  {
    env: "PROMETHEUS_SERVER_PORT",
    key: "prometheusServerPort",
    kind: "int",
    default: "9092",
    help: "Port of the metrics server"
  },
  {
    env: "ENABLE_PROBES_SERVER",
    key: "enableProbesServer",
    kind: "bool",
    default: "false",
    help: "Serve the liveness probe"
  },
  {
    env: "PROBES_SERVER_PORT",
    key: "probesServerPort",
    kind: "int",
    default: "8080",
    help: "Port of the probes server"
  },
  {
    env: "PROBES_SERVER_ENDPOINT",
    key: "probesServerEndpoint",
    kind: "string",
    default: "/healthz",
    help: "Path of the liveness probe"
  },
  {
    env: "EMIT_KUBERNETES_EVENTS",
    key: "emitKubernetesEvents",
    kind: "bool",
    default: "false",
    help: "Emit Kubernetes Events for what nth does"
  },
  {
    env: "KUBERNETES_EVENTS_EXTRA_ANNOTATIONS",
    key: "kubernetesEventsExtraAnnotations",
    kind: "string",
    default: "",
    help: "k1=v1,k2=v2 annotations added to every Kubernetes Event"
  },
  {
    env: "AWS_REGION",
    key: "awsRegion",
    kind: "string",
    default: "",
    help: "Queue mode: AWS region (else from the queue URL)"
  },
  {
    env: "AWS_ENDPOINT",
    key: "awsEndpoint",
    kind: "string",
    default: "",
    help: "Queue mode: AWS endpoint override (testing)"
  },
  { env: "QUEUE_URL", key: "queueUrl", kind: "string", default: "", help: "Queue mode: SQS queue URL" },
  {
    env: "WORKERS",
    key: "workers",
    kind: "int",
    default: "10",
    help: "Events handled at once",
    min: 1,
    max: 10_000
  },
  {
    env: "USE_PROVIDER_ID",
    key: "useProviderId",
    kind: "bool",
    default: "false",
    help: "Queue mode: find nodes by spec.providerID"
  },
  {
    env: "COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS",
    key: "completeLifecycleActionDelaySeconds",
    kind: "int",
    default: "-1",
    help: "Queue mode: wait this long after a drain before completing the lifecycle action"
  },
  {
    env: "DELETE_SQS_MSG_IF_NODE_NOT_FOUND",
    key: "deleteSqsMsgIfNodeNotFound",
    kind: "bool",
    default: "false",
    help: "Queue mode: delete the message when its node is not in the cluster"
  },
  {
    env: "HEARTBEAT_INTERVAL",
    key: "heartbeatInterval",
    kind: "int",
    default: "-1",
    help: "Queue mode: seconds between lifecycle heartbeats (30..3600)"
  },
  {
    env: "HEARTBEAT_UNTIL",
    key: "heartbeatUntil",
    kind: "int",
    default: "-1",
    help: "Queue mode: seconds during which heartbeats are sent (60..172800)"
  },
  {
    env: "SQS_MSG_VISIBILITY_TIMEOUT_SEC",
    key: "sqsMsgVisibilityTimeoutSec",
    kind: "int",
    default: "20",
    help: "Queue mode: visibility timeout of received messages (1..119)"
  },
  {
    env: "KUBE_API_QPS",
    key: "kubeApiQps",
    kind: "int",
    default: "5",
    help: "Accepted for compatibility (nth bounds its own concurrency)",
    notYetSupported: true
  },
  {
    env: "KUBE_API_BURST",
    key: "kubeApiBurst",
    kind: "int",
    default: "10",
    help: "Accepted for compatibility (nth bounds its own concurrency)",
    notYetSupported: true
  },
  {
    env: "WEBHOOK_URL",
    key: "webhookUrl",
    kind: "string",
    default: "",
    help: "Notification webhook (not supported yet: accepted, with a warning, and nothing is posted)",
    notYetSupported: true
  },
  {
    env: "WEBHOOK_HEADERS",
    key: "webhookHeaders",
    kind: "string",
    default: "",
    help: "Webhook request headers as a JSON object (not supported yet)",
    notYetSupported: true
  },
  {
    env: "WEBHOOK_TEMPLATE",
    key: "webhookTemplate",
    kind: "string",
    default: "",
    help: "Webhook body template (not supported yet)",
    notYetSupported: true
  },
  {
    env: "WEBHOOK_TEMPLATE_FILE",
    key: "webhookTemplateFile",
    kind: "string",
    default: "",
    help: "File holding the webhook body template (not supported yet)",
    notYetSupported: true
  },
  {
    env: "WEBHOOK_PROXY",
    key: "webhookProxy",
    kind: "string",
    default: "",
    help: "HTTP(S) proxy for webhook requests (not supported yet)",
    notYetSupported: true
  },
  {
    env: "LOG_FORMAT_VERSION",
    key: "logFormatVersion",
    kind: "int",
    default: "1",
    help: "The Go handler's log message format, 1 or 2 (no effect: nth has one format)",
    notYetSupported: true
  },
  {
    env: "USE_APISERVER_CACHE",
    key: "useApiserverCache",
    kind: "bool",
    default: "false",
    help: "List pods from the API server's watch cache (no effect: nth's drain always lists from it)",
    notYetSupported: true
  }
]

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"])
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"])

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
 * Notes worth a log line at start (deprecated names, values clamped), not worth refusing to start.
 *
 * @category models
 * @since 0.1.0
 */
export interface Parsed {
  readonly settings: Settings
  readonly warnings: ReadonlyArray<string>
}

const parseAnnotations = (text: string, problems: Array<string>): Record<string, string> => {
  const annotations: Record<string, string> = {}
  if (text.trim() === "") return annotations
  for (const item of text.split(",")) {
    const parts = item.split("=")
    if (parts.length !== 2 || parts[0]!.trim() === "") {
      problems.push(`KUBERNETES_EVENTS_EXTRA_ANNOTATIONS: "${item}" is not key=value`)
      continue
    }
    annotations[parts[0]!.trim()] = parts[1]!.trim()
  }
  return annotations
}

/**
 * Which program reads the settings: the DaemonSet runs IMDS mode only (`imds`), the Deployment queue mode only
 * (`queue`). Without it, `ENABLE_SQS_TERMINATION_DRAINING` picks the mode, as in the Go handler's one binary.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParseOptions {
  readonly program?: "imds" | "queue" | undefined
}

/**
 * Parses the settings from environment variables (a record such as `process.env`). A variable set to the empty
 * string counts as unset (the Go handler's rule), so a chart that renders `VAR: ""` gets the default.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (
  env: Readonly<Record<string, string | undefined>>,
  options: ParseOptions = {}
): Parsed | InvalidSettings => {
  const problems: Array<string> = []
  const warnings: Array<string> = []
  const values: Record<string, unknown> = {}
  const given = (name: string): string | undefined => (env[name] === "" ? undefined : env[name])
  const notYetSupported: Array<string> = []
  for (const variable of variables) {
    let raw = given(variable.env)
    if (variable.deprecatedAlias !== undefined && given(variable.deprecatedAlias) !== undefined) {
      if (raw === undefined) {
        raw = given(variable.deprecatedAlias)
        warnings.push(`${variable.deprecatedAlias} is deprecated; use ${variable.env}`)
      } else {
        warnings.push(
          `both ${variable.deprecatedAlias} (deprecated) and ${variable.env} are set; ${variable.env} wins`
        )
      }
    }
    if (raw !== undefined && variable.notYetSupported) notYetSupported.push(variable.env)
    const text = raw ?? variable.default
    switch (variable.kind) {
      case "bool":
        if (TRUE.has(text.trim())) values[variable.key] = true
        else if (FALSE.has(text.trim())) values[variable.key] = false
        else problems.push(`${variable.env}: "${text}" is not a boolean (true or false)`)
        break
      case "int": {
        if (!/^[+-]?\d+$/.test(text.trim())) {
          problems.push(`${variable.env}: "${text}" is not an integer`)
          break
        }
        const value = Number(text.trim())
        const min = variable.min ?? int32.min
        const max = variable.max ?? int32.max
        if (!Number.isSafeInteger(value) || value < min || value > max) {
          problems.push(
            `${variable.env}: ${text.trim()} is out of range (${min}..${max})${variable.rangeHint ? `: ${variable.rangeHint}` : ""}`
          )
          break
        }
        values[variable.key] = value
        break
      }
      case "string":
        values[variable.key] = text
        break
    }
  }
  const s = values as unknown as Settings & {
    logLevel: string
    taintEffect: string
    kubernetesEventsExtraAnnotations: unknown
  }

  const logLevel = String(s.logLevel ?? "").toLowerCase()
  if (!["debug", "info", "error"].includes(logLevel)) {
    problems.push(`LOG_LEVEL: "${s.logLevel}" is not one of debug, info, error`)
  }
  if (!["NoSchedule", "PreferNoSchedule", "NoExecute"].includes(String(s.taintEffect))) {
    problems.push(`TAINT_EFFECT: "${s.taintEffect}" is not one of NoSchedule, PreferNoSchedule, NoExecute`)
  }
  if (!s.nodeName) problems.push("NODE_NAME is required: the name of the node this process runs on")
  if (options.program === "imds" && s.enableSqsTerminationDraining === true) {
    problems.push(
      "ENABLE_SQS_TERMINATION_DRAINING=true selects queue mode, but this is the IMDS-mode (DaemonSet) program; " +
        "queue mode is nth's Deployment program, which is not built yet. Unset it (or set it to false) here"
    )
  }
  if (options.program === "queue" && s.enableSqsTerminationDraining === false) {
    problems.push(
      "ENABLE_SQS_TERMINATION_DRAINING must be true for the queue-mode (Deployment) program; " +
        "IMDS mode is nth's DaemonSet program"
    )
  }
  const queueMode = s.enableSqsTerminationDraining === true && options.program !== "imds"
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
  for (const [env, port] of [
    ["PROMETHEUS_SERVER_PORT", s.prometheusServerPort],
    ["PROBES_SERVER_PORT", s.probesServerPort]
  ] as const) {
    if (typeof port === "number" && (port < 1 || port > 65535))
      problems.push(`${env}: ${port} is not a port (1..65535)`)
  }
  const metadataUrl = URL.parse(String(s.metadataUrl))
  if (metadataUrl === null) problems.push(`INSTANCE_METADATA_URL: "${s.metadataUrl}" is not a URL`)
  else if (metadataUrl.protocol !== "http:")
    problems.push(
      `INSTANCE_METADATA_URL: "${s.metadataUrl}" must be an http:// URL (the instance metadata service speaks plain HTTP)`
    )
  // Accepted rather than refused, so that the Go handler's values work unchanged; said once, at start.
  const webhookSettings = notYetSupported.filter((name) => name.startsWith("WEBHOOK_"))
  if (webhookSettings.length > 0) {
    warnings.push(
      `${webhookSettings.join(", ")} ${webhookSettings.length === 1 ? "is" : "are"} set, but nth does not send ` +
        "webhooks yet: no notification will be posted"
    )
  }
  for (const name of notYetSupported.filter((name) => !name.startsWith("WEBHOOK_"))) {
    warnings.push(`${name} is accepted for compatibility with the Go handler but has no effect in nth`)
  }
  if (!String(s.probesServerEndpoint).startsWith("/")) {
    problems.push(`PROBES_SERVER_ENDPOINT: "${s.probesServerEndpoint}" must start with /`)
  }
  const annotations = parseAnnotations(String(s.kubernetesEventsExtraAnnotations ?? ""), problems)

  if (problems.length > 0) {
    return new InvalidSettings({
      problems,
      message: `invalid settings (${problems.length}):\n${problems.map((p) => `  - ${p}`).join("\n")}`
    })
  }
  return {
    settings: {
      ...(values as unknown as Settings),
      logLevel: logLevel as Settings["logLevel"],
      taintEffect: s.taintEffect as NodeAction.TaintEffect,
      kubernetesEventsExtraAnnotations: annotations
    },
    warnings
  }
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
    const raw = yield* Config.all(
      Object.fromEntries(names.map((name) => [name, Config.option(Config.String(name))]))
    )
    const env = Object.fromEntries(
      Object.entries(raw as Record<string, Option.Option<string>>).map(([k, v]) => [
        k,
        Option.getOrUndefined(v)
      ])
    )
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

/**
 * The settings that {@link NodeAction.decide} takes.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toActionSettings = (settings: Settings): NodeAction.Settings => ({
  mode: settings.enableSqsTerminationDraining ? "queue" : "imds",
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
 * The `--help` text: every variable with its default.
 *
 * @category formatting
 * @since 0.1.0
 */
export const help = (): string =>
  variables
    .map((v) => `  ${v.env.padEnd(42)} ${v.help} (default: ${v.default === "" ? '""' : v.default})`)
    .join("\n")
