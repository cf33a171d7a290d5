/**
 * How a publishable package is built: ESM, `.d.ts`, source maps, for Node 22+. A package's `tsup.config.ts`:
 *
 *   export default libraryConfig()                         // entry src/index.ts
 *   export default libraryConfig({ entry: [...] })         // more entries
 */
import { defineConfig, type Options } from "tsup"

export const libraryConfig = (overrides: Options = {}) =>
  defineConfig({
    entry: ["src/index.ts"],
    format: ["esm"],
    target: "node22",
    dts: true,
    sourcemap: true,
    clean: true,
    ...overrides
  })
