/**
 * The README's main command runs this demo: it must keep working, end to end, with the built program.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { expect, it } from "vitest"

// The demo finds the run's test bed itself (the one `pnpm testbed up` keeps, else its own), and cleans up.
it("the demo drains a Spot node before its notice runs out and exits 0", async () => {
  const demo = spawn(process.execPath, [join(import.meta.dirname, "..", "demo", "demo.ts")], {
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  demo.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  demo.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const code = await new Promise<number | null>((resolve) => demo.on("exit", resolve))
  expect(output).toContain("nth: node drained")
  expect(output).toContain("Drained in time")
  expect(code, output).toBe(0)
}, 120_000)
