import { nthVitestConfig } from "@nth/vitest-preset"

// Building both images (Debian's packages, Node from the npm registry) takes a minute or two on a cold machine.
export default nthVitestConfig({
  globalSetup: ["@nth/testbed/vitest-setup"],
  testTimeout: 300_000,
  hookTimeout: 600_000
})
