/**
 * Reads interruption events as JSON and prints what nth would do with each, in IMDS mode and in queue mode,
 * with the Go handler's default settings. Malformed events are reported, not fatal.
 *
 *   node examples/plan.ts [event.json ...]     (default: every file in examples/events/)
 *
 * Exits 0 when every file was read, whatever its verdict.
 */
import { readdirSync, readFileSync } from "node:fs"
import { basename, join } from "node:path"
import { InterruptionEvent, NodeAction, Reason } from "../src/index.ts"

const samples = join(import.meta.dirname, "events")
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(samples)
        .filter((name) => name.endsWith(".json"))
        .sort()
        .map((name) => join(samples, name))

const describeAction = (action: NodeAction.NodeAction): string => {
  switch (action._tag) {
    case "Ignore":
      return `ignore (${action.reason})`
    case "Uncordon":
      return `uncordon: undo what nth did (${action.reason})`
    case "AwaitNodeReady":
      return "wait for the node to be Ready, then complete the launch lifecycle action"
    case "Cordon":
    case "CordonAndDrain": {
      const steps = [
        action.taint
          ? `taint ${action.taint.key}=${action.taint.value.slice(0, 24)}…:${action.taint.effect}`
          : undefined,
        "cordon",
        action._tag === "CordonAndDrain" ? "drain" : undefined,
        action.markUncordonAfterReboot ? "uncordon when the node is back" : undefined,
        action.acknowledgement === "CompleteLifecycleAction" ? "complete the lifecycle action" : undefined
      ]
      return steps.filter((step) => step !== undefined).join(" → ")
    }
  }
}

const modes = {
  "IMDS mode (defaults)": NodeAction.defaultRules("imds"),
  "IMDS mode, TAINT_NODE=true": { ...NodeAction.defaultRules("imds"), taintNode: true },
  "queue mode (defaults)": NodeAction.defaultRules("queue")
}

let invalid = 0
for (const file of files) {
  const result = InterruptionEvent.decodeJson(readFileSync(file, "utf8"))
  console.log(`\n${basename(file)}`)
  if (result._tag === "Failure") {
    invalid += 1
    console.log(`  rejected: ${result.failure.message.replaceAll("\n", "\n    ")}`)
    continue
  }
  const event = result.success
  console.log(
    `  ${event.kind} (${Reason.legacyKind[event.kind]}) for ${event.instanceId}, starts ${event.startTime.toISOString()}`
  )
  for (const [mode, settings] of Object.entries(modes)) {
    console.log(`  ${mode.padEnd(28)} ${describeAction(NodeAction.decide(event, settings))}`)
  }
}
console.log(`\n${files.length} events read, ${files.length - invalid} valid, ${invalid} rejected`)
