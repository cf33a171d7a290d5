/**
 * End to end: webhook notifications of the built DaemonSet program, against the test bed's API server, the IMDS
 * emulator and a local receiver (http, or https through a CONNECT proxy).
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import { Fixtures, ForwardProxy, Programs, useTestBed, WebhookReceiver } from "@nth/testbed"
import { describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")

const uptimeFile = () => {
  const file = join(tmpdir(), `nth-uptime-${Math.random().toString(16).slice(2)}`)
  writeFileSync(file, "100000.00 1000.00\n")
  return file
}

const receiver = async (options: Parameters<typeof WebhookReceiver.start>[0] = {}) => {
  const started = await WebhookReceiver.start(options)
  bed.defer(() => started.close())
  return started
}

/** A node with two pods, its IMDS emulator, and the program watching it with `env` added. */
const spotNodeWith = async (env: Record<string, string>) => {
  const { node } = await bed.nodeWithDeployment({ replicas: 2, terminationGracePeriodSeconds: 1 })
  const imds = await ImdsMock.start({
    instanceId: node.instanceId,
    instanceType: "m5.large",
    availabilityZone: node.zone,
    localHostname: node.privateDnsName,
    instanceLifeCycle: "spot",
    accountId: "123456789012"
  })
  bed.defer(() => imds.close())
  const app = Programs.startProgram(appPath, {
    env: {
      KUBECONFIG: bed.clients.env.KUBECONFIG,
      JSON_LOGGING: "true",
      NODE_NAME: node.name,
      INSTANCE_METADATA_URL: imds.url,
      UPTIME_FROM_FILE: uptimeFile(),
      ...env
    },
    cleanup: bed.defer
  })
  await Fixtures.waitFor("the first Spot poll", async () =>
    imds.requests().some((r) => r.path.endsWith("/spot/instance-action")) ? true : undefined
  )
  return { node, imds, app }
}

const livePods = async (node: string) =>
  (await bed.clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp
  )

/** Milliseconds from the notice to the node's pods all gone. */
const noticeToDrained = async (imds: ImdsMock.StartedImdsMock, node: string) => {
  const noticed = Date.now()
  imds.setSpotInterruption({ action: "terminate" })
  await Fixtures.waitFor(`node ${node} drained`, async () =>
    (await livePods(node)).length === 0 ? true : undefined
  )
  return Date.now() - noticed
}

const template =
  '{"Content":"{{ .Kind }} on {{ .NodeName }} ({{ .InstanceID }}, {{ .InstanceType }}, {{ .InstanceLifeCycle }}, ' +
  "{{ .AvailabilityZone }}, {{ .Region }}, account {{ .AccountId }}) pods={{ len .Pods }} " +
  'monitor={{ .Monitor | lower }} provider={{ .ProviderID }}{{ if .NodeProcessed }} done{{ end }}"}'

