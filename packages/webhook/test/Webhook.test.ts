import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { it } from "@effect/vitest"
import type { InterruptionEvent } from "@nth/events"
import { GoTemplate } from "@nth/go-template"
import { KubeClient } from "@nth/kube"
import { ForwardProxy } from "@nth/testbed"
import { Effect, Layer, Result } from "effect"
import { afterAll, describe, expect } from "vitest"
import { Webhook, WebhookData } from "../src/index.ts"

const event: InterruptionEvent.InterruptionEvent = {
  kind: "SpotInterruptionNotice",
  id: "spot-itn-3f2a",
  monitor: "SPOT_ITN_MONITOR",
  instanceId: "i-0123456789abcdef0",
  startTime: new Date("2026-12-04T10:02:00Z"),
  description: "Spot ITN received. Instance will be interrupted at 2026-12-04T10:02:00Z",
  action: "terminate"
}

const prepared = (settings: Partial<Webhook.Settings> & { readonly url: string }) => {
  const result = Webhook.prepare(settings)
  if (Result.isFailure(result)) throw result.failure
  if (result.success === undefined) throw new Error("no webhook")
  return result.success
}

const failureOf = (settings: Partial<Webhook.Settings>) => {
  const result = Webhook.prepare({ url: "http://127.0.0.1:9/hook", ...settings })
  return Result.isFailure(result) ? result.failure : undefined
}

// A cluster that knows the node's labels and pods (the notifier reads them when no drain listed them).
const kube = Layer.succeed(KubeClient.KubeClient, {
  call: (_operation: string, run: (options: object) => Promise<unknown>) => Effect.promise(() => run({})),
  core: {
    readNode: async () => ({
      metadata: { name: "node-a", labels: { "node.kubernetes.io/instance-type": "m5.large" } }
    }),
    listPodForAllNamespaces: async () => ({
      items: [{ metadata: { name: "web-1" } }, { metadata: { name: "web-2" } }]
    })
  }
} as unknown as KubeClient.Service)

interface Server {
  readonly url: string
  readonly bodies: Array<string>
  readonly headers: Array<http.IncomingHttpHeaders>
}

const servers: Array<http.Server> = []
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
})

