import { defineConfig } from "tsup"

// dist/main.cjs, copied into the image as /app/main.js (beside /app/imds/ and /app/queue/, see Dockerfile).
export default defineConfig({
  entry: { main: "src/main.ts" },
  format: ["cjs"],
  target: "node22",
  clean: true,
  // The programs sit beside it in the image, not in this package.
  external: ["./imds/main.js", "./queue/main.js"]
})
