/**
 * Webhook notifications, as the Go handler sends them (`WEBHOOK_URL`, `WEBHOOK_HEADERS`, `WEBHOOK_TEMPLATE`,
 * `WEBHOOK_TEMPLATE_FILE`, `WEBHOOK_PROXY`): after nth has cordoned or drained a node for an event, a POST of the
 * rendered template to the URL.
 *
 * Where nth goes further than the Go handler, and why:
 *
 * - Delivery is off the handling path: {@link Notifier.notify} queues and returns at once, so a slow or hanging
 *   receiver never delays a drain (the Go handler posts inline, up to 5 s per event).
 * - Each request has a timeout (5 s, as Go's), and a 5xx, a 429 or a connection error is tried again with backoff
 *   (Go tries once): a chat service's hiccup does not lose the message that a node was drained.
 * - Everything that can be checked is checked at start-up, with the setting's name: the template parses and
 *   renders against zero data (as Go checks it), the headers are a JSON object of strings (a non-string value
 *   makes Go panic at the first notification), the URL and the proxy are URLs. A template that uses a Sprig
 *   function nth lacks is refused there too, never at the first interruption.
 * - Header values and the URL's path and query (a Slack URL holds its secret there) are never logged.
 *
 * @since 0.4.0
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { InterruptionEvent } from "@nth/events"
import { GoTemplate } from "@nth/go-template"
import { KubeClient } from "@nth/kube"
import { Cause, Data, Duration, Effect, Fiber, Queue, Result, Schedule, type Scope, Stream } from "effect"
import { makeAgents, post, type Response } from "./internal/post.ts"
import * as WebhookData from "./WebhookData.ts"

// ---------------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------------

/**
 * The Go handler's default template (`WEBHOOK_TEMPLATE`): the shape Slack's incoming webhooks take.
 *
 * @category constants
 * @since 0.4.0
 */
export const defaultTemplate =
  '{"text":"[NTH][Instance Interruption] EventID: {{ .EventID }} - Kind: {{ .Kind }} - Instance: {{ .InstanceID }} - Node: {{ .NodeName }} - Description: {{ .Description }} - Start Time: {{ .StartTime }}"}'

/**
 * The Go handler's default headers (`WEBHOOK_HEADERS`).
 *
 * @category constants
 * @since 0.4.0
 */
export const defaultHeaders = '{"Content-type":"application/json"}'

/**
 * The Go handler's five settings, as text (`""`: unset).
 *
 * @category models
 * @since 0.4.0
 */
export interface Settings {
  /** `WEBHOOK_URL`: no notifications when empty. */
  readonly url: string
  /** `WEBHOOK_HEADERS`: a JSON object of strings; replaces (not merges with) {@link defaultHeaders}. */
  readonly headers?: string | undefined
  /** `WEBHOOK_TEMPLATE`. Default {@link defaultTemplate}. */
  readonly template?: string | undefined
  /** `WEBHOOK_TEMPLATE_FILE`: wins over `template`; read again for every notification (a ConfigMap's update). */
  readonly templateFile?: string | undefined
  /** `WEBHOOK_PROXY`: an HTTP proxy for every request (CONNECT for `https:` URLs). */
  readonly proxy?: string | undefined
}

/**
 * A webhook setting that cannot work, named, with the reason (a template's with its line and column).
 *
 * @category errors
 * @since 0.4.0
 */
export class WebhookSettingsError extends Data.TaggedError("WebhookSettingsError")<{
  readonly setting: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.setting}: ${this.reason}`
  }
}

/**
 * Settings checked and ready to send with.
 *
 * @category models
 * @since 0.4.0
 */
export interface Prepared {
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly template: GoTemplate.Template
  /** Where the template was read from, to read it again for each notification. */
  readonly templateFile: string | undefined
  readonly proxy: URL | undefined
}

const parseUrl = (setting: string, text: string): Result.Result<URL, WebhookSettingsError> => {
  try {
    const url = new URL(text)
    if (url.protocol === "http:" || url.protocol === "https:") return Result.succeed(url)
    return Result.fail(
      new WebhookSettingsError({
        setting,
        reason: `${url.protocol} URLs are not supported (use an http:// or https:// URL)`
      })
    )
  } catch {
    return Result.fail(new WebhookSettingsError({ setting, reason: "not a URL" }))
  }
}

/**
 * A template read and checked: parsed, then rendered against {@link WebhookData.zero}, as the Go handler checks
 * it at start-up.
 */
const templateOf = (
  setting: string,
  source: string,
  name: string
): Result.Result<GoTemplate.Template, WebhookSettingsError> => {
  try {
    const template = GoTemplate.parse(source, { name })
    template.execute(WebhookData.zero)
    return Result.succeed(template)
  } catch (error) {
    return Result.fail(new WebhookSettingsError({ setting, reason: errorText(error) }))
  }
}

