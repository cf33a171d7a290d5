/**
 * Checks webhook settings as nth does at start-up, then renders the Go handler's default template for a Spot
 * notice (what a Slack channel would receive), without sending anything:
 *
 *   node examples/notify.ts
 */
import { Result } from "effect"
import { Webhook, WebhookData } from "../src/index.ts"

const prepared = Webhook.prepare({ url: "https://hooks.slack.com/services/T000/B000/XXXX" })
if (Result.isFailure(prepared)) throw new Error(prepared.failure.message)
const data = WebhookData.make({
  event: {
    kind: "SpotInterruptionNotice",
    id: "spot-itn-0a1b2c",
    monitor: "SPOT_ITN_MONITOR",
    instanceId: "i-0123456789abcdef0",
    startTime: new Date("2026-12-04T10:02:00Z"),
    description: "Spot ITN received. Instance will be interrupted at 2026-12-04T10:02:00Z",
    action: "terminate"
  },
  nodeName: "ip-10-0-1-23.eu-west-1.compute.internal",
  nodeLabels: { "node.kubernetes.io/instance-type": "m5.large" },
  pods: ["web-7d9f-abcde", "worker-0"],
  instance: { availabilityZone: "eu-west-1b", instanceLifeCycle: "spot" },
  processed: true
})
console.log(`POST ${Webhook.redact(prepared.success!.url)}`)
console.log(prepared.success!.template.execute(data))

// A template that would fail at the first notification is refused up front, with its position.
const refused = Webhook.prepare({ url: "https://example.com/hook", template: '{"text":"{{ .Node }}"}' })
if (Result.isFailure(refused)) console.log(refused.failure.message)
