# mpp-gateway as a sidecar image: multi-stage, production dependencies only, non-root.
# Build:  docker build -t mpp-gateway .
# Run:    docker run -p 8080:8080 -v $PWD/gateway.yaml:/etc/mpp-gateway/gateway.yaml:ro \
#           -e MPP_CHALLENGE_SECRET -e PAYEE_PRIVATE_KEY -e DUNE_API_KEY mpp-gateway

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Optional dependencies are the devnet's anvil binary: test tooling, never shipped.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY gateway.yaml /etc/mpp-gateway/gateway.yaml
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.GATEWAY_PORT||8080)+'/__gateway/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config", "/etc/mpp-gateway/gateway.yaml"]