const readTemplateFile = (path: string): Result.Result<GoTemplate.Template, WebhookSettingsError> => {
  let source: string
  try {
    source = fs.readFileSync(path, "utf8")
  } catch (error) {
    return Result.fail(
      new WebhookSettingsError({
        setting: "WEBHOOK_TEMPLATE_FILE",
        reason: `cannot read ${path}: ${errorText(error)}`
      })
    )
  }
  return templateOf("WEBHOOK_TEMPLATE_FILE", source, path)
}

/**
 * Checks the settings, as at start-up; `undefined` when `url` is empty (no notifications).
 *
 * @category constructors
 * @since 0.4.0
 */
export const prepare = (settings: Settings): Result.Result<Prepared | undefined, WebhookSettingsError> =>
  Result.gen(function* () {
    if (settings.url === "") return undefined
    const url = yield* parseUrl("WEBHOOK_URL", settings.url)
    const headers = yield* parseHeaders(
      settings.headers === undefined || settings.headers === "" ? defaultHeaders : settings.headers
    )
    const templateFile = settings.templateFile === "" ? undefined : settings.templateFile
    const template =
      templateFile !== undefined
        ? yield* readTemplateFile(templateFile)
        : yield* templateOf(
            "WEBHOOK_TEMPLATE",
            settings.template === undefined || settings.template === "" ? defaultTemplate : settings.template,
            // The Go handler's name for it, so that errors read as Go's do.
            "message"
          )
    const proxy =
      settings.proxy === undefined || settings.proxy === ""
        ? undefined
        : yield* parseUrl(
            "WEBHOOK_PROXY",
            settings.proxy.includes("://") ? settings.proxy : `http://${settings.proxy}`
          )
    return { url, headers, template, templateFile, proxy }
  })

const parseHeaders = (text: string): Result.Result<Record<string, string>, WebhookSettingsError> => {
  const refuse = (reason: string) =>
    Result.fail(new WebhookSettingsError({ setting: "WEBHOOK_HEADERS", reason }))
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    // Only where: the parser's own message quotes the text around it, which may be a token.
    const at = /position (\d+)/.exec(errorText(error))?.[1]
    return refuse(`not valid JSON${at === undefined ? "" : ` (at character ${Number(at) + 1})`}`)
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return refuse('must be a JSON object such as {"Content-type":"application/json"}')
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(parsed)) {
    // The Go handler panics on a non-string value at the first notification; here it is refused up front.
    if (typeof value !== "string") return refuse(`the value of ${JSON.stringify(name)} must be a string`)
    try {
      http.validateHeaderName(name)
    } catch {
      return refuse(`${JSON.stringify(name)} is not a header name`)
    }
    try {
      http.validateHeaderValue(name, value)
    } catch {
      // Node would refuse it at every request (a line break, a character past U+00FF); the value is not shown.
      return refuse(`the value of ${JSON.stringify(name)} holds a character a header cannot carry`)
    }
    headers[name] = value
  }
  return Result.succeed(headers)
}

/**
 * The URL as it may be logged: scheme, host and port only (a Slack or Teams URL carries its secret in the path).
 *
 * @category utils
 * @since 0.4.0
 */
export const redact = (url: URL): string => `${url.protocol}//${url.host}/…`

// ---------------------------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------------------------

/**
 * What became of a notification: `sent` (a 2xx), `failed` (a 4xx other than 429, a template that failed on this
 * event's data, or every try used up), `dropped` (the queue was full).
 *
 * @category models
 * @since 0.4.0
 */
export type Outcome = "sent" | "failed" | "dropped"

/**
 * How notifications are sent.
 *
 * @category models
 * @since 0.4.0
 */
export interface Options {
  /** Each request's timeout. Default 5 seconds (the Go handler's). */
  readonly timeout?: Duration.Input | undefined
  /** Tries after the first for a 5xx, a 429 or a connection error. Default 4. */
  readonly retries?: number | undefined
  /** The first wait before trying again, doubled each time (with jitter); a 429's `Retry-After` wins. Default 1 s. */
  readonly retryBase?: Duration.Input | undefined
  /**
   * Notifications waiting to be sent, about: more are dropped (and counted). Default 1000. (A few more than that
   * may wait: the senders take their next ones out of the queue ahead.)
   */
  readonly capacity?: number | undefined
  /** Notifications sent at once. Default 4. */
  readonly concurrency?: number | undefined
  /**
   * At a stop, how long notifications still queued may take to go out. Default 4 seconds: after the programs'
   * 25 s for work in flight, the stop stays within the pod's default 30 s grace period.
   */
  readonly flushTimeout?: Duration.Input | undefined
  /** Called once per notification with what became of it (the programs count it in a metric). */
  readonly onResult?: ((outcome: Outcome) => void) | undefined
  /**
   * What the program knows of the event's instance: IMDS mode, its own identity; queue mode, `DescribeInstances`.
   * Failures leave the fields empty.
   */
  readonly instance?:
    | ((event: InterruptionEvent.InterruptionEvent) => Effect.Effect<WebhookData.Instance, unknown>)
    | undefined
}

