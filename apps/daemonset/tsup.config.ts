import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { defineConfig, type Options } from "tsup"

/**
 * `import { Effect, Schema, type Scope } from "effect"` in the workspace's sources is bundled as
 * `import * as Effect from "effect/Effect"; import * as Schema from "effect/Schema"`.
 *
 * `effect`'s index re-exports each module as a namespace (`export * as Schema from "./Schema.js"`) and esbuild
 * does not tree-shake through such re-exports (evanw/esbuild#1420): each module reached that way was kept whole
 * (all of Schema, with its crypto, JSON Schema, network-address and HTTP-date schemas…). Imported from its own
 * path, a module keeps only what is used: the bundle halves (≈ 690 → 340 kB), and so does the memory its code
 * takes. Names that are not namespaces (`pipe`, …) stay imported from `effect`; type-only names are dropped.
 */
const effectNamespaces = (): NonNullable<Options["esbuildPlugins"]>[number] => ({
  name: "effect-namespaces",
  setup(build) {
    const index = readFileSync(createRequire(import.meta.url).resolve("effect"), "utf8")
    const namespaces = new Set(
      [...index.matchAll(/^export \* as (\w+) from "\.\/\w+\.js";?$/gm)].map((m) => m[1])
    )
    if (namespaces.size < 50)
      throw new Error(`effect's index lists ${namespaces.size} namespaces: has it changed?`)
    const rewrite = (statement: string, list: string) => {
      const imports: Array<string> = []
      const rest: Array<string> = []
      for (const item of list.split(",").map((part) => part.trim())) {
        if (item === "" || item.startsWith("type ")) continue
        const [name = item, alias = name] = item.split(/\s+as\s+/)
        if (namespaces.has(name)) imports.push(`import * as ${alias} from "effect/${name}"`)
        else rest.push(item)
      }
      if (rest.length > 0) imports.push(`import { ${rest.join(", ")} } from "effect"`)
      // As many lines as the statement replaced, so that the lines below keep their numbers (source map).
      return imports.join("; ") + "\n".repeat(statement.split("\n").length - 1)
    }
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes("/node_modules/")) return undefined
      const source = readFileSync(args.path, "utf8")
      if (!source.includes('"effect"')) return undefined
      return { contents: source.replace(/\bimport\s*\{([^}]*)\}\s*from\s*"effect"/g, rewrite), loader: "ts" }
    })
  }
})

// dist/main.js: the launcher (src/launcher.ts: the Node flags, the code cache); dist/nth.js: the whole program
// (src/program.ts) in one tree-shaken, minified bundle, nothing to install in the image. CommonJS, not ES
// modules: Node's ES-module view of a built-in (`import * as fs from "node:fs"`) reads every lazy export of it,
// which loads undici, http2, readline, worker_threads… (~6 MB) for nothing. dist/nth.js.map is for reading stack
// traces offline: nothing loads it (--enable-source-maps would parse it, for tens of MB).
export default defineConfig((cli) => {
  const outDir = cli.outDir ?? "dist"
  return {
    entry: { main: "src/launcher.ts", nth: "src/program.ts" },
    format: ["cjs"],
    outExtension: () => ({ js: ".js" }),
    outDir,
    platform: "node",
    target: "node24",
    bundle: true,
    noExternal: [/.*/],
    minify: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    esbuildPlugins: [effectNamespaces()],
    onSuccess: async () => {
      // The package is "type": "module" and these files are CommonJS (the image has no package.json: CommonJS).
      writeFileSync(join(outDir, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`)
      // V8's code cache of the bundle, written by the launcher itself, under the flags it runs with.
      const written = spawnSync(process.execPath, [join(outDir, "main.js")], {
        env: { ...process.env, NTH_WRITE_CODE_CACHE: "1" },
        stdio: "inherit"
      })
      if (written.status !== 0) throw new Error(`writing ${outDir}/nth.code-cache failed (${written.status})`)
    }
  }
})
