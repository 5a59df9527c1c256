/**
 * Defaults of the `server` fields that a process must read without loading the whole schema (the
 * container's health check). shape.ts uses the same values, so the two cannot drift apart.
 */
export const serverDefaults = {
  host: '0.0.0.0',
  port: 8080,
  reservedPrefix: '/__gateway',
} as const