/**
 * What the handler tells of an event it acted on. The rest of the template's data (the node's labels, its pods
 * when no drain listed them, the instance) is looked up when the notification is sent, off the handling path.
 *
 * @category models
 * @since 0.4.0
 */
export interface Notice {
  readonly event: InterruptionEvent.InterruptionEvent
  readonly nodeName: string
  /** Whether nth's work on the node succeeded. */
  readonly succeeded: boolean
  /** The pods on the node when its drain began (the drain's report), if it was drained. */
  readonly pods?: ReadonlyArray<string> | undefined
}

/**
 * @category models
 * @since 0.4.0
 */
export interface Notifier {
  /** Queues a notification and returns at once; it never fails. */
  readonly notify: (notice: Notice) => Effect.Effect<void>
}

/** A try that failed: `retry` when trying again may help. */
class DeliveryError extends Data.TaggedError("DeliveryError")<{
  readonly reason: string
  readonly retry: boolean
  readonly retryAfterMs?: number | undefined
}> {}

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

const retryable = (response: Response): boolean => response.status === 429 || response.status >= 500

const codeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""

// Errors that every try would meet again: a header Node refuses, a certificate the receiver's name or chain
// does not pass. (Connection errors, resets and DNS failures may pass: those are tried again.)
const permanentErrorCodes: ReadonlySet<string> = new Set([
  "ERR_INVALID_CHAR",
  "ERR_INVALID_HTTP_TOKEN",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
])

/**
 * A notifier for prepared settings: a queue, and the fibers that send what it holds. The scope's end lets what is
 * queued go out (for `flushTimeout` at most), then closes the connections.
 *
 * @category constructors
 * @since 0.4.0
 */
