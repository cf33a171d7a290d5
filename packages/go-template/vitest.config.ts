import { nthVitestConfig } from "@nth/vitest-preset"

export default nthVitestConfig()
