import { defineConfig } from "tsup"

// One bundled, tree-shaken, minified file: fast to start, nothing to install in the image.
export default defineConfig({
  entry: { main: "src/main.ts" },
  format: ["esm"],
  platform: "node",
  target: "node24",
  bundle: true,
  noExternal: [/.*/],
  minify: true,
  sourcemap: true,
  clean: true,
  splitting: false,
  // Bundled CommonJS dependencies call require(): give the ES module one.
  banner: {
    js: "import { createRequire as __nthCreateRequire } from 'node:module'; const require = __nthCreateRequire(import.meta.url);"
  }
})