const serve = async (answer: (index: number) => number | "hang"): Promise<Server> => {
  const bodies: Array<string> = []
  const headers: Array<http.IncomingHttpHeaders> = []
  const server = http.createServer((request, response) => {
    let body = ""
    request.on("data", (chunk) => {
      body += chunk
    })
    request.on("end", () => {
      const status = answer(bodies.length)
      bodies.push(body)
      headers.push(request.headers)
      if (status !== "hang") response.writeHead(status).end()
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, headers }
}

const until = (condition: () => boolean) =>
  Effect.sleep("10 millis").pipe(Effect.repeat({ until: condition }), Effect.timeout("10 seconds"))

describe("Webhook.prepare", () => {
  it("is off without a URL", () => {
    expect(Webhook.prepare({ url: "" })).toEqual(Result.succeed(undefined))
  })

  it("takes the Go handler's defaults", () => {
    const ready = prepared({ url: "https://hooks.slack.com/services/T0/B0/secret" })
    expect(ready.headers).toEqual({ "Content-type": "application/json" })
    expect(ready.template.execute(WebhookData.zero)).toBe(
      '{"text":"[NTH][Instance Interruption] EventID:  - Kind:  - Instance:  - Node:  - Description:  - Start Time: 0001-01-01 00:00:00 +0000 UTC"}'
    )
    expect(Webhook.redact(ready.url)).toBe("https://hooks.slack.com/…")
  })

  it("refuses, naming the setting, what the Go handler finds out only at the first notification or never", () => {
    expect(failureOf({ template: "{{ .NodeName " })?.message).toBe(
      "WEBHOOK_TEMPLATE: template: message:1: unclosed action"
    )
    expect(failureOf({ template: '{"text":\n  "{{ .NodeName | upper 1 2 }}"}' })?.message).toMatch(
      /^WEBHOOK_TEMPLATE: template: message:2:\d+: /
    )
    expect(failureOf({ template: "{{ .Nodes }}" })?.message).toMatch(/^WEBHOOK_TEMPLATE: .*Nodes/)
    expect(failureOf({ template: "{{ nosuchfunction 1 }}" })?.message).toContain(
      'function "nosuchfunction" not defined'
    )
    expect(failureOf({ headers: '{"X-Count": 3}' })?.message).toBe(
      'WEBHOOK_HEADERS: the value of "X-Count" must be a string'
    )
    expect(failureOf({ headers: "[1]" })?.setting).toBe("WEBHOOK_HEADERS")
    expect(failureOf({ headers: "{nope" })?.setting).toBe("WEBHOOK_HEADERS")
    expect(failureOf({ templateFile: "/nonexistent/template" })?.message).toContain(
      "cannot read /nonexistent/template"
    )
    expect(failureOf({ proxy: "socks5://proxy:1080" })?.setting).toBe("WEBHOOK_PROXY")
    expect(Webhook.prepare({ url: "not a url" })).toMatchObject({ failure: { setting: "WEBHOOK_URL" } })
  })

  it("takes a proxy without a scheme as an http:// one (the Go handler's transport would fail on it)", () => {
    expect(prepared({ url: "https://example.com/x", proxy: "proxy.corp:3128" }).proxy?.href).toBe(
      "http://proxy.corp:3128/"
    )
  })
})

describe("Webhook.prepare keeps secrets out of its messages", () => {
  it("says where the headers' JSON breaks, never what it holds", () => {
    const message = failureOf({ headers: '{"Authorization": Bearer s3cr3t}' })?.message ?? ""
    expect(message).toMatch(/^WEBHOOK_HEADERS: not valid JSON/)
    expect(message).not.toContain("s3cr3t")
  })

  it("refuses a header value Node could never send, without showing it", () => {
    for (const value of ["line\r\nInjected: 1", "rocket 🚀"]) {
      const message = failureOf({ headers: JSON.stringify({ "X-Note": value }) })?.message ?? ""
      expect(message).toBe('WEBHOOK_HEADERS: the value of "X-Note" holds a character a header cannot carry')
    }
    expect(failureOf({ headers: '{"Bad Name":"x"}' })?.message).toBe(
      'WEBHOOK_HEADERS: "Bad Name" is not a header name'
    )
  })
})

describe("Webhook.make", () => {
  it.live("posts the rendered data with the headers, off the caller's path", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => serve(() => 204))
      const results: Array<Webhook.Outcome> = []
      const notifier = yield* Webhook.make(
        prepared({
          url: server.url,
          headers: '{"Content-Type":"application/json","X-Token":"abc"}',
          template:
            '{"node":"{{ .NodeName }}","pods":{{ toJson .Pods }},"type":"{{ index .NodeLabels "node.kubernetes.io/instance-type" }}","az":"{{ .AvailabilityZone }}","managed":{{ .IsManaged }}}'
        }),
        {
          onResult: (result) => results.push(result),
          instance: () => Effect.succeed({ availabilityZone: "eu-west-1b", isManaged: true })
        }
      )
      yield* notifier.notify({ event, nodeName: "node-a", succeeded: true })
      yield* until(() => results.length > 0)
      expect(results).toEqual(["sent"])
      expect(JSON.parse(server.bodies[0] ?? "")).toEqual({
        node: "node-a",
        pods: ["web-1", "web-2"],
        type: "m5.large",
        az: "eu-west-1b",
        managed: true
      })
      expect(server.headers[0]?.["x-token"]).toBe("abc")
    }).pipe(Effect.scoped, Effect.provide(kube))
  )

  it.live("tries again on 5xx and 429, not on other 4xx", () =>
    Effect.gen(function* () {
      const flaky = yield* Effect.promise(() =>
        serve((index) => (index < 2 ? (index === 0 ? 503 : 429) : 200))
      )
      const refusing = yield* Effect.promise(() => serve(() => 400))
      const results: Array<Webhook.Outcome> = []
      const options: Webhook.Options = {
        onResult: (result) => {
          results.push(result)
        },
        retryBase: "10 millis"
      }
      const first = yield* Webhook.make(prepared({ url: flaky.url }), options)
      const second = yield* Webhook.make(prepared({ url: refusing.url }), options)
      yield* first.notify({ event, nodeName: "node-a", succeeded: true, pods: [] })
      yield* second.notify({ event, nodeName: "node-a", succeeded: false, pods: [] })
      yield* until(() => results.length === 2)
      expect(results.sort()).toEqual(["failed", "sent"])
      expect(flaky.bodies).toHaveLength(3)
      expect(refusing.bodies).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(kube))
  )

  it.live("gives up after the retries, each try bounded by the timeout, and never blocks notify", () =>
    Effect.gen(function* () {
      const hanging = yield* Effect.promise(() => serve(() => "hang"))
      const results: Array<Webhook.Outcome> = []
      const notifier = yield* Webhook.make(prepared({ url: hanging.url }), {
        onResult: (result) => results.push(result),
        timeout: "100 millis",
        retries: 2,
        retryBase: "10 millis"
      })
      const started = Date.now()
      yield* notifier.notify({ event, nodeName: "node-a", succeeded: true, pods: [] })
      expect(Date.now() - started).toBeLessThan(50)
      yield* until(() => results.length > 0)
      expect(results).toEqual(["failed"])
      expect(hanging.bodies).toHaveLength(3)
    }).pipe(Effect.scoped, Effect.provide(kube))
  )

  it.live("drops, and counts, what does not fit in the queue", () =>
    Effect.gen(function* () {
      const hanging = yield* Effect.promise(() => serve(() => "hang"))
      const results: Array<Webhook.Outcome> = []
      const notifier = yield* Webhook.make(prepared({ url: hanging.url }), {
        onResult: (result) => results.push(result),
        capacity: 2,
        concurrency: 1,
        timeout: "5 seconds",
        flushTimeout: "10 millis"
      })
      for (let i = 0; i < 6; i++)
        yield* notifier.notify({ event, nodeName: `node-${i}`, succeeded: true, pods: [] })
      expect(results.filter((result) => result === "dropped").length).toBeGreaterThanOrEqual(3)
    }).pipe(Effect.scoped, Effect.provide(kube))
  )

  it.live("sends an http: URL through WEBHOOK_PROXY in absolute form", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => serve(() => 200))
      const port = new URL(server.url).port
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => ForwardProxy.start({ [`hook.nth-proxy.test:${port}`]: `127.0.0.1:${port}` })),
        (proxy) => Effect.promise(() => proxy.close())
      )
      const results: Array<Webhook.Outcome> = []
      const notifier = yield* Webhook.make(
        prepared({ url: `http://hook.nth-proxy.test:${port}/hook`, proxy: proxy.url }),
        { onResult: (result) => results.push(result) }
      )
      yield* notifier.notify({ event, nodeName: "node-a", succeeded: true, pods: [] })
      yield* until(() => results.length > 0)
      expect(results).toEqual(["sent"])
      expect(proxy.requests.map((r) => `${r.method} ${r.target}`)).toEqual([
        `POST hook.nth-proxy.test:${port}`
      ])
      expect(server.bodies).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(kube))
  )

  it.live("goes on after a notification that failed unexpectedly, and after a throwing onResult", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => serve(() => 200))
      const results: Array<Webhook.Outcome> = []
      const notifier = yield* Webhook.make(prepared({ url: server.url }), {
        onResult: (result) => {
          results.push(result)
          throw new Error("a caller's metric broke")
        },
        instance: (event) =>
          event.id === "broken" ? Effect.die(new Error("a defect in the lookup")) : Effect.succeed({})
      })
      yield* notifier.notify({
        event: { ...event, id: "broken" },
        nodeName: "node-a",
        succeeded: true,
        pods: []
      })
      yield* notifier.notify({ event, nodeName: "node-a", succeeded: true, pods: [] })
      yield* notifier.notify({
        event: { ...event, id: "third" },
        nodeName: "node-a",
        succeeded: true,
        pods: []
      })
      yield* until(() => results.length === 3)
      expect(results.sort()).toEqual(["failed", "sent", "sent"])
    }).pipe(Effect.scoped, Effect.provide(kube))
  )

  it.live("sends what is queued before its scope ends", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => serve(() => 200))
      const results: Array<Webhook.Outcome> = []
      yield* Effect.gen(function* () {
        const notifier = yield* Webhook.make(prepared({ url: server.url }), {
          onResult: (result) => results.push(result)
        })
        for (let i = 0; i < 3; i++)
          yield* notifier.notify({
            event: { ...event, id: `e${i}` },
            nodeName: "node-a",
            succeeded: true,
            pods: []
          })
      }).pipe(Effect.scoped)
      expect(results).toEqual(["sent", "sent", "sent"])
    }).pipe(Effect.provide(kube))
  )
})

