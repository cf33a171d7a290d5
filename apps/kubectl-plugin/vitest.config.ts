import { nthVitestConfig } from "@nth/vitest-preset"

export default nthVitestConfig({ globalSetup: ["@nth/testbed/vitest-setup"] })