describe("nth-daemonset webhooks", () => {
  it("posts the rendered template with the configured headers for a Spot notice, and never logs a header's value", async () => {
    const hook = await receiver()
    const { node, imds, app } = await spotNodeWith({
      WEBHOOK_URL: hook.url,
      WEBHOOK_HEADERS:
        '{"Content-type":"application/json","X-Team":"sre","Authorization":"Bearer s3cr3t-t0ken"}',
      WEBHOOK_TEMPLATE: template
    })
    await noticeToDrained(imds, node.name)
    await Fixtures.waitFor("the notification", async () => (hook.requests.length > 0 ? true : undefined))
    const [request] = hook.requests
    const region = node.zone.replace(/[a-z]$/, "")
    expect(request?.method).toBe("POST")
    expect(request?.path).toBe("/hook")
    expect(request?.headers["content-type"]).toBe("application/json")
    expect(request?.headers["x-team"]).toBe("sre")
    expect(request?.headers.authorization).toBe("Bearer s3cr3t-t0ken")
    expect(JSON.parse(request?.body ?? "")).toEqual({
      Content:
        `SPOT_ITN on ${node.name} (${node.instanceId}, m5.large, spot, ${node.zone}, ${region}, account 123456789012) ` +
        `pods=2 monitor=spot_itn_monitor provider=aws:///${node.zone}/${node.instanceId} done`
    })
    await Programs.waitForLog(app, "webhook sent")
    expect(await app.stop()).toBe(0)
    // Once per event: the notice IMDS still shows at every poll is not posted again.
    expect(hook.requests).toHaveLength(1)
    expect(app.logs.join("\n")).not.toContain("s3cr3t")
    expect(app.logs.join("\n")).not.toContain("/hook")
  })

  it("tries again when the receiver answers 500, and counts the notification sent once", async () => {
    const hook = await receiver({ answer: (index) => (index === 0 ? 500 : 200) })
    const port = await Programs.freePort()
    const { node, imds, app } = await spotNodeWith({
      WEBHOOK_URL: hook.url,
      ENABLE_PROMETHEUS_SERVER: "true",
      PROMETHEUS_SERVER_PORT: String(port)
    })
    await noticeToDrained(imds, node.name)
    await Fixtures.waitFor("the second try", async () => (hook.requests.length >= 2 ? true : undefined))
    await Programs.waitForLog(app, "webhook sent")
    expect(hook.requests.map((r) => r.body)).toEqual([hook.requests[0]?.body, hook.requests[0]?.body])
    // The Go handler's default template, Slack's shape.
    expect(JSON.parse(hook.requests[0]?.body ?? "").text).toMatch(
      new RegExp(
        `^\\[NTH\\]\\[Instance Interruption\\] EventID: .+ - Kind: SPOT_ITN - Instance: ${node.instanceId} - Node: ${node.name} - Description: .+ - Start Time: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d+)? \\+0000 UTC$`
      )
    )
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toContain('nth_webhook_notifications_total{result="sent"} 1')
    expect(metrics).not.toContain('nth_webhook_notifications_total{result="failed"}')
    expect(app.logs.some((line) => line.includes("webhook try failed") && line.includes("HTTP 500"))).toBe(
      true
    )
    expect(await app.stop()).toBe(0)
  })

  it("does not slow the drain when the receiver never answers", async () => {
    // The same drain without a webhook, then with a receiver that hangs: each request times out (5 s) and is
    // tried again, far longer than the drain takes. (The notification comes after the drain here, so this
    // measures; the queue-mode test with one worker is the one a notification on the handling path would fail.)
    const plain = await spotNodeWith({})
    const without = await noticeToDrained(plain.imds, plain.node.name)
    await Programs.waitForLog(plain.app, "node drained")
    expect(await plain.app.stop()).toBe(0)

    const hook = await receiver({ answer: () => "hang" })
    const hung = await spotNodeWith({ WEBHOOK_URL: hook.url })
    const withHangingHook = await noticeToDrained(hung.imds, hung.node.name)
    await Programs.waitForLog(hung.app, "node drained")
    await Fixtures.waitFor("the notification's first try", async () =>
      hook.requests.length > 0 ? true : undefined
    )
    console.log(
      `notice to drained: ${without} ms without a webhook, ${withHangingHook} ms with a hanging one`
    )
    // The drain does not wait for the webhook: the same time, give or take the test bed's noise.
    expect(withHangingHook).toBeLessThan(without + 2000)
    // A stop gives queued notifications 4 s at most, within the pod's grace period.
    const stopping = Date.now()
    expect(await hung.app.stop()).toBe(0)
    expect(Date.now() - stopping).toBeLessThan(8_000)
  })

  it("sends through WEBHOOK_PROXY, tunnelling an https URL with CONNECT", async () => {
    const hook = await receiver({ tls: true })
    const proxy = await ForwardProxy.start({
      [`${WebhookReceiver.tlsHost}:${hook.port}`]: `127.0.0.1:${hook.port}`
    })
    bed.defer(() => proxy.close())
    const { node, imds, app } = await spotNodeWith({
      WEBHOOK_URL: `https://${WebhookReceiver.tlsHost}:${hook.port}/hook`,
      WEBHOOK_PROXY: proxy.url,
      NODE_EXTRA_CA_CERTS: hook.certificateFile ?? ""
    })
    await noticeToDrained(imds, node.name)
    await Fixtures.waitFor("the notification", async () => (hook.requests.length > 0 ? true : undefined))
    expect(proxy.requests.map((r) => `${r.method} ${r.target}`)).toEqual([
      `CONNECT ${WebhookReceiver.tlsHost}:${hook.port}`
    ])
    expect(JSON.parse(hook.requests[0]?.body ?? "").text).toContain(`Node: ${node.name}`)
    expect(await app.stop()).toBe(0)
  })

  it("refuses a template it cannot render at start-up, with the position and the reason (exit 2)", async () => {
    const app = Programs.startProgram(appPath, {
      env: {
        KUBECONFIG: bed.clients.env.KUBECONFIG,
        NODE_NAME: "any",
        WEBHOOK_URL: "http://127.0.0.1:9/hook",
        WEBHOOK_TEMPLATE: '{"text":"{{ .NodeName }} {{ .Nodes }}"}'
      },
      cleanup: bed.defer
    })
    expect(await app.exited).toBe(2)
    const output = app.logs.join("\n")
    expect(output).toContain("WEBHOOK_TEMPLATE")
    expect(output).toMatch(/1:\d+/)
    expect(output).toContain("Nodes")
  })
})