describe("WebhookData.make", () => {
  it("fills the instance's fields from the event and what the program knows", () => {
    const data = WebhookData.make({
      event: { ...event, providerId: "aws:///eu-west-1b/i-0123456789abcdef0" },
      nodeName: "node-a",
      nodeLabels: { b: "2", a: "1" },
      pods: ["p"],
      instance: { instanceType: "m5.large", accountId: "123456789012" },
      processed: true
    })
    expect(data.InterruptionEvent).toMatchObject({
      Kind: "SPOT_ITN",
      Monitor: "SPOT_ITN_MONITOR",
      InstanceID: "i-0123456789abcdef0",
      ProviderID: "aws:///eu-west-1b/i-0123456789abcdef0",
      NodeProcessed: true
    })
    expect(data.NodeMetadata).toMatchObject({
      AvailabilityZone: "eu-west-1b",
      Region: "eu-west-1",
      AccountId: "123456789012",
      InstanceType: "m5.large"
    })
    expect(data.InstanceID).toBe("i-0123456789abcdef0")
    // Promoted fields, as Go's embedding gives them to templates.
    expect(GoTemplate.render("{{ .AccountId }} {{ .NodeName }} {{ .InstanceType }}", data)).toBe(
      "123456789012 node-a m5.large"
    )
    expect(GoTemplate.render("{{ .NodeLabels }}", data)).toBe("map[a:1 b:2]")
  })
})