export const make = (
  prepared: Prepared,
  options: Options = {}
): Effect.Effect<Notifier, never, Scope.Scope | KubeClient.KubeClient> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? "5 seconds"))
    const retryBase = options.retryBase ?? "1 second"
    const onResult = options.onResult
    // A caller's callback that throws must not stop the notifications after it.
    const report = (outcome: Outcome) => {
      try {
        onResult?.(outcome)
      } catch {}
    }
    const agents = yield* Effect.acquireRelease(
      Effect.sync(() => makeAgents(prepared.proxy)),
      (agents) => Effect.sync(agents.destroy)
    )
    const queue = yield* Queue.dropping<Notice, Cause.Done>(options.capacity ?? 1000)
    const target = redact(prepared.url)

    /** The template of this notification: the file read again (a ConfigMap's update), else the start-up one. */
    const currentTemplate = Effect.gen(function* () {
      if (prepared.templateFile === undefined) return prepared.template
      const read = readTemplateFile(prepared.templateFile)
      if (Result.isSuccess(read)) return read.success
      yield* Effect.logWarning(
        "webhook template file unusable now: sending with the one read at start-up"
      ).pipe(Effect.annotateLogs({ reason: read.failure.reason }))
      return prepared.template
    })

    // Suspended: each try (a retry runs the effect again) gets its own timeout.
    const sendOnce = (body: string) =>
      Effect.suspend(() => {
        const timeout = AbortSignal.timeout(timeoutMs)
        return Effect.tryPromise({
          try: (signal) =>
            post(agents, prepared.url, prepared.headers, body, AbortSignal.any([signal, timeout])),
          catch: (error) =>
            timeout.aborted
              ? new DeliveryError({ reason: `no answer within ${timeoutMs} ms`, retry: true })
              : new DeliveryError({
                  reason: errorText(error),
                  retry: !permanentErrorCodes.has(codeOf(error))
                })
        }).pipe(
          Effect.flatMap((response) =>
            response.status >= 200 && response.status < 300
              ? Effect.succeed(response)
              : Effect.fail(
                  new DeliveryError({
                    reason: `HTTP ${response.status}`,
                    retry: retryable(response),
                    retryAfterMs: response.retryAfterMs
                  })
                )
          )
        )
      })

    const backoff = Schedule.exponential(retryBase, 2).pipe(
      Schedule.jittered,
      // A 429 or 503's Retry-After, when longer than the backoff's wait (capped: a notice is only useful soon).
      Schedule.modifyDelay(({ input, duration }) =>
        Effect.succeed(
          input instanceof DeliveryError && input.retryAfterMs !== undefined
            ? Duration.max(duration, Duration.millis(Math.min(input.retryAfterMs, 60_000)))
            : duration
        )
      )
    )

    /** The template's data: the notice, with the node's labels and pods and the instance looked up. */
    const dataOf = (notice: Notice) =>
      Effect.gen(function* () {
        const { event, nodeName } = notice
        const [node, pods, instance] = yield* Effect.all(
          [
            kube
              .call(`read node ${nodeName}`, (o) => kube.core.readNode({ name: nodeName }, o))
              .pipe(
                Effect.map((node) => node.metadata?.labels ?? {}),
                Effect.catch((error) =>
                  Effect.as(
                    Effect.logWarning("webhook: the node's labels are unknown").pipe(
                      Effect.annotateLogs({ reason: error.message })
                    ),
                    {}
                  )
                )
              ),
            notice.pods !== undefined
              ? Effect.succeed(notice.pods)
              : kube
                  .call(`list pods on node ${nodeName}`, (o) =>
                    kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` }, o)
                  )
                  .pipe(
                    Effect.map((list) => list.items.map((pod) => pod.metadata?.name ?? "")),
                    Effect.catch((error) =>
                      Effect.as(
                        Effect.logWarning("webhook: the node's pods are unknown").pipe(
                          Effect.annotateLogs({ reason: error.message })
                        ),
                        []
                      )
                    )
                  ),
            (options.instance === undefined
              ? Effect.succeed<WebhookData.Instance>({})
              : options.instance(event)
            ).pipe(
              Effect.catch((error) =>
                Effect.as(
                  Effect.logWarning("webhook: the instance is unknown").pipe(
                    Effect.annotateLogs({ reason: errorText(error) })
                  ),
                  {} as WebhookData.Instance
                )
              )
            )
          ],
          { concurrency: "unbounded" }
        )
        return WebhookData.make({
          event,
          nodeName,
          nodeLabels: node,
          pods,
          instance,
          processed: notice.succeeded
        })
      })

    const deliver = (notice: Notice) =>
      Effect.gen(function* () {
        const data = yield* dataOf(notice)
        const template = yield* currentTemplate
        let body: string
        try {
          body = template.execute(data)
        } catch (error) {
          report("failed")
          return yield* Effect.logError("webhook not sent: the template failed on this event's data").pipe(
            Effect.annotateLogs({ reason: errorText(error) })
          )
        }
        const started = Date.now()
        yield* sendOnce(body).pipe(
          Effect.tapError((error) =>
            Effect.logWarning("webhook try failed").pipe(
              Effect.annotateLogs({ reason: error.reason, retry: error.retry })
            )
          ),
          Effect.retry({ schedule: backoff, times: options.retries ?? 4, while: (error) => error.retry }),
          Effect.matchEffect({
            onSuccess: (response) => {
              report("sent")
              return Effect.logInfo("webhook sent").pipe(
                Effect.annotateLogs({ status: response.status, afterMs: Date.now() - started })
              )
            },
            onFailure: (error) => {
              report("failed")
              return Effect.logError("webhook not sent").pipe(
                Effect.annotateLogs({ reason: error.reason, afterMs: Date.now() - started })
              )
            }
          })
        )
      }).pipe(Effect.annotateLogs({ webhook: target, eventId: notice.event.id, node: notice.nodeName }))

    const sending = yield* Stream.fromQueue(queue).pipe(
      Stream.mapEffect(
        (notice: Notice) =>
          // Whatever goes wrong with one notification (a defect, a throwing `instance`) is that one's failure:
          // the stream, and the notifications after it, go on.
          deliver(notice).pipe(
            Effect.catchCause((cause) => {
              report("failed")
              return Effect.logError("webhook not sent: unexpected failure").pipe(
                Effect.annotateLogs({
                  eventId: notice.event.id,
                  node: notice.nodeName,
                  cause: Cause.pretty(cause)
                })
              )
            })
          ),
        { concurrency: options.concurrency ?? 4, unordered: true }
      ),
      Stream.runDrain,
      Effect.forkScoped
    )
    // At the end of the scope (before the fiber above is interrupted): no new notifications, and those queued or
    // on their way get `flushTimeout` to go out.
    yield* Effect.addFinalizer(() =>
      Queue.end(queue).pipe(
        Effect.andThen(Fiber.await(sending)),
        Effect.timeout(options.flushTimeout ?? "4 seconds"),
        Effect.ignore
      )
    )

    const notify = (notice: Notice): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (Queue.offerUnsafe(queue, notice)) return Effect.void
        report("dropped")
        return Effect.logError("webhook dropped: too many notifications waiting").pipe(
          Effect.annotateLogs({ eventId: notice.event.id, node: notice.nodeName })
        )
      })
    return { notify }
  })
