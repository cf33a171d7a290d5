/**
 * @nth/go-template: Go's text/template and the Sprig functions, in TypeScript, rendering the templates Go
 * programs' users already have byte for byte as Go does.
 *
 * @since 0.4.0
 */

/**
 * Parse and execute Go templates (with Sprig's text functions), and the values they read.
 *
 * @since 0.4.0
 */
export * as GoTemplate from "./GoTemplate.ts"

/**
 * Go's `time.Time` for template data: printing, `Format` layouts, and the methods templates call.
 *
 * @since 0.4.0
 */
export * as GoTime from "./GoTime.ts"
