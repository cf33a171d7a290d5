import { nthVitestConfig } from "@nth/vitest-preset"

export default nthVitestConfig({ globalSetup: ["./src/vitest-setup.ts"] })
