/**
 * `./dev demo queue` runs this demo: it must keep working, end to end, with the built program.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { expect, it } from "vitest"

// The demo finds the run's test bed itself (the one `pnpm testbed up` keeps, else its own), and cleans up.
it("the queue demo drains a scaled-in node and a Spot node, completes the lifecycle action and exits 0", async () => {
  const demo = spawn(process.execPath, [join(import.meta.dirname, "..", "demo", "demo.ts")], {
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
  }
  demo.stdout.on("data", collect)
  demo.stderr.on("data", collect)
  const code = await new Promise<number | null>((resolve) => demo.on("exit", resolve))
  for (const step of [
    "message received",
    "node found",
    "tainted aws-node-termination-handler/asg-lifecycle-termination:NoSchedule",
    "tainted aws-node-termination-handler/spot-itn:NoSchedule",
    "cordoned",
    "evicted",
    "pods evicted, the DaemonSet's pod stays",
    "lifecycle action completed (CONTINUE)",
    "lifecycle action recorded as completed (CONTINUE) by the emulator",
    "message deleted"
  ])
    expect(output, output).toContain(step)
  expect(output).not.toContain("FAIL")
  expect(output).toContain("PASS: both nodes cordoned, tainted and drained")
  expect(code, output).toBe(0)
}, 60_000)
