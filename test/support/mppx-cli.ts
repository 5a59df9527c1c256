/**
 * Running the pinned `mppx` command-line client (node_modules/.bin/mppx) as its own process, the
 * way a user runs `npx mppx`, with HOME and the XDG directories in a temporary directory (the real
 * home is never read or written) and no update check (nothing beyond loopback is contacted).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const mppxBin = fileURLToPath(new URL('../../node_modules/.bin/mppx', import.meta.url))

export type MppxRun = { readonly code: number; readonly stdout: string; readonly stderr: string }

/** Runs `mppx <args>` to its end (killed after `timeoutMs`) in a throwaway home directory. */
export async function runMppx(
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<MppxRun> {
  const home = mkdtempSync(join(tmpdir(), 'mppx-home-'))
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_STATE_HOME: join(home, 'state'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_DATA_HOME: join(home, 'data'),
    NO_UPDATE_NOTIFIER: '1',
    NO_COLOR: '1',
    ...options.env,
  }
  try {
    return await new Promise((resolve) => {
      execFile(
        process.execPath,
        [mppxBin, ...args],
        { env, timeout: options.timeoutMs ?? 25_000, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
          resolve({ code, stdout, stderr })
        },
      )
    })
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}
