import { nthVitestConfig } from "@nth/vitest-preset"

// One file at a time: the tests that install the chart use its release name and cluster-wide object names.
export default nthVitestConfig({
  globalSetup: ["@nth/testbed/vitest-setup"],
  testTimeout: 60_000,
  fileParallelism: false
})
