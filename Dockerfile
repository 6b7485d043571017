# refund-vision for Docker users: the same build and layout as `pnpm image` (which needs no daemon).
#   docker build -t refund-vision:0.1.0 .
#   docker compose up            (compose.yaml: API replicas, PostgreSQL, the scheduler)
# Build stage: the workspace install compiles better-sqlite3 (g++, make, python3 are in this image),
# then `pnpm build` writes dist/app: bundles, a flat production node_modules and the model.
FROM node:20-bookworm AS build
WORKDIR /src
RUN npm install -g pnpm@10.34.9
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/shared/package.json packages/shared/
COPY packages/preprocess/package.json packages/preprocess/
COPY packages/model/package.json packages/model/
COPY packages/api/package.json packages/api/
COPY packages/client/package.json packages/client/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build

# Runtime: Node 20 on Debian bookworm, the build as /app owned by root, a non-root user.
FROM node:20-bookworm-slim
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /src/dist/app /app
RUN mkdir -p /app/data /app/logs && chown 10001:10001 /app/data /app/logs
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=5000 \
    RV_ROOT=/app \
    LOG_CONSOLE=true
USER 10001:10001
EXPOSE 5000
VOLUME ["/app/data", "/app/logs"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["node", "bin/healthcheck.mjs"]
ENTRYPOINT ["node"]
CMD ["bin/main.mjs"]
