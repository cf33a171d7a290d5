/**
 * vitest global setup: gives the run a test bed. A test bed already started with `pnpm testbed up` is reused
 * (so many packages' test runs share one); otherwise one is started in a temporary folder for this run and
 * stopped at its end. Tests read it with `useTestBed()`.
 *
 *   // vitest.config.ts
 *   export default nthVitestConfig({ globalSetup: ["@nth/testbed/vitest-setup"] })
 */
import type { TestProject } from "vitest/node"
import * as TestBed from "./TestBed.ts"
// The module augmentation that types `project.provide("nthTestbed", …)` lives with its reader.
import type {} from "./useTestBed.ts"

export default async function setup(project: TestProject) {
  const started = Date.now()
  const { env, release } = await TestBed.acquire({
    onProgress: (line) => console.log(`[testbed ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`)
  })
  Object.assign(process.env, env)
  project.provide("nthTestbed", env)
  return release
}
