/**
 * `pnpm images`: builds nth's image for linux/amd64 and linux/arm64 into dist/images (or the folder given), and
 * prints each one's compressed size.
 */
import { join } from "node:path"
import { build, root } from "./build.ts"

const out = process.argv[2] ?? join(root, "dist", "images")
const started = Date.now()
const images = build(out)
console.log(
  `\nimages ${images.version} in ${((Date.now() - started) / 1000).toFixed(1)} s: OCI layout ${images.layout}`
)
for (const image of images.built)
  console.log(
    `  linux/${image.arch}: ${(image.compressedBytes / 1024 / 1024).toFixed(1)} MiB compressed; docker load -i ${image.archive}`
  )
