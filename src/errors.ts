/**
 * The gateway's one error type and its catalogue of stable codes.
 *
 * Every failure a client can see is a `GatewayError` with a stable `code` (documented in
 * docs/errors.md; a test keeps the two in step), an HTTP `status` and an RFC 9457 problem `type`.
 * Payment problems reuse the `https://paymentauth.org/problems/…` URIs that MPP clients switch on;
 * the gateway's own problems live under its own base. `details` must be safe to show a client:
 * never a credential, key or upstream secret. Unknown errors are rendered as `internal-error`
 * carrying only the request id.
 */

const paymentProblems = 'https://paymentauth.org/problems/'
const gatewayProblems = 'https://mpp-gateway.dev/problems/'

type Entry = { readonly status: number; readonly type: string; readonly title: string }

const payment = (status: number, slug: string, title: string): Entry => ({
  status,
  type: paymentProblems + slug,
  title,
})

const gateway = (status: number, slug: string, title: string): Entry => ({
  status,
  type: gatewayProblems + slug,
  title,
})

/** Every error code the gateway can answer with. Codes are stable API: never rename one. */
export const errorCatalogue = {
  'payment-required': payment(402, 'payment-required', 'Payment Required'),
  'malformed-credential': payment(402, 'malformed-credential', 'Malformed Credential'),
  'invalid-challenge': payment(402, 'invalid-challenge', 'Invalid Challenge'),
  'payment-expired': payment(402, 'payment-expired', 'Payment Expired'),
  'verification-failed': payment(402, 'verification-failed', 'Verification Failed'),
  'method-unsupported': payment(400, 'method-unsupported', 'Method Unsupported'),
  'invalid-signature': payment(402, 'session/invalid-signature', 'Invalid Signature'),
  'signer-mismatch': payment(402, 'session/signer-mismatch', 'Signer Mismatch'),
  'amount-exceeds-deposit': payment(
    402,
    'session/amount-exceeds-deposit',
    'Amount Exceeds Deposit',
  ),
  'delta-too-small': payment(402, 'session/delta-too-small', 'Delta Too Small'),
  'deposit-too-small': payment(402, 'verification-failed', 'Deposit Too Small'),
  'voucher-not-increasing': payment(402, 'verification-failed', 'Voucher Not Increasing'),
  'close-voucher-outdated': payment(402, 'verification-failed', 'Close Voucher Outdated'),
  'insufficient-balance': payment(402, 'session/insufficient-balance', 'Insufficient Balance'),
  'channel-not-found': payment(410, 'session/channel-not-found', 'Channel Not Found'),
  'channel-finalized': payment(410, 'session/channel-finalized', 'Channel Finalized'),
  'transaction-rejected': payment(402, 'verification-failed', 'Transaction Rejected'),
  'payment-already-used': payment(402, 'verification-failed', 'Payment Already Used'),
  'payment-failed': payment(402, 'verification-failed', 'Payment Failed'),
  'payer-blocked': gateway(403, 'payer-blocked', 'Payer Blocked'),
  'admin-unauthorized': gateway(401, 'admin-unauthorized', 'Unauthorized'),
  'admin-bad-request': gateway(400, 'admin-bad-request', 'Bad Admin Request'),
  'admin-not-found': gateway(404, 'admin-not-found', 'Not Found'),
  'multiple-credentials': gateway(400, 'multiple-credentials', 'Multiple Credentials'),
  'bad-request-target': gateway(400, 'bad-request-target', 'Bad Request Target'),
  'route-not-found': gateway(404, 'route-not-found', 'Route Not Found'),
  'method-not-allowed': gateway(405, 'method-not-allowed', 'Method Not Allowed'),
  'payment-method-unacceptable': gateway(
    406,
    'payment-method-unacceptable',
    'Payment Method Unacceptable',
  ),
  'rate-limited': gateway(429, 'rate-limited', 'Too Many Requests'),
  'headers-too-large': gateway(431, 'headers-too-large', 'Request Header Fields Too Large'),
  'body-too-large': gateway(413, 'body-too-large', 'Content Too Large'),
  'request-timeout': gateway(408, 'request-timeout', 'Request Timeout'),
  'idempotency-key-invalid': gateway(400, 'idempotency-key-invalid', 'Invalid Idempotency Key'),
  'idempotency-key-reused': gateway(422, 'idempotency-key-reused', 'Idempotency Key Reused'),
  'idempotency-in-flight': gateway(409, 'idempotency-in-flight', 'Request In Flight'),
  'idempotency-answer-unavailable': gateway(
    409,
    'idempotency-answer-unavailable',
    'Answer Not Kept',
  ),
  'upstream-timeout': gateway(504, 'upstream-timeout', 'Upstream Timeout'),
  'upstream-unavailable': gateway(502, 'upstream-unavailable', 'Upstream Unavailable'),
  'upstream-busy': gateway(503, 'upstream-busy', 'Upstream Busy'),
  'ledger-unavailable': gateway(503, 'ledger-unavailable', 'Ledger Unavailable'),
  'chain-unavailable': gateway(503, 'chain-unavailable', 'Chain Unavailable'),
  'channel-busy': gateway(503, 'channel-busy', 'Channel Busy'),
  'reservation-expired': gateway(503, 'reservation-expired', 'Reservation Expired'),
  'not-ready': gateway(503, 'not-ready', 'Not Ready'),
  'internal-error': gateway(500, 'internal-error', 'Internal Server Error'),
} as const satisfies Record<string, Entry>

export type ErrorCode = keyof typeof errorCatalogue

export type GatewayErrorOptions = {
  /** Safe, client-visible facts (amounts, ids); never secrets. */
  details?: Record<string, string | number | boolean>
  cause?: unknown
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  retryAfter?: number
}

/** A failure with a stable code, rendered to clients as `application/problem+json`. */
export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly type: string
  readonly title: string
  readonly details: Readonly<Record<string, string | number | boolean>>
  readonly retryAfter: number | undefined

  constructor(code: ErrorCode, detail: string, options: GatewayErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause })
    const entry = errorCatalogue[code]
    this.name = 'GatewayError'
    this.code = code
    this.status = entry.status
    this.type = entry.type
    this.title = entry.title
    this.details = options.details ?? {}
    this.retryAfter = options.retryAfter
  }
}

/** The RFC 9457 body for an error; `challengeId` ties a payment problem to the fresh challenge. */
export function problemBody(
  error: GatewayError,
  extra: { challengeId?: string; requestId?: string } = {},
): Record<string, unknown> {
  return {
    type: error.type,
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
    ...(extra.challengeId ? { challengeId: extra.challengeId } : {}),
    ...(extra.requestId ? { requestId: extra.requestId } : {}),
  }
}
