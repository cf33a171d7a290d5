/**
 * The README's main command runs this demo: it must keep working, end to end, with the built program.
 */
import { join } from "node:path"
import { Programs } from "@nth/testbed"
import { expect, it } from "vitest"

// The demo finds the run's test bed itself (the one `pnpm testbed up` keeps, else its own), and cleans up.
it("the demo drains a Spot node before its notice runs out and exits 0", async () => {
  const demo = Programs.startProgram(join(import.meta.dirname, "..", "demo", "demo.ts"), { env: process.env })
  const code = await demo.exited
  const output = demo.logs.join("\n")
  expect(output).toContain("nth: node drained")
  expect(output).toContain("Drained in time")
  expect(code, output).toBe(0)
}, 120_000)
