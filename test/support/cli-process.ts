/**
 * The `mpp-gateway` command as a child process (`node --import tsx src/main.ts …`), for tests of
 * what an operator types: its exit code, stdout and stderr.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import type { Readable } from 'node:stream'

export type CliOutput = { readonly code: number; readonly stdout: string; readonly stderr: string }

/**
 * Starts the command with `args`, the test's environment plus `env`; `entry` is another script
 * of the package (the container's `src/healthcheck.ts`).
 */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  entry = 'src/main.ts',
): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Runs the command to its end. */
export async function cliOutput(
  args: readonly string[],
  env: Record<string, string> = {},
  entry = 'src/main.ts',
): Promise<CliOutput> {
  const child = runCli(args, env, entry)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const [code] = (await once(child, 'exit')) as [number]
  return { code, stdout, stderr }
}
