/**
 * The vitest settings every package shares. A package's `vitest.config.ts` is one line:
 *
 *   export default nthVitestConfig()
 *
 * Each run also writes `.vitest-report.json` (vitest's JSON report) beside the package, which turbo caches
 * with the task and `nth-test-summary` adds up into one line for the whole workspace.
 */
import { defineConfig, type ViteUserConfig } from "vitest/config"

type TestOptions = NonNullable<ViteUserConfig["test"]>

export const nthVitestConfig = (test: TestOptions = {}): ViteUserConfig =>
  defineConfig({
    test: {
      include: ["test/**/*.test.ts"],
      reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
      testTimeout: 30_000,
      hookTimeout: 120_000,
      ...test
    }
  })
