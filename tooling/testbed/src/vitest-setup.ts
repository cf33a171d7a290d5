/**
 * vitest global setup: gives the run a test bed. A test bed already started with `pnpm testbed up` is reused
 * (so many packages' test runs share one); otherwise one is started in a temporary folder for this run and
 * stopped at its end. Tests read it with `useTestBed()`.
 *
 *   // vitest.config.ts
 *   export default nthVitestConfig({ globalSetup: ["@nth/testbed/vitest-setup"] })
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestProject } from "vitest/node"
import { defaultStateDir } from "./paths.ts"
import * as TestBed from "./TestBed.ts"
// The module augmentation that types `project.provide("nthTestbed", …)` lives with its reader.
import type {} from "./useTestBed.ts"

const running = (): TestBed.Environment | undefined => {
  const state = TestBed.readState(process.env.NTH_TESTBED_DIR ?? defaultStateDir)
  if (!state || !TestBed.isAlive(state.supervisorPid)) return undefined
  return state.components.every((component) => TestBed.isAlive(component.pid)) ? state.env : undefined
}

export default async function setup(project: TestProject) {
  let env = running()
  let stop: (() => Promise<void>) | undefined
  if (env === undefined) {
    const started = Date.now()
    const dir = mkdtempSync(join(tmpdir(), "nth-testbed-"))
    const bed = await TestBed.start({
      dir,
      onProgress: (line) => console.log(`[testbed ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`)
    })
    env = bed.env
    stop = async () => {
      await bed.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  Object.assign(process.env, env)
  project.provide("nthTestbed", env)
  return async () => {
    await stop?.()
  }
}
