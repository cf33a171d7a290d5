import { appConfig } from "@nth/tsup-preset/app"

// dist/main.js (the launcher, src/launcher.ts), dist/nth.js (the program, src/program.ts, one bundle), its V8 code
// cache dist/nth.code-cache and dist/package.json: see tooling/tsup/app.ts.
//
// The AWS SDK loads some Node built-ins lazily (`await import("http")` in its HTTP handler and IMDS credential
// provider). esbuild keeps a dynamic import of an external module as `import()`, which fails in the launcher's
// `vm.Script` ("A dynamic import callback was not specified"): told that the target has no dynamic import, it
// writes `Promise.resolve().then(() => require("http"))` instead.
export default appConfig({
  program: "src/program.ts",
  launcher: "src/launcher.ts",
  bundle: "nth",
  overrides: {
    esbuildOptions: (options) => {
      options.supported = { ...options.supported, "dynamic-import": false }
    }
  }
})
