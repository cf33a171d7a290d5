/**
 * Renders the Go handler's default webhook template, and a Slack message with Sprig functions, over an event's
 * data, as the AWS Node Termination Handler would:
 *
 *   node examples/render.ts
 */
import { GoTemplate, GoTime } from "../src/index.ts"

const metadata = GoTemplate.struct(
  "ec2metadata.NodeMetadata",
  { AccountId: "123456789012", InstanceID: "i-0123456789abcdef0", Region: "us-east-1" },
  { json: { AccountId: "accountId", InstanceID: "instanceId", Region: "region" } }
)
const event = GoTemplate.struct("monitor.InterruptionEvent", {
  EventID: "spot-itn-9f2c4e0b",
  Kind: "SPOT_ITN",
  NodeName: "ip-10-0-1-23.ec2.internal",
  NodeLabels: GoTemplate.typed(new Map([["team", "payments"]]), "map[string]string"),
  Pods: GoTemplate.typed(["web-7d4b9c8f6-x2x9z", "cache-0"], "[]string"),
  Description: "Spot ITN received. Instance will be interrupted at 2026-03-14T09:26:53Z \n",
  StartTime: GoTime.fromDate(new Date("2026-03-14T09:26:53Z"))
})
const data = GoTemplate.struct(
  "webhook.combinedDrainData",
  { NodeMetadata: metadata, InterruptionEvent: event, InstanceID: "i-0123456789abcdef0" },
  { embedded: ["NodeMetadata", "InterruptionEvent"] }
)

const defaultTemplate = `{"text":"[NTH][Instance Interruption] EventID: {{ .EventID }} - Kind: {{ .Kind }} - Instance: {{ .InstanceID }} - Node: {{ .NodeName }} - Description: {{ .Description }} - Start Time: {{ .StartTime }}"}`
console.log(GoTemplate.render(defaultTemplate, data, { name: "message" }))

const slack = `{{- $pods := .Pods | join ", " -}}
{"text": {{ printf "%s on %s (%s) at %s" .Kind .NodeName (.NodeLabels.team | default "no team") (.StartTime.Format "15:04 MST") | quote }},
 "pods": {{ toJson .Pods }}, "count": {{ len .Pods }}, "account": {{ .AccountId | quote }}, "list": {{ $pods | quote }}}`
console.log(GoTemplate.render(slack, data, { name: "message" }))

try {
  GoTemplate.parse("{{ .Kind | shout }}", { name: "message" })
} catch (error) {
  console.log((error as GoTemplate.TemplateError).message)
}
