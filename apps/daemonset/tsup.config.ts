import { appConfig } from "@nth/tsup-preset/app"

// dist/main.js (the launcher, src/launcher.ts), dist/nth.js (the program, src/program.ts, one bundle), its V8 code
// cache dist/nth.code-cache and dist/package.json: see tooling/tsup/app.ts.
export default appConfig({ program: "src/program.ts", launcher: "src/launcher.ts", bundle: "nth" })
