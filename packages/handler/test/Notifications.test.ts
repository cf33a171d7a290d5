import { it } from "@effect/vitest"
import { KubeClient } from "@nth/kube"
import { Effect, Layer } from "effect"
import { describe, expect } from "vitest"
import { Metrics, Notifications, Settings } from "../src/index.ts"

const settingsOf = (env: Record<string, string>) => {
  const parsed = Settings.parse({ NODE_NAME: "node-1", ...env })
  if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
  return parsed.settings
}

// Nothing is read from the cluster until a notification is sent.
const kube = Layer.succeed(KubeClient.KubeClient, {} as KubeClient.Service)

const make = (env: Record<string, string>) =>
  Notifications.make(settingsOf(env), Metrics.make()).pipe(Effect.scoped, Effect.provide(kube))

describe("Notifications.make", () => {
  it.effect("is off without WEBHOOK_URL, whatever the other webhook settings", () =>
    Effect.gen(function* () {
      expect(yield* make({ WEBHOOK_TEMPLATE: "{{ .Nodes }}" })).toBeUndefined()
    })
  )

  it.effect("gives the handler's notify for settings that can be sent with", () =>
    Effect.gen(function* () {
      const notify = yield* make({
        WEBHOOK_URL: "https://hooks.example.com/T000",
        WEBHOOK_TEMPLATE: "{{ .NodeName }}"
      })
      expect(typeof notify).toBe("function")
    })
  )

  it.effect.each<[Record<string, string>, RegExp]>([
    [{ WEBHOOK_TEMPLATE: "{{ .Nodes }}" }, /^WEBHOOK_TEMPLATE: template: message:1:3: .*Nodes/],
    [{ WEBHOOK_TEMPLATE: "{{ if .NodeName }}" }, /^WEBHOOK_TEMPLATE: template: message:1: unexpected EOF/],
    [{ WEBHOOK_TEMPLATE_FILE: "/nonexistent" }, /^WEBHOOK_TEMPLATE_FILE: cannot read \/nonexistent/],
    [{ WEBHOOK_HEADERS: '{"X-Count":3}' }, /^WEBHOOK_HEADERS: the value of "X-Count" must be a string/],
    [{ WEBHOOK_PROXY: "socks5://proxy:1080" }, /^WEBHOOK_PROXY: socks5: URLs are not supported/]
  ])("refuses %o as invalid settings (exit 2), naming the setting", ([env, message]) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(make({ WEBHOOK_URL: "https://hooks.example.com/T000", ...env }))
      expect(error).toBeInstanceOf(Settings.InvalidSettings)
      expect(error.message).toMatch(message)
    })
  )
})
