/**
 * Prometheus metrics as typed handles: each metric is a field of the {@link Registry}, declared once with its
 * labels, so a misspelt metric or label is a compile error rather than a series that silently never appears.
 * Names follow the Go handler where it has one (`actions_total`, `events_error_total`); nth adds its latency
 * histograms and per-kind counters. A program adds its own metrics with {@link Registry.counter} and
 * {@link Registry.histogram}, which return handles of the same kind.
 *
 * Rendered in the text exposition format by a small registry of nth's own rather than prom-client: see the
 * figure in `render`'s comment.
 *
 * @since 0.1.0
 */

/**
 * Values for every label a metric declares.
 *
 * @category models
 * @since 0.2.0
 */
export type Labels<L extends string> = { readonly [K in L]: string }

/**
 * @category models
 * @since 0.2.0
 */
export interface Counter<L extends string = never> {
  readonly name: string
  readonly increment: [L] extends [never] ? (by?: number) => void : (labels: Labels<L>, by?: number) => void
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Histogram<L extends string = never> {
  readonly name: string
  readonly observe: [L] extends [never]
    ? (seconds: number) => void
    : (seconds: number, labels: Labels<L>) => void
}

/**
 * nth's metrics, and the means to declare more.
 *
 * @category models
 * @since 0.1.0
 */
export interface Registry {
  /** `actions_total`: node actions (`pre-drain`, `cordon`, `cordon-and-drain`, `uncordon`), by outcome. */
  readonly actions: Counter<"node_action" | "node_status">
  /** `events_error_total`: errors while watching for events, by where (the monitor). */
  readonly eventErrors: Counter<"event_error_where">
  /** `nth_events_received_total`: interruption events received, by kind (once per event, not per retry). */
  readonly eventsReceived: Counter<"kind">
  /** `nth_events_ignored_total`: events the settings switch off, by kind. */
  readonly eventsIgnored: Counter<"kind">
  /** Node claims another handler took while this one was acting on the node (see `Handler.Options.coordination`). */
  readonly claimsLost: Counter
  /** `nth_startup_recovery_failures_total`: start-up recoveries that failed on every try. */
  readonly startupRecoveryFailures: Counter
  /** `nth_kubernetes_events_suppressed_total`: Kubernetes Events held back by their rate limit, by reason. */
  readonly kubernetesEventsSuppressed: Counter<"reason">
  /**
   * `nth_webhook_notifications_total`: webhook notifications by result (`sent`, `failed`, `dropped`).
   *
   * @since 0.4.0
   */
  readonly webhookNotifications: Counter<"result">
  /** `nth_event_to_cordon_seconds`: from an event being seen to its node being cordoned. */
  readonly eventToCordon: Histogram<"kind">
  /** `nth_event_to_drained_seconds`: from an event being seen to its node being drained. */
  readonly eventToDrained: Histogram<"kind">
  /** Declares another counter (a name already declared returns its existing handle). */
  readonly counter: <L extends string = never>(
    name: string,
    help: string,
    options?: { readonly labels?: ReadonlyArray<L> }
  ) => Counter<L>
  /** Declares another histogram, in seconds (default buckets: from 50 ms to 5 min). */
  readonly histogram: <L extends string = never>(
    name: string,
    help: string,
    options?: { readonly labels?: ReadonlyArray<L>; readonly buckets?: ReadonlyArray<number> }
  ) => Histogram<L>
  /** The exposition text for `/metrics`. */
  readonly render: () => string
}

type AnyLabels = Readonly<Record<string, string>>

interface CounterState {
  readonly kind: "counter"
  readonly help: string
  readonly handle: unknown
  readonly values: Map<string, { labels: AnyLabels; value: number }>
}

interface HistogramState {
  readonly kind: "histogram"
  readonly help: string
  readonly handle: unknown
  readonly buckets: ReadonlyArray<number>
  readonly values: Map<string, { labels: AnyLabels; counts: Array<number>; sum: number; count: number }>
}

const escapeLabel = (value: string) =>
  value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")

const labelText = (labels: AnyLabels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

/**
 * Latency buckets in seconds: from well under a poll interval up to a Spot notice's two minutes and beyond.
 *
 * @category constants
 * @since 0.2.0
 */
export const latencyBuckets: ReadonlyArray<number> = [
  0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5, 10, 20, 30, 60, 90, 120, 180, 300
]

/**
 * nth's metrics, every one at zero.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Registry => {
  const metrics = new Map<string, CounterState | HistogramState>()

  const counter = <L extends string = never>(
    name: string,
    help: string,
    _options: { readonly labels?: ReadonlyArray<L> } = {}
  ): Counter<L> => {
    const existing = metrics.get(name)
    if (existing !== undefined) {
      if (existing.kind !== "counter") throw new Error(`metric ${name} is already a ${existing.kind}`)
      return existing.handle as Counter<L>
    }
    const values = new Map<string, { labels: AnyLabels; value: number }>()
    const add = (labels: AnyLabels, by: number) => {
      const key = labelText(labels)
      const entry = values.get(key) ?? { labels, value: 0 }
      entry.value += by
      values.set(key, entry)
    }
    const increment = (first?: AnyLabels | number, by?: number) =>
      typeof first === "object" ? add(first, by ?? 1) : add({}, first ?? 1)
    const handle = { name, increment } as unknown as Counter<L>
    metrics.set(name, { kind: "counter", help, handle, values })
    return handle
  }

  const histogram = <L extends string = never>(
    name: string,
    help: string,
    options: { readonly labels?: ReadonlyArray<L>; readonly buckets?: ReadonlyArray<number> } = {}
  ): Histogram<L> => {
    const existing = metrics.get(name)
    if (existing !== undefined) {
      if (existing.kind !== "histogram") throw new Error(`metric ${name} is already a ${existing.kind}`)
      return existing.handle as Histogram<L>
    }
    const buckets = options.buckets ?? latencyBuckets
    const values = new Map<string, { labels: AnyLabels; counts: Array<number>; sum: number; count: number }>()
    const observe = (seconds: number, labels: AnyLabels = {}) => {
      const key = labelText(labels)
      const entry = values.get(key) ?? { labels, counts: buckets.map(() => 0), sum: 0, count: 0 }
      buckets.forEach((bound, i) => {
        if (seconds <= bound) entry.counts[i]! += 1
      })
      entry.sum += seconds
      entry.count += 1
      values.set(key, entry)
    }
    const handle = { name, observe } as unknown as Histogram<L>
    metrics.set(name, { kind: "histogram", help, handle, buckets, values })
    return handle
  }

  const registry: Registry = {
    actions: counter("actions_total", "Number of actions", { labels: ["node_action", "node_status"] }),
    eventErrors: counter("events_error_total", "Number of errors in events processing", {
      labels: ["event_error_where"]
    }),
    eventsReceived: counter("nth_events_received_total", "Interruption events received, by kind", {
      labels: ["kind"]
    }),
    eventsIgnored: counter("nth_events_ignored_total", "Events ignored by the settings, by kind", {
      labels: ["kind"]
    }),
    claimsLost: counter(
      "nth_node_claims_lost_total",
      "Node claims another handler took while this one acted on the node (not renewed in time): its work there was stopped"
    ),
    startupRecoveryFailures: counter(
      "nth_startup_recovery_failures_total",
      "Start-up recoveries (uncordon after reboot, reading the node's record) that failed on every try"
    ),
    webhookNotifications: counter(
      "nth_webhook_notifications_total",
      "Webhook notifications by result: sent (2xx), failed (refused, or every try used up), dropped (too many waiting)",
      { labels: ["result"] }
    ),
    kubernetesEventsSuppressed: counter(
      "nth_kubernetes_events_suppressed_total",
      "Kubernetes Events not written because their object and reason exceeded the rate limit, by reason",
      { labels: ["reason"] }
    ),
    eventToCordon: histogram(
      "nth_event_to_cordon_seconds",
      "Time from an event being seen to the node being cordoned",
      { labels: ["kind"] }
    ),
    eventToDrained: histogram(
      "nth_event_to_drained_seconds",
      "Time from an event being seen to the node being drained",
      { labels: ["kind"] }
    ),
    counter,
    histogram,
    render: () => {
      const lines: Array<string> = []
      for (const [name, metric] of metrics) {
        lines.push(`# HELP ${name} ${metric.help}`, `# TYPE ${name} ${metric.kind}`)
        if (metric.kind === "counter") {
          for (const { labels, value } of metric.values.values())
            lines.push(`${name}${labelText(labels)} ${value}`)
        } else {
          for (const { labels, counts, sum, count } of metric.values.values()) {
            metric.buckets.forEach((bound, i) => {
              lines.push(`${name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i]}`)
            })
            lines.push(`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${count}`)
            lines.push(`${name}_sum${labelText(labels)} ${sum}`, `${name}_count${labelText(labels)} ${count}`)
          }
        }
      }
      return `${lines.join("\n")}\n`
    }
  }
  // A zero series exists from the start, so rate() and alerts work before the first event (as the Go handler does).
  ;(metrics.get("actions_total") as CounterState).values.set("", { labels: {}, value: 0 })
  ;(metrics.get("events_error_total") as CounterState).values.set("", { labels: {}, value: 0 })
  return registry
}
