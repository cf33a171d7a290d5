/**
 * Prometheus metrics, in the text exposition format, with no dependency: a DaemonSet pod on every node must stay
 * small. Names follow the Go handler where it has one (`actions_total`, `events_error_total`); nth adds its
 * latency histograms and per-kind counters.
 *
 * @since 0.1.0
 */

type Labels = Readonly<Record<string, string>>

const labelText = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0
    ? ""
    : `{${entries.map(([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`).join(",")}}`
}

interface Counter {
  readonly kind: "counter"
  readonly help: string
  readonly values: Map<string, { labels: Labels; value: number }>
}

interface Histogram {
  readonly kind: "histogram"
  readonly help: string
  readonly buckets: ReadonlyArray<number>
  readonly values: Map<string, { labels: Labels; counts: Array<number>; sum: number; count: number }>
}

/**
 * A registry of counters and histograms.
 *
 * @category models
 * @since 0.1.0
 */
export interface Registry {
  readonly increment: (name: string, labels?: Labels, by?: number) => void
  readonly observe: (name: string, seconds: number, labels?: Labels) => void
  /** The exposition text for `/metrics`. */
  readonly render: () => string
}

/** Latency buckets in seconds: from well under a poll interval up to a Spot notice's two minutes and beyond. */
const latencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5, 10, 20, 30, 60, 90, 120, 180, 300]

/**
 * nth's metrics.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Registry => {
  const metrics = new Map<string, Counter | Histogram>([
    ["actions_total", { kind: "counter", help: "Number of actions", values: new Map() }],
    [
      "events_error_total",
      { kind: "counter", help: "Number of errors in events processing", values: new Map() }
    ],
    [
      "nth_events_received_total",
      { kind: "counter", help: "Interruption events received, by kind", values: new Map() }
    ],
    [
      "nth_events_ignored_total",
      { kind: "counter", help: "Events ignored by the settings, by kind", values: new Map() }
    ],
    [
      "nth_startup_recovery_failures_total",
      {
        kind: "counter",
        help: "Start-up recoveries (uncordon after reboot, reading the node's record) that failed on every try",
        values: new Map()
      }
    ],
    [
      "nth_kubernetes_events_suppressed_total",
      {
        kind: "counter",
        help: "Kubernetes Events not written because their object and reason exceeded the rate limit, by reason",
        values: new Map()
      }
    ],
    [
      "nth_event_to_cordon_seconds",
      {
        kind: "histogram",
        help: "Time from an event being seen to the node being cordoned",
        buckets: latencyBuckets,
        values: new Map()
      }
    ],
    [
      "nth_event_to_drained_seconds",
      {
        kind: "histogram",
        help: "Time from an event being seen to the node being drained",
        buckets: latencyBuckets,
        values: new Map()
      }
    ]
  ])
  // A zero series exists from the start, so rate() and alerts work before the first event (as the Go handler does).
  const counter = metrics.get("actions_total") as Counter
  counter.values.set("", { labels: {}, value: 0 })
  ;(metrics.get("events_error_total") as Counter).values.set("", { labels: {}, value: 0 })

  return {
    increment: (name, labels = {}, by = 1) => {
      const metric = metrics.get(name)
      if (metric?.kind !== "counter") return
      const key = labelText(labels)
      const entry = metric.values.get(key) ?? { labels, value: 0 }
      entry.value += by
      metric.values.set(key, entry)
    },
    observe: (name, seconds, labels = {}) => {
      const metric = metrics.get(name)
      if (metric?.kind !== "histogram") return
      const key = labelText(labels)
      const entry = metric.values.get(key) ?? {
        labels,
        counts: metric.buckets.map(() => 0),
        sum: 0,
        count: 0
      }
      metric.buckets.forEach((bound, i) => {
        if (seconds <= bound) entry.counts[i]! += 1
      })
      entry.sum += seconds
      entry.count += 1
      metric.values.set(key, entry)
    },
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
}
