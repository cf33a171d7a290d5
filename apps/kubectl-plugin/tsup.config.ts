import { chmodSync, renameSync, writeFileSync } from "node:fs"
import { effectNamespaces } from "@nth/tsup-preset/app"
import { defineConfig } from "tsup"

// One file, dist/kubectl-nth_drain, the name kubectl looks for on the PATH (`kubectl nth-drain`). CommonJS, with
// a package.json beside it saying so (Node reads an extensionless file as the nearest package.json's type): the
// krew archive ships the two together.
export default defineConfig({
  entry: { "kubectl-nth_drain": "src/main.ts" },
  format: ["cjs"],
  target: "node22",
  platform: "node",
  noExternal: [/.*/],
  minify: true,
  sourcemap: false,
  clean: true,
  banner: { js: "#!/usr/bin/env node" },
  esbuildPlugins: [effectNamespaces()],
  onSuccess: async () => {
    renameSync("dist/kubectl-nth_drain.cjs", "dist/kubectl-nth_drain")
    chmodSync("dist/kubectl-nth_drain", 0o755)
    writeFileSync("dist/package.json", '{"type":"commonjs"}\n')
  }
})
