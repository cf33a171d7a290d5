import { libraryConfig } from "@nth/tsup-preset"

export default libraryConfig()
