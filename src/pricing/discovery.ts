/**
 * The discovery documents buyers and registries read to find this API's routes and prices:
 * `/openapi.json` (OpenAPI 3.1 with MPP's `x-payment-info` per priced operation) and `/llms.txt`
 * (the same in plain text), both built from the configuration the gateway runs with — the same
 * routes and prices its challenges state — so they cannot drift from what a request costs.
 * Built once per configuration (a reload builds them again); the paths are configurable and
 * either document can be switched off (`discovery` in gateway.yaml).
 *
 * What the OpenAPI document says, per route and method:
 *  - a priced operation: `x-payment-info.offers` with one offer per way it can be paid (the
 *    route's intents: `tempo/session`, `tempo/charge`) (`method`, `intent`, `amount` in base units, `currency`, `unitType`, `decimals`,
 *    `description`) and a `402` response, as mppx 0.11's discovery validator requires;
 *  - a free operation: no `x-payment-info`, no `402`, and `x-payment-free: true`;
 *  - path parameters (`:id` → `{id}`; a final `*` → `{rest}`, which may span segments), and for
 *    POST, PUT and PATCH a request body of any type (it is forwarded unchanged);
 *  - a route with method `*` is listed under GET, POST, PUT, PATCH and DELETE; a later route with
 *    the same path and method is left out (the first match wins, it is never reached).
 * Discovery is advisory: the `402` challenges stay authoritative.
 */
import type { Config } from '../config/schema.js'

/** One document, ready to serve. */
export type DiscoveryDocument = {
  readonly path: string
  readonly contentType: string
  readonly body: string
}

/** The documents the configuration asks for (absent when switched off). */
export type DiscoveryDocuments = {
  readonly openapi: DiscoveryDocument | undefined
  readonly llms: DiscoveryDocument | undefined
}

type RouteConfig = Config['routes'][number]

const wildcardMethods = ['get', 'post', 'put', 'patch', 'delete'] as const
const bodyMethods = new Set(['post', 'put', 'patch'])

export function discoveryDocuments(config: Config): DiscoveryDocuments {
  const { openapi, llms } = config.discovery
  return {
    openapi:
      openapi === false
        ? undefined
        : {
            path: openapi,
            contentType: 'application/json',
            body: JSON.stringify(openApiDocument(config)),
          },
    llms:
      llms === false
        ? undefined
        : { path: llms, contentType: 'text/plain; charset=utf-8', body: llmsText(config) },
  }
}

/** The OpenAPI 3.1 document of the configured routes (see the module header). */
export function openApiDocument(config: Config): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of config.routes) {
    const { path, parameters } = openApiPath(route.path)
    const item = (paths[path] ??= {})
    const methods = route.method === '*' ? wildcardMethods : [route.method.toLowerCase()]
    for (const method of methods) {
      if (item[method] !== undefined) continue
      item[method] = operation(config, route, method, parameters)
    }
  }
  const { title, description } = config.discovery
  const llms = config.discovery.llms
  return {
    openapi: '3.1.0',
    info: {
      title: title ?? config.server.realm,
      version: '1.0.0',
      ...(description !== undefined ? { description } : {}),
    },
    ...(llms !== false ? { 'x-service-info': { docs: { llms } } } : {}),
    paths,
  }
}

function operation(
  config: Config,
  route: RouteConfig,
  method: string,
  parameters: readonly Record<string, unknown>[],
): Record<string, unknown> {
  const priced = route.price.kind === 'paid'
  return {
    summary: route.description ?? `${method.toUpperCase()} ${route.path}`,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(bodyMethods.has(method)
      ? {
          requestBody: {
            description: 'Forwarded to the upstream unchanged.',
            required: false,
            content: { '*/*': { schema: {} } },
          },
        }
      : {}),
    responses: {
      '200': { description: "The upstream's answer." },
      ...(priced
        ? {
            '402': {
              description:
                'Payment Required: pay one of the WWW-Authenticate: Payment challenges and retry.',
            },
          }
        : {}),
    },
    ...(priced
      ? {
          'x-payment-info': {
            offers: route.intents.map((intent) => ({
              method: 'tempo',
              intent,
              amount: route.price.amount.toString(),
              currency: config.currency.token,
              decimals: config.currency.decimals,
              unitType: route.unitType,
              ...(route.description !== undefined ? { description: route.description } : {}),
            })),
          },
        }
      : { 'x-payment-free': true }),
  }
}

