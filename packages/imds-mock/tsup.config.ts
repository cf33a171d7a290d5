import { libraryConfig } from "@nth/tsup-preset"

export default libraryConfig({ entry: ["src/index.ts", "src/cli.ts"] })
