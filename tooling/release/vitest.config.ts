import { nthVitestConfig } from "@nth/vitest-preset"

// Packing, a cold `npm install` from the registry and the examples' runs take a few minutes.
export default nthVitestConfig({ globalSetup: ["@nth/testbed/vitest-setup"], testTimeout: 600_000 })
