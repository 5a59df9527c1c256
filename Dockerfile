# mpp-gateway as a container image: multi-stage, production dependencies only, non-root.
#
#   docker compose up -d            the gateway with its Redis ledger (compose.yaml, README)
#   docker build -t mpp-gateway .   the image alone
#
# Node.js 26 is the active LTS line (LTS since 2026-10-28; 24 is in maintenance until 2028-04-30).
# No stage installs optional dependencies: the only one is the devnet's anvil binary (43 MB of
# test tooling), so `npm ci` runs with --omit=optional in both.
# The configuration is read from $MPP_GATEWAY_CONFIG (mount your gateway.yaml there); `check`,
# `channels` and `settle` use it too: `docker compose run --rm gateway check`, or
# `docker compose exec gateway mpp-gateway channels`.

FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=optional --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:26-trixie-slim AS runtime
ENV NODE_ENV=production \
    MPP_GATEWAY_CONFIG=/etc/mpp-gateway/gateway.yaml
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN chmod 0755 dist/main.js && ln -s /app/dist/main.js /usr/local/bin/mpp-gateway
COPY gateway.yaml /etc/mpp-gateway/gateway.yaml
USER node
EXPOSE 8080
# Follows the configuration: dist/healthcheck.js reads server.host, server.port and
# server.reservedPrefix from $MPP_GATEWAY_CONFIG (with its ${ENV} references) and asks readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/healthcheck.js"]
ENTRYPOINT ["node", "dist/main.js"]
