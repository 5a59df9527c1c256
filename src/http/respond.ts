/** A gate answer as a web `Response` (the gate's answers are plain data; see gate/answer.ts). */
import type { Answer } from '../gate/answer.js'

export function respond(answer: Answer): Response {
  return new Response(answer.body ?? null, { status: answer.status, headers: answer.headers })
}