/** An OpenAPI path template and its path parameters for a route pattern. */
function openApiPath(pattern: string): { path: string; parameters: Record<string, unknown>[] } {
  const segments = pattern.split('/').filter((s) => s !== '')
  const names = new Set(segments.filter((s) => s.startsWith(':')).map((s) => s.slice(1)))
  let rest = 'rest'
  while (names.has(rest)) rest = `${rest}_`
  const parameters: Record<string, unknown>[] = []
  const parts = segments.map((segment) => {
    if (segment === '*') {
      parameters.push({
        name: rest,
        in: 'path',
        required: true,
        description: 'The rest of the path; may contain "/".',
        schema: { type: 'string' },
      })
      return `{${rest}}`
    }
    if (!segment.startsWith(':')) return segment
    const name = segment.slice(1)
    parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } })
    return `{${name}}`
  })
  return { path: `/${parts.join('/')}`, parameters }
}

/** The plain-text summary served as llms.txt. */
export function llmsText(config: Config): string {
  const { title, description, openapi } = config.discovery
  const unit = (route: RouteConfig) =>
    route.price.kind === 'free'
      ? 'free'
      : route.metered
        ? `at most ${route.price.text} per ${route.unitType}, priced from the answer (the receipt states the amount)`
        : `${route.price.text} per ${route.unitType}`
  const passthrough = config.routes.some(
    (route) => config.upstreams[route.upstream]?.clientAuthorization === 'passthrough',
  )
  const lines = [
    `# ${title ?? config.server.realm}`,
    '',
    `> ${
      description ??
      'A pay-per-request API. Priced routes answer 402 Payment Required with a Machine ' +
        'Payments Protocol (MPP) challenge; pay it with a Tempo session and retry.'
    }`,
    '',
    '## Routes',
    '',
    ...config.routes.map((route) => {
      const path = openApiPath(route.path).path
      const auth =
        config.upstreams[route.upstream]?.clientAuthorization === 'passthrough'
          ? ' (pay in Payment-Authorization)'
          : ''
      const text = route.description !== undefined ? `: ${route.description}` : ''
      const intents =
        route.price.kind === 'paid' && route.intents.join() !== 'session'
          ? ` (${route.intents.map((intent) => `tempo/${intent}`).join(' or ')})`
          : ''
      return `- \`${route.method} ${path}\` — ${unit(route)}${intents}${auth}${text}`
    }),
    '',
    '## Paying',
    '',
    `- Method: tempo/session (a TIP-1034 payment channel on chain ${config.chain.chainId}).`,
    `- Currency: ${config.currency.token} (${config.currency.decimals} decimals); ` +
      'the prices above are in its units.',
    `- Recipient: ${config.payee.address}.`,
    `- Suggested deposit: ${config.session.suggestedDeposit.text}.`,
    ...(config.tempoCharge.enabled
      ? [
          '- Or pay per request with tempo/charge: one TIP-20 transfer of the price to the ' +
            'recipient, its memo bound to the challenge; the gateway broadcasts a signed transfer ' +
            'only once the upstream served.',
        ]
      : []),
    '- A client that lost its channel state can recover its open channel: send HEAD to a ' +
      'priced route with `Accept-Payment: tempo/charge` and answer the zero-amount challenge ' +
      'with a proof.',
    ...(passthrough
      ? [
          '- Routes marked "pay in Payment-Authorization" forward your own Authorization header ' +
            'to the upstream; send the payment credential in Payment-Authorization.',
        ]
      : []),
  ]
  if (openapi !== false) lines.push('', `[OpenAPI discovery](${openapi})`)
  return `${lines.join('\n')}\n`
}
