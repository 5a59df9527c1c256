/**
 * Server child processes of the bench (the upstream, one per gateway variant): started with
 * `node --import tsx <entry> <spec file>`, ready once they print their {@link ReadyLine}, asked
 * for their CPU time between windows, and all stopped at the end — SIGTERM first (a clean stop
 * writes `--cpu-prof` profiles), SIGKILL for any child still alive after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import {
  isCpuAnswer,
  isReadyLine,
  isStatsAnswer,
  type CpuQuery,
  type StatsAnswer,
  type StatsQuery,
} from './child-protocol.js'

/** A running server child. */
export type Child = {
  readonly name: string
  readonly url: string
  readonly pid: number
  /** User + system CPU time the child has used so far, in microseconds. */
  cpuMicros(): Promise<number>
  /** Memory and event-loop delay since the previous call (child-protocol.ts). */
  stats(): Promise<StatsAnswer>
}

/** The children of one bench run. */
export type ChildSet = {
  /** Spawns a child and resolves once it announced its URL. */
  start(options: StartChildOptions): Promise<Child>
  /** Stops every child (idempotent); resolves once all have exited. */
  stopAll(): Promise<void>
}

export type StartChildOptions = {
  readonly name: string
  /** Absolute path of the TypeScript entry. */
  readonly entry: string
  readonly args?: readonly string[]
  /** Extra Node flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[]
}

const readyTimeoutMs = 30_000
const stopGraceMs = 5_000

/** Creates an empty set of children. */
export function createChildSet(): ChildSet {
  const running = new Set<ChildProcess>()

  const exited = (child: ChildProcess): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once('exit', () => resolve()))

  return {
    async start(options) {
      const child = spawn(
        process.execPath,
        [...(options.nodeFlags ?? []), '--import', 'tsx', options.entry, ...(options.args ?? [])],
        { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
      )
      running.add(child)
      child.once('exit', () => running.delete(child))
      // IPC writes to a child that just exited fail with EPIPE as an 'error' event; the pending
      // question then fails on its own (see cpuOf), so the event must not crash the bench.
      child.on('error', () => {})
      const url = await readyUrl(child, options.name)
      const pid = child.pid ?? -1
      return {
        name: options.name,
        url,
        pid,
        cpuMicros: () => cpuOf(child),
        stats: () => ask(child, { type: 'stats' } satisfies StatsQuery, isStatsAnswer),
      }
    },
    async stopAll() {
      const children = [...running]
      for (const child of children) child.kill('SIGTERM')
      const timer = setTimeout(() => {
        for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
      }, stopGraceMs)
      await Promise.all(children.map(exited))
      clearTimeout(timer)
    },
  }
}

/** Waits for the child's ready line; rejects when it exits or stays silent too long. */
function readyUrl(child: ChildProcess, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not report ready within ${readyTimeoutMs} ms`))
    }, readyTimeoutMs)
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${String(code)} before it was ready`))
    }
    child.once('exit', onExit)
    lines.on('line', (line) => {
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch {
        parsed = undefined
      }
      if (isReadyLine(parsed)) {
        clearTimeout(timer)
        child.off('exit', onExit)
        // Keep draining stdout so a child that prints more can never block on a full pipe.
        lines.removeAllListeners('line')
        child.stdout!.resume()
        resolve(parsed.url)
      } else {
        console.log(`[${name}] ${line}`)
      }
    })
  })
}

function cpuOf(child: ChildProcess): Promise<number> {
  const query: CpuQuery = { type: 'cpu' }
  return ask(child, query, isCpuAnswer).then((answer) => answer.usage.user + answer.usage.system)
}

/** Sends `query` over IPC and resolves with the first message `accept` recognizes. */
function ask<T>(child: ChildProcess, query: object, accept: (m: unknown) => m is T): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (message: unknown) => {
      if (!accept(message)) return
      done()
      resolve(message)
    }
    const onExit = () => {
      done()
      reject(new Error('the child exited before it answered'))
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send(query, (error) => {
      if (error) {
        done()
        reject(error)
      }
    })
  })
}
