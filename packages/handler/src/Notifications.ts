/**
 * The webhook notifications of a program: the `WEBHOOK_*` settings made into the handler's
 * {@link Handler.Options.notify}, counted in `nth_webhook_notifications_total`.
 *
 * @since 0.4.0
 */
import type { KubeClient } from "@nth/kube"
import type { Webhook } from "@nth/webhook"
import { Effect, Result, type Scope } from "effect"
import type * as Handler from "./Handler.ts"
import type * as Metrics from "./Metrics.ts"
import * as Settings from "./Settings.ts"

/**
 * The handler's `notify` for these settings; `undefined` without `WEBHOOK_URL`. `instance` tells what the program
 * knows of an event's instance (IMDS mode: its identity; queue mode: `DescribeInstances`). Settings that could
 * not be sent with (a template that does not parse or render against zero data, headers that are not a JSON
 * object of strings, a URL or proxy that is not one) fail with `InvalidSettings`, naming the setting: the
 * programs exit 2 before acting on anything.
 *
 * @category constructors
 * @since 0.4.0
 */
export const make = (
  settings: Settings.Settings,
  metrics: Metrics.Registry,
  instance?: Webhook.Options["instance"]
): Effect.Effect<Handler.Options["notify"], Settings.InvalidSettings, Scope.Scope | KubeClient.KubeClient> =>
  Effect.gen(function* () {
    if (settings.webhookUrl === "") return undefined
    // Loaded only when notifications are on: the template engine (Go's text/template and Sprig) added 34 ms to
    // the DaemonSet's start-up (median 171 → 205 ms over 9 starts, the same run) when it was loaded at every start.
    const { Webhook } = yield* Effect.promise(() => import("@nth/webhook"))
    const prepared = Webhook.prepare(Settings.toWebhookSettings(settings))
    if (Result.isFailure(prepared)) {
      const message = prepared.failure.message
      return yield* new Settings.InvalidSettings({ message, problems: [message] })
    }
    if (prepared.success === undefined) return undefined
    yield* Effect.logInfo("webhook notifications on").pipe(
      Effect.annotateLogs({
        webhook: Webhook.redact(prepared.success.url),
        headers: Object.keys(prepared.success.headers).join(","),
        ...(prepared.success.proxy === undefined ? {} : { proxy: Webhook.redact(prepared.success.proxy) })
      })
    )
    const notifier = yield* Webhook.make(prepared.success, {
      instance,
      onResult: (result) => metrics.webhookNotifications.increment({ result })
    })
    return notifier.notify
  })
